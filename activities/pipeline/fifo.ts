import { closeSync, constants, createWriteStream, mkdtempSync, openSync, rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { LifeboatError } from '../../lib/errors';

/** The copy threads' one reused buffer: a FIFO hands over at most 64 KiB a read; the rest is headroom. */
export const COPY_BUFFER_BYTES = 1024 * 1024;

/**
 * A descriptor as startPipeline takes a last stdout: a stream with an fd is handed to the child as
 * that descriptor (execa takes no bare numbers beyond 2), never written to here nor closed by it.
 */
export function descriptorStream(fd: number): Writable {
  return createWriteStream('', { fd, autoClose: false });
}

export interface Fifos {
  /** The FIFOs' paths, in the order their names were given. */
  paths: string[];
  /** Removes them and their directory; again harmless. */
  remove(): void;
}

/**
 * Named pipes in a private directory of their own (mode 600): how a tool's bytes reach a worker
 * thread, which reads them with blocking system calls, without passing through the main thread.
 * `what` names the step in errors: "pg_basebackup of app-db".
 */
export async function makeFifos(names: string[], what: string): Promise<Fifos> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-fifo-'));
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    rmSync(dir, { recursive: true, force: true });
  };
  const paths = names.map((name) => join(dir, name));
  try {
    await execa('mkfifo', ['-m', '600', ...paths]);
  } catch (error) {
    remove();
    const failure = error as { code?: string; shortMessage?: string; message?: string };
    if (failure.code === 'ENOENT' && failure.shortMessage) throw new LifeboatError('MissingTool', `mkfifo not found on this worker's PATH (needed for ${what})`, 'apt-get install coreutils');
    throw new LifeboatError('ToolFailed', `${what}: cannot make its FIFOs in ${dir}: ${failure.shortMessage ?? failure.message ?? String(error)}`, undefined, { cause: error });
  }
  return { paths, remove };
}

/**
 * Both ends of a FIFO, opened without waiting for a peer: the writing end read-write (an open that
 * needs no reader yet), then the reading end (which a writer already there lets return at once).
 * The writing end is for a child's stdout; once the child holds its copy, close this one, or the
 * reader never sees the end.
 */
export function openFifoEnds(path: string): { write: number; read: number } {
  const write = openSync(path, constants.O_RDWR);
  try {
    return { write, read: openSync(path, constants.O_RDONLY) };
  } catch (error) {
    closeSync(write);
    throw error;
  }
}

/**
 * The loop of the copy threads (scan-copy.ts, hash-copy.ts): blocking reads of `input` into one
 * reused buffer, each chunk handed to `each` (a scan, a hash) and then written whole to `output`,
 * until every writer closed the FIFO; returns the bytes copied. Written into their scripts as text
 * (`.toString()`), so it takes `fs` rather than naming imports a bundler may rename.
 */
export function copyThrough(fs: Pick<typeof import('node:fs'), 'readSync' | 'writeSync'>, input: number, output: number, buffer: Buffer, each: (bytes: number) => void): number {
  let size = 0;
  for (;;) {
    let bytes: number;
    try {
      bytes = fs.readSync(input, buffer, 0, buffer.length, null);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EINTR' || code === 'EAGAIN') continue;
      throw error;
    }
    if (bytes === 0) return size;
    size += bytes;
    each(bytes);
    for (let at = 0; at < bytes;) at += fs.writeSync(output, buffer, at, bytes - at);
  }
}
