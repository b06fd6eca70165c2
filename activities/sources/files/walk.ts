import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { advance } from '../../progress';

export interface TreeCounts {
  files: number;
  directories: number;
  symlinks: number;
  /** Bytes in regular files. */
  bytes: number;
}

export interface Selection {
  /** Paths (relative) that are left out, whole subtrees included. */
  isExcluded(relative: string): boolean;
  /** Non-directories that are kept; a directory is kept when anything below it is. */
  isIncluded(relative: string): boolean;
}

const everything: Selection = { isExcluded: () => false, isIncluded: () => true };

/**
 * Counts a tree without following symlinks, and lists the paths the selection leaves out (the
 * top-most of each left-out subtree), so that tar can be told exactly the same thing.
 */
export async function walkTree(root: string, selection: Selection = everything): Promise<TreeCounts & { excluded: string[] }> {
  const counts = { files: 0, directories: 0, symlinks: 0, bytes: 0, excluded: [] as string[] };
  let walked = 0;
  /** Returns whether anything below `relative` is kept. */
  async function visit(relative: string): Promise<boolean> {
    let entries: string[];
    try {
      entries = (await readdir(join(root, relative))).sort();
    } catch (error) {
      // A directory that vanished mid-walk is tar's to report; the walk only counts.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    let kept = false;
    for (const name of entries) {
      const child = relative ? `${relative}/${name}` : name;
      if (selection.isExcluded(child)) {
        counts.excluded.push(child);
        continue;
      }
      const info = await lstat(join(root, child)).catch(() => undefined);
      if (!info) continue;
      // Progress for the activity's watchdog: a walk of millions of entries is long, never silent.
      advance({ walked: ++walked });
      if (info.isDirectory()) {
        const mark = counts.excluded.length;
        if (await visit(child) || selection.isIncluded(child)) {
          counts.directories += 1;
          kept = true;
        } else {
          // Nothing below is kept: leave the directory out as a whole, not entry by entry.
          counts.excluded.length = mark;
          counts.excluded.push(child);
        }
      } else if (!selection.isIncluded(child)) {
        counts.excluded.push(child);
      } else {
        kept = true;
        if (info.isSymbolicLink()) counts.symlinks += 1;
        else if (info.isFile()) {
          counts.files += 1;
          counts.bytes += info.size;
        }
      }
    }
    return kept;
  }
  await visit('');
  return counts;
}
