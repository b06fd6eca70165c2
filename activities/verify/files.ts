import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileSample, FilesDescription } from '../../lib/manifest';
import type { CheckOutcome } from '../../lib/verify';
import { hashFile, pick, regularFiles, sampleSize } from '../sources/files/sample';
import { walkTree } from '../sources/files/walk';

export async function checkFiles(tree: string, description: FilesDescription): Promise<CheckOutcome[]> {
  const actual = await walkTree(tree);
  const counts = (['files', 'directories', 'symlinks', 'bytes'] as const).map((field): CheckOutcome => ({
    name: `${field === 'bytes' ? 'byte' : field.slice(0, -1)} count`,
    ok: actual[field] === description[field],
    detail: `expected ${description[field]} ${field} (the tree at backup time), found ${actual[field]}`,
  }));
  return [...counts, description.sample ? await compareSample(tree, description.sample) : await readSample(tree)];
}

/** The files hashed at backup time must restore with the same SHA-256, unless they changed after tar read them. */
export async function compareSample(tree: string, sample: FileSample[]): Promise<CheckOutcome> {
  const wrong: string[] = [];
  const changed: string[] = [];
  for (const expected of sample) {
    const path = join(tree, expected.path);
    const info = await lstat(path).catch(() => undefined);
    if (!info?.isFile()) {
      wrong.push(`${expected.path}: expected sha256 ${expected.sha256.slice(0, 12)}…, found no such file`);
      continue;
    }
    // tar restores the mtime it archived: a different one means the source changed after tar read it.
    if (Math.floor(info.mtimeMs / 1000) !== expected.mtime) {
      changed.push(expected.path);
      continue;
    }
    const { sha256, bytes } = await hashFile(path);
    if (sha256 !== expected.sha256 || bytes !== expected.size) {
      wrong.push(`${expected.path}: expected sha256 ${expected.sha256.slice(0, 12)}… (${expected.size} bytes), found ${sha256.slice(0, 12)}… (${bytes} bytes)`);
    }
  }
  const compared = sample.length - changed.length;
  const unchanged = changed.length > 0 ? `; ${changed.length} changed after tar read them, not compared (${changed.slice(0, 3).join(', ')})` : '';
  return {
    name: 'sample of file contents',
    ok: wrong.length === 0,
    detail: wrong.length === 0
      ? `${compared} of ${sample.length} files hashed at backup time restored with the same SHA-256${unchanged}`
      : `${wrong.length} of ${compared} sampled files differ from their SHA-256 at backup time: ${wrong.slice(0, 3).join('; ')}${unchanged}`,
  };
}

/** Manifests from before the backup-time sample: a random sample reads whole at its listed size. */
async function readSample(tree: string): Promise<CheckOutcome> {
  const files = await regularFiles(tree);
  const wrong: string[] = [];
  const chosen = pick(files, sampleSize);
  for (const { path, size } of chosen) {
    const { bytes } = await hashFile(join(tree, path));
    if (bytes !== size) wrong.push(`${path}: expected ${size} bytes, read ${bytes}`);
  }
  return {
    name: 'sample of file contents',
    ok: wrong.length === 0,
    detail: wrong.length === 0
      ? `${chosen.length} of ${files.length} files chosen at random read whole at their listed sizes (the manifest has no backup-time hashes to compare with)`
      : `expected every sampled file readable at its listed size: ${wrong.slice(0, 3).join('; ')}`,
  };
}
