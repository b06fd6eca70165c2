import { close, closeSync, constants, mkdtempSync, open, openSync, read, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { LifeboatError } from '../../lib/errors';
import type { RawTap } from '../sources/source';
import { startPipeline, type Step } from './processes';

/**
 * One buffer for the whole stream. A FIFO holds 64 KiB, so a read seldom fills it; what it saves
 * is the allocation: a stream's fresh Buffer per 64 KiB chunk is memory outside V8's heap that
 * makes it run full collections of the worker's whole heap, several a second (docs/benchmark.md).
 */
const READ_BYTES = 1024 * 1024;

export interface TappedPipeline {
  /** stdout of the last step. */
  output: Readable;
  /** Every step succeeded and the tap read every byte. */
  finished: Promise<string[]>;
  /** Bytes the producer wrote, once the tap has read them all. */
  rawSize(): number | undefined;
  kill(): void;
}

/**
 * producer → tee FIFO → encode, one chain of file descriptors like startPipeline's, with Node reading
 * the copy tee writes to the FIFO into the tap. The raw bytes never become stream chunks in the
 * worker: they are read with fs.read into one reused buffer, and the tool chain does the rest.
 * tee blocks while the tap falls behind, so the tap sees every byte, and a tap that fails stops the chain.
 */
export async function tappedPipeline(producer: Step, encode: Step[], tap: RawTap): Promise<TappedPipeline> {
  const work = mkdtempSync(join(tmpdir(), 'lifeboat-tee-'));
  const fifo = join(work, 'raw');
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  try {
    await execa('mkfifo', ['-m', '600', fifo]);
  } catch (error) {
    cleanup();
    const failure = error as { code?: string; shortMessage?: string };
    if (failure.code === 'ENOENT') throw new LifeboatError('MissingTool', `mkfifo not found on this worker's PATH (needed for ${producer.what})`, 'apt-get install coreutils');
    throw new LifeboatError('ToolFailed', `${producer.what}: cannot make a FIFO in ${work}: ${failure.shortMessage ?? String(error)}`, undefined, { cause: error });
  }
  const tee: Step = { tool: 'tee', args: ['--', fifo], what: `tee of ${producer.what}` };
  const chain = startPipeline([producer, tee, ...encode]);
  let opened = false;
  let size: number | undefined;
  const reading = readInto(fifo, tap, producer.what, () => {
    opened = true;
    // Both ends are open now (a FIFO's open waits for the other end): the name has done its work.
    cleanup();
  });
  void chain.finished.catch(() => undefined).finally(() => (opened ? undefined : unblock(fifo, () => opened)));
  // A tap that stops reading leaves tee blocked on the FIFO: stop the chain rather than wait.
  reading.then((bytes) => { size = bytes; }, () => chain.kill());
  // Whichever fails first names the failure: the tap's own error, not the SIGTERM it sent the chain.
  const finished = Promise.all([chain.finished, reading]).then(([warnings]) => warnings);
  void finished.catch(() => undefined).finally(cleanup);
  return { output: chain.output, finished, rawSize: () => size, kill: chain.kill };
}

/** Reads the FIFO to its end into `tap`, resolving with the byte count. */
function readInto(fifo: string, tap: RawTap, what: string, onOpen: () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    let total = 0;
    let fd = -1;
    const fail = (error: unknown) => {
      const done = () => reject(error instanceof LifeboatError ? error
        : new LifeboatError('ToolFailed', `reading the copy of ${what} as it passed: ${(error as Error).message}`, undefined, { cause: error }));
      if (fd >= 0) close(fd, done);
      else done();
    };
    const next = () => read(fd, buffer, 0, READ_BYTES, null, (error, bytes) => {
      if (error) return fail(error);
      if (bytes === 0) return close(fd, () => resolve(total));
      total += bytes;
      try {
        tap.push(buffer, 0, bytes);
      } catch (tapError) {
        return fail(tapError);
      }
      next();
    });
    open(fifo, constants.O_RDONLY, (error, opened) => {
      if (error) return fail(error);
      fd = opened;
      onOpen();
      next();
    });
  });
}

/** tee never opened the FIFO (it failed to start, or was stopped first): open its writing end once so the reader sees the end. */
async function unblock(fifo: string, opened: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 100 && !opened(); attempt += 1) {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      return;
    } catch {
      // ENXIO: the reader has not reached open() yet.
      await sleep(20);
    }
  }
}
