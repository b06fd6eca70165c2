import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeCounts {
  files: number;
  directories: number;
  symlinks: number;
  /** Bytes in regular files. */
  bytes: number;
}

/** Counts a tree without following symlinks; `excluded` paths (relative) and their subtrees are skipped and returned. */
export async function walkTree(root: string, isExcluded: (relative: string) => boolean = () => false): Promise<TreeCounts & { excluded: string[] }> {
  const counts = { files: 0, directories: 0, symlinks: 0, bytes: 0, excluded: [] as string[] };
  async function visit(relative: string): Promise<void> {
    let entries: string[];
    try {
      entries = (await readdir(join(root, relative))).sort();
    } catch (error) {
      // A directory that vanished mid-walk is tar's to report; the walk only counts.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const name of entries) {
      const child = relative ? `${relative}/${name}` : name;
      if (isExcluded(child)) {
        counts.excluded.push(child);
        continue;
      }
      const info = await lstat(join(root, child)).catch(() => undefined);
      if (!info) continue;
      if (info.isSymbolicLink()) counts.symlinks += 1;
      else if (info.isDirectory()) {
        counts.directories += 1;
        await visit(child);
      } else if (info.isFile()) {
        counts.files += 1;
        counts.bytes += info.size;
      }
    }
  }
  await visit('');
  return counts;
}
