import { putSignedJson } from './signing';
import { createHash } from 'node:crypto';
import { execa } from 'execa';
import type { StorageBackend } from '../../activities/storage/backend';
import { keys, type FilesDescription, type Manifest } from '../../lib/manifest';
import { replaceObject } from './tamper';

/**
 * Replaces a real backup's data object with a tar file of the test's making, encoded as a backup is
 * (zstd, then age to the fixture's recipient), and rewrites its manifest's hash and size to match:
 * a crafted backup that every integrity check accepts, as one written by a compromised worker would be.
 * `counts` overrides what the manifest says the tree holds, for restores expected to succeed.
 */
export async function plantArchive(storage: StorageBackend, manifest: Manifest, tarFile: string, recipient: string, counts: Partial<FilesDescription> = {}): Promise<void> {
  const { stdout } = await execa('sh', ['-c', 'zstd -q -c "$1" | age -r "$2"', 'sh', tarFile, recipient], { encoding: 'buffer', stripFinalNewline: false });
  const data = Buffer.from(stdout);
  const object = manifest.objects[0]!;
  await replaceObject(storage, object.key, data);
  const planted: Manifest = {
    ...manifest,
    objects: [{ ...object, size: data.length, sha256: createHash('sha256').update(data).digest('hex') }, ...manifest.objects.slice(1)],
    description: { ...manifest.description as FilesDescription, ...counts },
  };
  await storage.remove(`${keys.manifest(manifest.source, manifest.id)}.sig`);
  await storage.remove(keys.manifest(manifest.source, manifest.id));
  await putSignedJson(storage, keys.manifest(manifest.source, manifest.id), planted);
}
