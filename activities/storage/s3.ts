import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { LifeboatError } from '../../lib/errors';
import {
  alreadyExists, digestStream,
  type IncompleteUpload, type LockState, type ObjectInfo, type ObjectLocks, type PutProgress, type ResumeFrom, type StorageBackend, type StorageFeatures, type UploadedPart,
} from './backend';
import { chunksOf } from './chunks';
import { partSize } from './part-size';

export interface S3Options {
  bucket: string;
  prefix: string;
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Parts uploaded at once; memory is about (concurrency + 1) × part size. */
  concurrency?: number;
  /** How long a TCP (and TLS) connection to the endpoint may take to open; 10 s unless a test shortens it. */
  connectTimeoutMs?: number;
  /** Object Lock for every write: the mode, and the retain-until date of a key written now. */
  objectLock?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; retainUntil(key: string, now: Date): Date | undefined };
}

const CONNECT_TIMEOUT_MS = 10_000;

/** Where the conditional-write probe writes, under the prefix: outside every source's keys. */
const PROBE_KEY = '.lifeboat/conditional-write-probe';

export class S3Storage implements StorageBackend {
  readonly location: string;
  readonly locks: ObjectLocks;
  private readonly client: S3Client;
  private probed?: Promise<StorageFeatures>;

  constructor(private readonly options: S3Options) {
    this.location = `s3://${options.bucket}/${options.prefix}`;
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
      // S3-compatible servers (SeaweedFS, MinIO, Ceph) reject the SDK's newer default checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 5,
      // SlowDown / HTTP 503 are retried with backoff and, in adaptive mode, lower the client's own
      // request rate, so a throttled copy or upload slows down instead of failing.
      retryMode: 'adaptive',
      // An endpoint that drops SYNs (a dead region behind a firewall, a blackholed route) would
      // otherwise hold every call until the OS gives up, minutes later, with no retry in between.
      // Only the connection phase is bounded: an idle-socket or whole-request timeout would also kill
      // a download that a slow pg_restore is legitimately not reading, or a large part in flight;
      // stalls after the connection are the watchdog's (temporal.stallTimeout, activities/progress.ts).
      requestHandler: { connectionTimeout: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS },
    });
    this.locks = {
      state: (key) => this.lockState(key),
      extend: (key, until) => this.extendLock(key, until),
      legalHold: (key, on) => this.setLegalHold(key, on),
    };
  }

  features(): Promise<StorageFeatures> {
    // Probed once; a failed probe (server down) is tried again by the next caller.
    this.probed ??= this.probe().catch((error: unknown) => {
      this.probed = undefined;
      throw error;
    });
    return this.probed;
  }

  private async probe(): Promise<StorageFeatures> {
    const Bucket = this.options.bucket;
    // Suspended versioning still keeps the versions written before: deleting must remove them too.
    const { Status } = await this.call('read the versioning state of the bucket', () => this.client.send(new GetBucketVersioningCommand({ Bucket })));
    let objectLock = false;
    try {
      const { ObjectLockConfiguration } = await this.client.send(new GetObjectLockConfigurationCommand({ Bucket }));
      objectLock = ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
    } catch (error) {
      if (!isS3Error(error, 'ObjectLockConfigurationNotFoundError', 'NotImplemented')) throw this.storageError('read the Object Lock configuration of the bucket', error);
    }
    return { versioning: Status === 'Enabled' || Status === 'Suspended', objectLock, conditionalWrites: await this.probeConditionalWrites() };
  }

  /**
   * Some S3-compatible servers ignore If-None-Match and overwrite: write a probe object twice
   * and see whether the second write is refused. Once it exists, the first write already is.
   */
  private async probeConditionalWrites(): Promise<boolean> {
    const put = () => this.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: this.key(PROBE_KEY), Body: 'lifeboat conditional write probe\n', IfNoneMatch: '*' }));
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await put();
      } catch (error) {
        if (isS3Error(error, 'PreconditionFailed') || httpStatus(error) === 412) return true;
        if (isS3Error(error, 'NotImplemented') || httpStatus(error) === 501) return false;
        throw this.storageError('probe conditional writes', error);
      }
    }
    return false;
  }

  /** Object Lock headers for a write of key, when the region asks for them; the bucket must have Object Lock. */
  private async lockFor(key: string): Promise<{ ObjectLockMode?: 'GOVERNANCE' | 'COMPLIANCE'; ObjectLockRetainUntilDate?: Date }> {
    const lock = this.options.objectLock;
    const until = lock?.retainUntil(key, new Date());
    if (!lock || !until) return {};
    if (!(await this.features()).objectLock) {
      throw new LifeboatError('Config', `${this.location}: the region's storage.objectLock is set, but bucket ${this.options.bucket} has no Object Lock`,
        'Object Lock can only be enabled when a bucket is created: create one with "aws s3api create-bucket --object-lock-enabled-for-bucket" and point the region at it, or remove storage.objectLock');
    }
    return { ObjectLockMode: lock.mode, ObjectLockRetainUntilDate: until };
  }

  /**
   * Sends a write that must not replace an existing object. Where the server honours If-None-Match
   * the check is atomic; elsewhere a stat just before is the best there is. An existing object
   * with the very bytes of this write is a retry's and counts as written.
   */
  private async writeOnce(key: string, wrote: (() => { size: number; sha256: string }) | undefined, send: (ifNoneMatch: '*' | undefined) => Promise<unknown>): Promise<'written' | 'found'> {
    const { conditionalWrites } = await this.features();
    if (!conditionalWrites && (await this.stat(key))) return this.sameBytesOrRefuse(key, wrote?.());
    try {
      await send(conditionalWrites ? '*' : undefined);
      return 'written';
    } catch (error) {
      if (isS3Error(error, 'PreconditionFailed') || httpStatus(error) === 412) return this.sameBytesOrRefuse(key, wrote?.());
      throw this.storageError(`write ${key}`, error);
    }
  }

  private async sameBytesOrRefuse(key: string, wrote: { size: number; sha256: string } | undefined): Promise<'found'> {
    const stored = await digestStream(await this.get(key));
    // A resumed upload did not see its first parts go by: it cannot prove the stored bytes are its own.
    if (!wrote || stored.size !== wrote.size || stored.sha256 !== wrote.sha256) throw alreadyExists(this.location, key, stored, wrote ?? { size: -1, sha256: 'unknown (resumed upload)' });
    return 'found';
  }

  private key(key: string): string {
    return this.options.prefix + key;
  }

  async putStream(key: string, body: Readable, onProgress?: (progress: PutProgress) => void, resume?: ResumeFrom): Promise<{ size: number }> {
    const Bucket = this.options.bucket;
    const Key = this.key(key);
    // The body may fail while the upload is still being created; its iterator re-raises the error
    // below, so the event itself must not go unheard and crash the worker.
    body.on('error', () => undefined);
    // A resumed upload goes on after its stored parts; body holds only the bytes after them.
    const lock = await this.lockFor(key);
    const { UploadId } = resume
      ? { UploadId: resume.uploadId }
      : await this.call(`start upload of ${key}`, () => this.client.send(new CreateMultipartUploadCommand({ Bucket, Key, ...lock })));
    if (!UploadId) throw new LifeboatError('Storage', `${this.location}: no upload id returned for ${key}`);
    const parts: CompletedPart[] = (resume?.parts ?? []).map((p) => ({ PartNumber: p.part, ETag: p.etag }));
    const skipped = parts.length;
    let bytes = (resume?.parts ?? []).reduce((sum, p) => sum + p.size, 0);
    let partNumber = skipped;
    onProgress?.({ bytes, part: partNumber, uploadId: UploadId });
    const inFlight = new Set<Promise<void>>();
    // Only a whole stream gives the digest that tells a retry's write from another writer's.
    const hash = resume ? undefined : createHash('sha256');
    try {
      for await (const data of chunksOf(body, (n) => partSize(n + skipped))) {
        partNumber += 1;
        const PartNumber = partNumber;
        hash?.update(data);
        // AWS wants Content-MD5 on every write to a bucket with Object Lock.
        const ContentMD5 = lock.ObjectLockMode ? md5(data) : undefined;
        const upload = this.call(`upload part ${PartNumber} of ${key}`, () =>
          this.client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: data, ContentLength: data.length, ContentMD5 })),
        ).then(({ ETag }) => {
          parts[PartNumber - 1] = { ETag, PartNumber };
          bytes += data.length;
          onProgress?.({ bytes, part: PartNumber, uploadId: UploadId });
        });
        const tracked = upload.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
        if (inFlight.size >= (this.options.concurrency ?? 2)) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (partNumber === 0) {
        // S3 refuses to complete an upload without parts; an empty object is a plain put.
        await this.abortIncomplete({ key, uploadId: UploadId });
        await this.put(key, Buffer.alloc(0));
        return { size: 0 };
      }
      const digest = hash?.digest('hex');
      const outcome = await this.writeOnce(key, digest === undefined ? undefined : () => ({ size: bytes, sha256: digest }), (IfNoneMatch) =>
        this.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts }, IfNoneMatch })),
      );
      // The key already held these bytes: this upload was not completed and is discarded.
      if (outcome === 'found') await this.abortIncomplete({ key, uploadId: UploadId });
      return { size: bytes };
    } catch (error) {
      await Promise.allSettled(inFlight);
      await this.abortIncomplete({ key, uploadId: UploadId }).catch(() => undefined);
      throw error;
    }
  }

  async listParts(key: string, uploadId: string): Promise<UploadedPart[] | undefined> {
    const parts: UploadedPart[] = [];
    let PartNumberMarker: string | undefined;
    try {
      do {
        const page = await this.client.send(new ListPartsCommand({ Bucket: this.options.bucket, Key: this.key(key), UploadId: uploadId, PartNumberMarker }));
        for (const p of page.Parts ?? []) {
          if (p.PartNumber && p.ETag) parts.push({ part: p.PartNumber, size: p.Size ?? 0, etag: p.ETag });
        }
        PartNumberMarker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
      } while (PartNumberMarker);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.storageError(`list the parts of ${key}`, error);
    }
    return parts.sort((a, b) => a.part - b.part);
  }

  async put(key: string, data: Buffer): Promise<void> {
    const lock = await this.lockFor(key);
    const ContentMD5 = lock.ObjectLockMode ? md5(data) : undefined;
    await this.writeOnce(key, () => ({ size: data.length, sha256: createHash('sha256').update(data).digest('hex') }), (IfNoneMatch) =>
      this.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: this.key(key), Body: data, ContentLength: data.length, ContentMD5, IfNoneMatch, ...lock })),
    );
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const output = await this.call(`read ${key}`, () =>
      this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.key(key), Range: range ? `bytes=${range.start}-${range.end}` : undefined })),
    );
    return output.Body as Readable;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.key(key) }));
      return { key, size: head.ContentLength ?? 0, modified: head.LastModified ?? new Date(0) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.storageError(`stat ${key}`, error);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let ContinuationToken: string | undefined;
    do {
      const page = await this.call(`list ${prefix}`, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: this.key(prefix), ContinuationToken })),
      );
      for (const item of page.Contents ?? []) {
        if (!item.Key) continue;
        yield { key: item.Key.slice(this.options.prefix.length), size: item.Size ?? 0, modified: item.LastModified ?? new Date(0), ...(item.ETag ? { etag: item.ETag } : {}) };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async children(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await this.call(`list ${prefix}`, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: this.key(prefix), Delimiter: '/', ContinuationToken })),
      );
      for (const { Prefix } of page.CommonPrefixes ?? []) if (Prefix) names.push(Prefix.slice(this.key(prefix).length, -1));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return names.sort();
  }

  async remove(key: string): Promise<void> {
    const Bucket = this.options.bucket;
    if (!(await this.features()).versioning) {
      await this.call(`remove ${key}`, () => this.client.send(new DeleteObjectCommand({ Bucket, Key: this.key(key) })));
      return;
    }
    // On a versioned bucket a plain delete only adds a delete marker: every version goes, one by one.
    for (const VersionId of await this.versionsOf(key)) {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket, Key: this.key(key), VersionId }));
      } catch (error) {
        if (isS3Error(error, 'AccessDenied') || httpStatus(error) === 403) {
          const state = await this.lockState(key, VersionId).catch(() => undefined);
          if (state && (state.legalHold || (state.retainUntil && state.retainUntil.getTime() > Date.now()))) throw locked(this.location, key, state);
        }
        throw this.storageError(`remove version ${VersionId} of ${key}`, error);
      }
    }
  }

  /** Every version id and delete marker of exactly key. */
  private async versionsOf(key: string): Promise<string[]> {
    const found: string[] = [];
    let KeyMarker: string | undefined;
    let VersionIdMarker: string | undefined;
    do {
      const page = await this.call(`list the versions of ${key}`, () =>
        this.client.send(new ListObjectVersionsCommand({ Bucket: this.options.bucket, Prefix: this.key(key), KeyMarker, VersionIdMarker })),
      );
      for (const version of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
        if (version.Key === this.key(key) && version.VersionId) found.push(version.VersionId);
      }
      const more = page.IsTruncated === true;
      KeyMarker = more ? page.NextKeyMarker : undefined;
      VersionIdMarker = more ? page.NextVersionIdMarker : undefined;
    } while (KeyMarker);
    return found;
  }

  private async lockState(key: string, VersionId?: string): Promise<LockState> {
    const Bucket = this.options.bucket;
    const Key = this.key(key);
    let retainUntil: Date | undefined;
    try {
      const { Retention } = await this.client.send(new GetObjectRetentionCommand({ Bucket, Key, VersionId }));
      retainUntil = Retention?.RetainUntilDate;
    } catch (error) {
      if (!isS3Error(error, 'NoSuchObjectLockConfiguration', 'ObjectLockConfigurationNotFoundError')) throw this.storageError(`read the retention of ${key}`, error);
    }
    let legalHold = false;
    try {
      const { LegalHold } = await this.client.send(new GetObjectLegalHoldCommand({ Bucket, Key, VersionId }));
      legalHold = LegalHold?.Status === 'ON';
    } catch (error) {
      if (!isS3Error(error, 'NoSuchObjectLockConfiguration', 'NoSuchObjectLegalHold', 'ObjectLockConfigurationNotFoundError')) throw this.storageError(`read the legal hold of ${key}`, error);
    }
    return { retainUntil, legalHold };
  }

  private async extendLock(key: string, until: Date): Promise<void> {
    const current = await this.lockState(key);
    if (current.retainUntil && current.retainUntil.getTime() >= until.getTime()) return;
    const Mode = this.options.objectLock?.mode ?? 'GOVERNANCE';
    await this.call(`extend the retention of ${key}`, () =>
      this.client.send(new PutObjectRetentionCommand({ Bucket: this.options.bucket, Key: this.key(key), Retention: { Mode, RetainUntilDate: until } })),
    );
  }

  private async setLegalHold(key: string, on: boolean): Promise<void> {
    await this.call(`${on ? 'set' : 'clear'} the legal hold of ${key}`, () =>
      this.client.send(new PutObjectLegalHoldCommand({ Bucket: this.options.bucket, Key: this.key(key), LegalHold: { Status: on ? 'ON' : 'OFF' } })),
    );
  }

  async *listIncomplete(prefix: string): AsyncIterable<IncompleteUpload> {
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    do {
      const page = await this.call(`list unfinished uploads under ${prefix}`, () =>
        this.client.send(new ListMultipartUploadsCommand({ Bucket: this.options.bucket, Prefix: this.key(prefix), KeyMarker, UploadIdMarker })),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key && upload.UploadId) yield { key: upload.Key.slice(this.options.prefix.length), uploadId: upload.UploadId };
      }
      const more = page.IsTruncated === true;
      KeyMarker = more ? page.NextKeyMarker : undefined;
      UploadIdMarker = more ? page.NextUploadIdMarker : undefined;
    } while (KeyMarker);
  }

  async abortIncomplete(upload: IncompleteUpload): Promise<void> {
    if (!upload.uploadId) return;
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.options.bucket, Key: this.key(upload.key), UploadId: upload.uploadId }));
    } catch (error) {
      if (!isNotFound(error)) throw this.storageError(`abort upload of ${upload.key}`, error);
    }
  }

  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw this.storageError(what, error);
    }
  }

  private storageError(what: string, error: unknown): LifeboatError {
    if (error instanceof LifeboatError) return error;
    if (error instanceof S3ServiceException && error.name === 'NoSuchBucket') {
      return new LifeboatError('Config', `${this.location}: cannot ${what}: bucket ${this.options.bucket} does not exist`, 'create the bucket or fix regions.<region>.storage.bucket');
    }
    if (isNotFound(error)) {
      return new LifeboatError('BackupNotFound', `${this.location}: cannot ${what}: the object does not exist`, 'run "lifeboat backups list" to see what is stored');
    }
    if ((error as Error | undefined)?.name === 'TimeoutError') {
      return new LifeboatError('Storage', `${this.location}: cannot ${what}: no connection to ${this.options.endpoint ?? 'S3'} within ${this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS} ms`,
        'check that this worker reaches the S3 endpoint (DNS, routes, firewall, the region\'s status page)', { cause: error });
    }
    const code = error instanceof S3ServiceException ? `${error.name} (HTTP ${error.$metadata.httpStatusCode ?? '?'})` : (error as Error).message;
    const auth = error instanceof S3ServiceException && [401, 403].includes(error.$metadata.httpStatusCode ?? 0);
    return new LifeboatError(auth ? 'Config' : 'Storage', `${this.location}: cannot ${what}: ${code}`,
      auth ? 'check the access key and secret named in the region\'s storage config' : 'check that the S3 endpoint is reachable and the bucket exists', { cause: error });
  }
}

function isS3Error(error: unknown, ...names: string[]): boolean {
  return error instanceof S3ServiceException && names.includes(error.name);
}

function httpStatus(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('base64');

/** The Locked error of an object that Object Lock keeps. */
export function locked(location: string, key: string, state: LockState): LifeboatError {
  return new LifeboatError('Locked', `${location}: ${key} is ${heldBy(state)}; the server refuses to delete it`,
    'nothing to do: retention deletes it once the lock expires; release a legal hold with "lifeboat backups hold <id> --release"');
}

/** "held by legal hold", "held by Object Lock until 2026-12-05T10:00:00.000Z" */
export function heldBy(state: LockState): string {
  const parts: string[] = [];
  if (state.legalHold) parts.push('held by legal hold');
  if (state.retainUntil) parts.push(`held by Object Lock until ${state.retainUntil.toISOString()}`);
  return parts.join(', ');
}

function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException) || error.name === 'NoSuchBucket') return false;
  return ['NoSuchKey', 'NotFound', 'NoSuchUpload'].includes(error.name) || error.$metadata.httpStatusCode === 404;
}
