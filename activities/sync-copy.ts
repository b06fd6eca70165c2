import { createHash } from 'node:crypto';
import { LifeboatError } from '../lib/errors';
import type { StoredObject } from '../lib/manifest';
import { VerifyingStream, type Digest } from './pipeline/digest';
import type { PutProgress, StorageBackend } from './storage/backend';

/**
 * Streams one object from `from` to `to`: GET → SHA-256 check → PUT, nothing on local disk and at
 * most one multipart part in memory. The check holds back the last chunk until the whole object's
 * hash and size match the manifest, so a damaged source can never complete an upload: the
 * destination aborts it and the object never appears there.
 */
export async function copyVerified(
  from: StorageBackend,
  to: StorageBackend,
  object: StoredObject,
  onProgress: (progress: PutProgress) => void,
  signal: AbortSignal,
): Promise<Digest> {
  const body = await from.get(object.key);
  const verify = new VerifyingStream(object, (actual) => mismatch(from, object, actual));
  const abort = () => body.destroy(new LifeboatError('Storage', `copy of ${object.key} was cancelled`));
  signal.addEventListener('abort', abort);
  // A failed GET must reach the upload as its body's error, not crash the worker as an unheard event.
  body.on('error', (error) => verify.destroy(error));
  try {
    await to.putStream(object.key, body.pipe(verify), onProgress);
  } finally {
    signal.removeEventListener('abort', abort);
    body.destroy();
  }
  return { sha256: object.sha256, size: object.size };
}

/** The SHA-256 and size of an object as stored, read as a stream. */
export async function digestStored(storage: StorageBackend, key: string): Promise<Digest> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of await storage.get(key)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

export function mismatch(storage: StorageBackend, object: StoredObject, actual: Digest): LifeboatError {
  return new LifeboatError('ChecksumMismatch',
    `${storage.location}: ${object.key} has SHA-256 ${actual.sha256} and ${actual.size} bytes, its manifest says ${object.sha256} and ${object.size} bytes`,
    'the copy in this region is damaged: restore from another region, or take a new backup');
}
