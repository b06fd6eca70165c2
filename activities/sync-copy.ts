import { createHash, type Hash } from 'node:crypto';
import { LifeboatError } from '../lib/errors';
import type { StoredObject } from '../lib/manifest';
import { VerifyingStream, type Digest } from './pipeline/digest';
import { advance } from './progress';
import type { PutProgress, ResumeFrom, StorageBackend, UploadedPart } from './storage/backend';
import { chunksOf } from './storage/chunks';
import { partSize } from './storage/part-size';

/**
 * Streams one object from `from` to `to`: GET → SHA-256 check → PUT, nothing on local disk and at
 * most one multipart part in memory. The check holds back the last chunk until the whole object's
 * hash and size match the manifest, so a damaged source can never complete an upload: the
 * destination aborts it and the object never appears there.
 *
 * With `resume` (the parts an interrupted attempt stored) the copy goes on after those parts: the
 * source's bytes under them are read again, each part's MD5 checked against the ETag the
 * destination stored and fed to the SHA-256, and only the rest is uploaded, from a ranged GET.
 * Returns how many bytes it could keep.
 */
export async function copyVerified(
  from: StorageBackend,
  to: StorageBackend,
  object: StoredObject,
  onProgress: (progress: PutProgress) => void,
  signal: AbortSignal,
  resume?: ResumeFrom,
): Promise<Digest & { resumedFrom: number }> {
  let hash = createHash('sha256');
  let offset = 0;
  if (resume && resume.parts.length > 0) {
    offset = resume.parts.reduce((sum, p) => sum + p.size, 0);
    if (!(await prefixMatches(from, object, resume.parts, hash))) {
      await to.abortIncomplete({ key: object.key, uploadId: resume.uploadId });
      [hash, offset, resume] = [createHash('sha256'), 0, undefined];
    }
  }
  const body = await from.get(object.key, offset > 0 ? { start: offset, end: object.size - 1 } : undefined);
  const verify = new VerifyingStream(object, (actual) => mismatch(from, object, actual), { hash, bytes: offset });
  const abort = () => body.destroy(new LifeboatError('Storage', `copy of ${object.key} was cancelled`));
  signal.addEventListener('abort', abort);
  // A failed GET must reach the upload as its body's error, not crash the worker as an unheard event.
  body.on('error', (error) => verify.destroy(error));
  try {
    await to.putStream(object.key, body.pipe(verify), onProgress, resume);
  } finally {
    signal.removeEventListener('abort', abort);
    body.destroy();
  }
  return { sha256: object.sha256, size: object.size, resumedFrom: offset };
}

/**
 * The stored parts an interrupted copy may keep: 1, 2, … in order, each of the size the part
 * schedule gives it (the rest of the stream is cut the same way), and short of the whole object.
 */
export function keepableParts(parts: UploadedPart[], objectSize: number): UploadedPart[] {
  const kept: UploadedPart[] = [];
  let offset = 0;
  for (const [index, part] of parts.entries()) {
    if (part.part !== index + 1 || part.size !== partSize(part.part) || offset + part.size >= objectSize || !md5Of(part.etag)) break;
    kept.push(part);
    offset += part.size;
  }
  return kept;
}

/** Reads the source under the kept parts: every part's MD5 must be the destination's ETag. */
async function prefixMatches(from: StorageBackend, object: StoredObject, parts: UploadedPart[], hash: Hash): Promise<boolean> {
  const end = parts.reduce((sum, p) => sum + p.size, 0) - 1;
  let index = 0;
  for await (const data of chunksOf(await from.get(object.key, { start: 0, end }), partSize)) {
    if (createHash('md5').update(data).digest('hex') !== md5Of(parts[index]!.etag)) return false;
    hash.update(data);
    index += 1;
    advance({ partsChecked: index });
  }
  return index === parts.length;
}

/** A plain part's ETag is the MD5 of its bytes, quoted; other forms (SSE-KMS) cannot be checked. */
function md5Of(etag: string): string | undefined {
  const bare = etag.replace(/"/g, '').toLowerCase();
  return /^[0-9a-f]{32}$/.test(bare) ? bare : undefined;
}

/** The SHA-256 and size of an object as stored, read as a stream. */
export async function digestStored(storage: StorageBackend, key: string): Promise<Digest> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of await storage.get(key)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
    advance({ hashed: size });
  }
  return { sha256: hash.digest('hex'), size };
}

export function mismatch(storage: StorageBackend, object: StoredObject, actual: Digest): LifeboatError {
  return new LifeboatError('ChecksumMismatch',
    `${storage.location}: ${object.key} has SHA-256 ${actual.sha256} and ${actual.size} bytes, its manifest says ${object.sha256} and ${object.size} bytes`,
    'the copy in this region is damaged: restore from another region, or take a new backup');
}
