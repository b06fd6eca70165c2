import { createHash } from 'node:crypto';
import { LifeboatError } from '../../lib/errors';
import type { Readable, Writable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  modified: Date;
  /** S3's ETag as listed; the catalog index takes a changed one for a rewritten object. */
  etag?: string;
}

/** Progress of a streamed write; the backup activity heartbeats exactly this. */
export interface PutProgress {
  bytes: number;
  part: number;
  uploadId?: string;
}

/** A part already stored in an unfinished multipart upload. */
export interface UploadedPart {
  part: number;
  size: number;
  etag: string;
}

/** Where an interrupted putStream goes on: its upload and the first parts, whole and in order. */
export interface ResumeFrom {
  uploadId: string;
  parts: UploadedPart[];
}

export interface IncompleteUpload {
  key: string;
  /** The multipart upload id on S3; absent for a local temp file. */
  uploadId?: string;
}

/** What a storage location can do, as probed (S3) or known (local directory). */
export interface StorageFeatures {
  /** Every write keeps the old version: a plain delete only hides an object. */
  versioning: boolean;
  /** S3 Object Lock is enabled on the bucket: objects can carry a retain-until date and a legal hold. */
  objectLock: boolean;
  /** A write can be told to fail when the key exists (If-None-Match: *, or a hard link on disk). */
  conditionalWrites: boolean;
}

/** How an object is protected by Object Lock now. */
export interface LockState {
  /** Until when no one may delete the object; undefined when it has no retention period. */
  retainUntil?: Date;
  legalHold: boolean;
}

/** Object Lock operations; only on storage whose features say objectLock. */
export interface ObjectLocks {
  state(key: string): Promise<LockState>;
  /** Moves the retain-until date of every version of key to `until`; never shortens it. */
  extend(key: string, until: Date): Promise<void>;
  /** Sets or clears the legal hold on every version of key. */
  legalHold(key: string, on: boolean): Promise<void>;
}

/**
 * A write that a tool feeds through a descriptor, the bytes never passing through the worker's main
 * thread: what drivers on this machine's disk offer. Write-once and whole-or-nothing as putStream.
 */
export interface DescriptorWrite {
  /** Give it to the last tool as its stdout (a stream wrapping the descriptor, as startPipeline takes). */
  readonly input: Writable;
  /**
   * Call once the tool is started (or failed to start). Resolves with the stored bytes' size and
   * SHA-256 once the tool closed its end, `gate` resolved and the object is in place (a retry that
   * finds the same bytes there succeeds; other bytes fail with AlreadyExists). When gate rejects,
   * nothing is stored and it rejects with gate's error; a failed write rejects with a Storage error.
   */
  commit(gate: Promise<unknown>): Promise<{ size: number; sha256: string }>;
}

/**
 * Where backups live. Keys are relative to the region's bucket/prefix or directory.
 * Every method may be called again with the same arguments (after a crash, by a retry).
 */
export interface StorageBackend {
  /** Human-readable location for messages, e.g. "s3://lb-sto/prefix" or "/var/lib/lifeboat". */
  readonly location: string;
  /** Probed once per backend and remembered. */
  features(): Promise<StorageFeatures>;
  /** Present when the driver can speak Object Lock; use it only when features().objectLock. */
  readonly locks?: ObjectLocks;
  /**
   * Streams body into key; the object becomes visible only once complete, never half-written.
   * Write-once: when key already holds the same bytes the write succeeds (a retry), when it holds
   * other bytes it fails with AlreadyExists and the stored object stays as it was.
   */
  putStream(key: string, body: Readable, onProgress?: (progress: PutProgress) => void, resume?: ResumeFrom): Promise<{ size: number }>;
  /**
   * Drivers that write to this machine's disk (local): a write a tool feeds by descriptor, hashed on
   * its way, instead of a putStream the worker's main thread would pass every byte of.
   */
  openDescriptorWrite?(key: string, onProgress?: (progress: PutProgress) => void): Promise<DescriptorWrite>;
  /** Drivers that can resume (S3 multipart): the parts of an unfinished upload; undefined once it is gone. */
  listParts?(key: string, uploadId: string): Promise<UploadedPart[] | undefined>;
  /** Writes a small object (manifests) in one request; write-once like putStream. */
  put(key: string, data: Buffer): Promise<void>;
  /** Reads key, whole or the inclusive byte range; a missing key is a BackupNotFound error. */
  get(key: string, range?: { start: number; end: number }): Promise<Readable>;
  /**
   * Drivers on a file system: the file that holds key, for a tool to read itself rather than through
   * the worker (archived WAL is decrypted straight from it); a missing key is a BackupNotFound error.
   */
  filePath?(key: string): Promise<string>;
  /** undefined when the key does not exist. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with prefix, in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * The names one level below prefix (which ends in "/" or is ""), sorted: the sources of a region
   * without listing every object and WAL segment in it.
   */
  children(prefix: string): Promise<string[]>;
  /**
   * Removes key, every version of it on a versioned bucket (a delete marker frees nothing);
   * removing a missing key succeeds; a version under Object Lock fails with Locked.
   */
  remove(key: string): Promise<void>;
  /** Unfinished writes under prefix (multipart uploads, temp files) that a crash left behind. */
  listIncomplete(prefix: string): AsyncIterable<IncompleteUpload>;
  /** Discards one unfinished write; discarding one that is already gone succeeds. */
  abortIncomplete(upload: IncompleteUpload): Promise<void>;
}

/** Size and SHA-256 of everything a stream holds, read in pieces. */
export async function digestStream(stream: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  return { size, sha256: hash.digest('hex') };
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The AlreadyExists error of a write-once key that holds other bytes. */
export function alreadyExists(location: string, key: string, stored: { size: number; sha256: string }, wrote: { size: number; sha256: string }): LifeboatError {
  return new LifeboatError('AlreadyExists',
    `${location}: refusing to overwrite ${key}: it holds other bytes (${stored.size} bytes, sha256 ${stored.sha256.slice(0, 16)}…) than this write (${wrote.size} bytes, sha256 ${wrote.sha256.slice(0, 16)}…)`,
    'objects are never overwritten: find out who wrote the stored one (another cluster under the same source name, a forged or damaged copy) before removing it by hand');
}
