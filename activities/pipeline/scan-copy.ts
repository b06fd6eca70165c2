import { closeSync, constants, openSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { LifeboatError } from '../../lib/errors';
import { adoptFindings, tarScanner, type TarFindings, type TarScanner } from '../sources/postgres/tar-capture';
import { copyThrough, COPY_BUFFER_BYTES, descriptorStream, makeFifos, openFifoEnds } from './fifo';
import { startPipeline, type RunningPipeline, type Step } from './processes';


export interface ScannedPipeline {
  /** stdout of the last encode step (empty when it writes to the descriptor it was given). */
  output: Readable;
  /** Every step succeeded and the scan read every byte. */
  finished: Promise<string[]>;
  /** Bytes the producer wrote, once the scan has read them all. */
  rawSize(): number | undefined;
  kill(): void;
}

type CopyResult = { size: number; findings: TarFindings } | { error: { message: string; code?: string }; opened: boolean };

/**
 * The worker thread's code: read the producer's FIFO into one buffer, scan it, write it to the
 * encoder's FIFO, with blocking system calls and nothing else. Each of these in the worker's main
 * thread (a stream, or fs.read/fs.write through the libuv pool) costs a round trip per 64 KiB and,
 * for a stream, a Buffer outside the heap that drives full collections of the worker's heap, tens
 * of MB of Temporal and AWS SDK (docs/benchmark.md, Physical). Text, run with `eval`, so it runs the
 * same from the sources (tsx, vitest) and from the bundle; `__name` is the helper esbuild's keepNames
 * may have written into the scanner's text.
 */
const COPY_SCRIPT = `
const fs = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
var __name = (target) => target;
const tarScanner = (${tarScanner.toString()});
const copyThrough = (${copyThrough.toString()});
const { input, output, wanted, keepBytes, bufferBytes } = workerData;
const scanner = tarScanner(wanted, keepBytes);
const buffer = Buffer.allocUnsafe(bufferBytes);
let out;
try {
  out = fs.openSync(output, 'w');
  parentPort.postMessage({ opened: true });
  const size = copyThrough(fs, input, out, buffer, (bytes) => scanner.push(buffer, 0, bytes));
  parentPort.postMessage({ size, findings: scanner.findings });
} catch (error) {
  parentPort.postMessage({ error: { message: String(error && error.message || error), code: error && error.code }, opened: out !== undefined });
} finally {
  if (out !== undefined) fs.closeSync(out);
}
`;

/**
 * producer → FIFO → a worker thread that scans the tar and copies it → FIFO → encode steps, by file
 * descriptors: the raw bytes never reach the main thread. The producer writes to its FIFO through a
 * descriptor opened read-write here (an open that needs no reader yet), so it starts at once; the
 * first encode step reads the other FIFO by name, as a file argument (zstd does), and its end is the
 * copier's close.
 */
export async function scannedPipeline(producer: Step, encode: Step[], scanner: TarScanner, output: 'pipe' | Writable = 'pipe'): Promise<ScannedPipeline> {
  const fifos = await makeFifos(['raw', 'encode'], producer.what);
  const [raw, toEncoder] = fifos.paths as [string, string];
  const cleanup = fifos.remove;
  let rawRead: number;
  let source: RunningPipeline;
  try {
    // Opened before the producer starts, so a producer that dies at once still leaves a reader that sees the end.
    const ends = openFifoEnds(raw);
    rawRead = ends.read;
    source = startPipeline([producer], 'ignore', descriptorStream(ends.write));
    // The producer holds its own copy; with ours open the reader would never see the end.
    closeSync(ends.write);
  } catch (error) {
    cleanup();
    if (error instanceof LifeboatError) throw error;
    throw new LifeboatError('ToolFailed', `${producer.what}: cannot open its FIFO ${raw}: ${(error as Error).message}`, undefined, { cause: error });
  }
  const [first, ...rest] = encode;
  const encoder = startPipeline([{ ...first!, args: [...first!.args, '--', toEncoder] }, ...rest], 'ignore', output);
  const kill = () => {
    source.kill();
    encoder.kill();
  };

  let opened = false;
  let exited = false;
  let size: number | undefined;
  const copying = new Promise<void>((resolve, reject) => {
    const worker = new Worker(COPY_SCRIPT, {
      eval: true,
      workerData: { input: rawRead, output: toEncoder, wanted: scanner.options.wanted, keepBytes: scanner.options.keepBytes, bufferBytes: COPY_BUFFER_BYTES },
    });
    let result: CopyResult | undefined;
    worker.on('message', (message: CopyResult | { opened: true }) => {
      if ('opened' in message && !('error' in message)) opened = true;
      else result = message as CopyResult;
    });
    worker.once('error', (error) => { result ??= { error: { message: error.message }, opened }; });
    worker.once('exit', () => {
      exited = true;
      closeSync(rawRead);
      if (result && 'size' in result) {
        adoptFindings(scanner.findings, result.findings);
        size = result.size;
        return resolve();
      }
      const failure = result && 'error' in result ? result.error : { message: 'the worker thread exited without a word' };
      // The encoder went away: it explains itself (encoder.finished); the producer, left without a reader, is stopped.
      if (failure.code === 'EPIPE') {
        source.kill();
        return resolve();
      }
      kill();
      reject(new LifeboatError('ToolFailed', `reading the tar of ${producer.what} as it passed: ${failure.message}`));
    });
  });
  // The encoder never opened its FIFO (it failed to start, or was stopped first): open the other end once so the copier's open returns.
  void encoder.finished.catch(() => undefined).finally(() => (opened ? undefined : unblock(toEncoder, () => opened, () => exited)));
  const finished = Promise.all([source.finished, encoder.finished, copying]).then(([warnings, encodeWarnings]) => {
    if (size === undefined) throw new LifeboatError('ToolFailed', `reading the tar of ${producer.what} as it passed: the encoder stopped reading`);
    return [...warnings, ...encodeWarnings];
  });
  finished.catch(kill);
  void finished.catch(() => undefined).finally(cleanup);
  return { output: encoder.output, finished, rawSize: () => size, kill };
}

/** Opens the FIFO's reading end now and then until the copier's open for writing has returned. */
async function unblock(fifo: string, opened: () => boolean, exited: () => boolean): Promise<void> {
  // A reader that is there before the copier reaches its open does not count: keep being there until it has.
  while (!opened() && !exited()) {
    let fd: number | undefined;
    try {
      fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      return;
    }
    await sleep(20);
    closeSync(fd);
  }
}
