import { createHash, randomInt } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileSample } from '../../../lib/manifest';
import type { Selection } from './walk';

/** Files hashed per backup: enough to catch a systematic fault, cheap on any tree. */
export const sampleSize = 20;

export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Regular files below root that the selection keeps, with their sizes. */
export async function regularFiles(root: string, selection?: Selection, relative = ''): Promise<Array<{ path: string; size: number }>> {
  const found: Array<{ path: string; size: number }> = [];
  for (const name of (await readdir(join(root, relative)).catch(() => [] as string[])).sort()) {
    const path = relative ? `${relative}/${name}` : name;
    if (selection?.isExcluded(path)) continue;
    const info = await lstat(join(root, path)).catch(() => undefined);
    if (info?.isDirectory()) found.push(...await regularFiles(root, selection, path));
    else if (info?.isFile() && (!selection || selection.isIncluded(path))) found.push({ path, size: info.size });
  }
  return found;
}

export function pick<T>(items: T[], count: number): T[] {
  const chosen = new Set<number>();
  while (chosen.size < Math.min(count, items.length)) chosen.add(randomInt(items.length));
  return [...chosen].sort((a, b) => a - b).map((index) => items[index]!);
}

/**
 * Hashes a random sample of the tree, after tar has read it, for the restore verification to
 * compare with. With size and mtime: a file that changed after tar read it shows a different
 * mtime than the archived copy, and is then not compared rather than reported as damaged.
 */
export async function sampleTree(root: string, selection: Selection): Promise<FileSample[]> {
  const samples: FileSample[] = [];
  for (const { path } of pick(await regularFiles(root, selection), sampleSize)) {
    try {
      const info = await lstat(join(root, path));
      const { sha256, bytes } = await hashFile(join(root, path));
      samples.push({ path, size: bytes, mtime: Math.floor(info.mtimeMs / 1000), sha256 });
    } catch {
      // Vanished since the walk: tar has reported it already, and there is nothing to compare.
    }
  }
  return samples;
}
