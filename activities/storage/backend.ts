import type { Readable } from 'node:stream';

export interface ObjectInfo {
  key: string;
  size: number;
  modified: Date;
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

/**
 * Where backups live. Keys are relative to the region's bucket/prefix or directory.
 * Every method may be called again with the same arguments (after a crash, by a retry).
 */
export interface StorageBackend {
  /** Human-readable location for messages, e.g. "s3://lb-sto/prefix" or "/var/lib/lifeboat". */
  readonly location: string;
  readonly features: { versioning: boolean; objectLock: boolean };
  /** Streams body into key; the object becomes visible only once complete, never half-written. */
  putStream(key: string, body: Readable, onProgress?: (progress: PutProgress) => void, resume?: ResumeFrom): Promise<{ size: number }>;
  /** Drivers that can resume (S3 multipart): the parts of an unfinished upload; undefined once it is gone. */
  listParts?(key: string, uploadId: string): Promise<UploadedPart[] | undefined>;
  /** Writes a small object (manifests) in one request. */
  put(key: string, data: Buffer): Promise<void>;
  /** Reads key, whole or the inclusive byte range; a missing key is a BackupNotFound error. */
  get(key: string, range?: { start: number; end: number }): Promise<Readable>;
  /** undefined when the key does not exist. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with prefix, in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes key; removing a missing key succeeds. */
  remove(key: string): Promise<void>;
  /** Unfinished writes under prefix (multipart uploads, temp files) that a crash left behind. */
  listIncomplete(prefix: string): AsyncIterable<IncompleteUpload>;
  /** Discards one unfinished write; discarding one that is already gone succeeds. */
  abortIncomplete(upload: IncompleteUpload): Promise<void>;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
