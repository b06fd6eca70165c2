import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { advance } from './progress';

/**
 * Removes a tree (a restored cluster, a scratch restore) entry by entry. rmSync would block the
 * worker's event loop, and with it every activity's heartbeat, for as long as a large tree takes;
 * this yields between entries and reports each one removed as progress. A missing path is fine.
 * keepRoot empties a directory that existed before the restore instead of removing it.
 */
export async function removeTree(path: string, options: { keepRoot?: boolean } = {}): Promise<number> {
  let removed = 0;
  const remove = async (at: string, isDirectory: boolean, keep: boolean): Promise<void> => {
    if (isDirectory) {
      // One directory's names at a time: removing entries while a directory stream is open may skip some.
      const entries = await readdir(at, { withFileTypes: true }).catch(ignoreMissing([]));
      for (const entry of entries) await remove(join(at, entry.name), entry.isDirectory(), false);
      if (!keep) await rmdir(at).catch(ignoreMissing(undefined));
    } else {
      await unlink(at).catch(ignoreMissing(undefined));
    }
    advance({ removed: ++removed });
  };
  const isDirectory = await lstat(path).then((stat) => stat.isDirectory(), ignoreMissing(undefined));
  if (isDirectory === undefined) return 0;
  await remove(path, isDirectory, options.keepRoot === true);
  return removed;
}

function ignoreMissing<T>(value: T): (error: NodeJS.ErrnoException) => T {
  return (error) => {
    if (error.code === 'ENOENT') return value;
    throw error;
  };
}
