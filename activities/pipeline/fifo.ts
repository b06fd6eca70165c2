import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { LifeboatError } from '../../lib/errors';

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
