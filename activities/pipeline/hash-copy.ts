import { closeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { Digest } from './digest';
import { copyThrough, COPY_BUFFER_BYTES, descriptorStream, makeFifos, openFifoEnds } from './fifo';

/** How often the copy reports its count: a message per 8 MiB, as the streamed writes heartbeat. */
const REPORT_EVERY = 8 * 1024 * 1024;

export interface HashCopy {
  /** The FIFO's writing end, as startPipeline takes a stdout: give it to the tool that writes the bytes. */
  readonly input: Writable;
  /** Closes this process's copy of the writing end. Call it once the tool holds its own (it is started, or failed to start): until then the copy never sees the end. Again harmless. */
  release(): void;
  /**
   * Size and SHA-256 of everything copied, once every writer has closed the FIFO and the file is
   * fsynced. Rejects with the failed read or write (its `code`, e.g. ENOSPC, kept).
   */
  readonly done: Promise<Digest>;
}

type CopyMessage = { bytes: number } | { size: number; sha256: string } | { error: { message: string; code?: string } };

/**
 * The worker thread's code, as scan-copy.ts's: blocking reads of the FIFO into one reused buffer,
 * each hashed and written to the file (copyThrough), with nothing else; the file fsynced at the end.
 * Text run with `eval`, so it runs the same from the sources (tsx, vitest) and from the bundle;
 * `__name` is the helper esbuild's keepNames may have written into copyThrough's text.
 */
const COPY_SCRIPT = `
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const { parentPort, workerData } = require('node:worker_threads');
var __name = (target) => target;
const copyThrough = (${copyThrough.toString()});
const { input, output, bufferBytes, reportEvery } = workerData;
const hash = createHash('sha256');
const buffer = Buffer.allocUnsafe(bufferBytes);
let copied = 0;
let reported = 0;
try {
  const size = copyThrough(fs, input, output, buffer, (bytes) => {
    hash.update(buffer.subarray(0, bytes));
    copied += bytes;
    if (copied - reported >= reportEvery) {
      reported = copied;
      parentPort.postMessage({ bytes: copied });
    }
  });
  fs.fsyncSync(output);
  parentPort.postMessage({ size, sha256: hash.digest('hex') });
} catch (error) {
  parentPort.postMessage({ error: { message: String(error && error.message || error), code: error && error.code } });
}
`;

/**
 * A tool's output → FIFO → a worker thread that hashes it and writes it to `file` (a descriptor the
 * caller opened and closes once `done` settles): the bytes never reach the worker's main thread or
 * its heap, where each 64 KiB chunk of a stream drives full collections of the Temporal and AWS
 * SDKs' tens of MB (docs/benchmark.md). `what` names the copy in errors.
 */
export async function hashCopy(file: number, what: string, onBytes?: (bytes: number) => void): Promise<HashCopy> {
  const fifos = await makeFifos(['output'], what);
  let ends: { write: number; read: number };
  try {
    ends = openFifoEnds(fifos.paths[0]!);
  } finally {
    // Both ends are open (or failed to): the name has served its purpose.
    fifos.remove();
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    closeSync(ends.write);
  };
  const done = new Promise<Digest>((resolve, reject) => {
    const worker = new Worker(COPY_SCRIPT, { eval: true, workerData: { input: ends.read, output: file, bufferBytes: COPY_BUFFER_BYTES, reportEvery: REPORT_EVERY } });
    let result: CopyMessage | undefined;
    worker.on('message', (message: CopyMessage) => {
      if ('bytes' in message) onBytes?.(message.bytes);
      else result = message;
    });
    worker.once('error', (error) => { result ??= { error: { message: error.message } }; });
    worker.once('exit', () => {
      // Closed only now: a writer still there gets EPIPE once the copy has stopped, never before.
      release();
      closeSync(ends.read);
      if (result && 'sha256' in result) return resolve({ size: result.size, sha256: result.sha256 });
      const failure = result && 'error' in result ? result.error : { message: 'the worker thread exited without a word' };
      reject(Object.assign(new Error(`${what}: ${failure.message}`), { code: failure.code }));
    });
  });
  return { input: descriptorStream(ends.write), release, done };
}
