import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { LifeboatError } from '../../lib/errors';
import type { IncompleteUpload, ObjectInfo, PutProgress, ResumeFrom, StorageBackend, UploadedPart } from './backend';
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
}

export class S3Storage implements StorageBackend {
  readonly location: string;
  readonly features = { versioning: false, objectLock: false };
  private readonly client: S3Client;

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
    });
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
    const { UploadId } = resume
      ? { UploadId: resume.uploadId }
      : await this.call(`start upload of ${key}`, () => this.client.send(new CreateMultipartUploadCommand({ Bucket, Key })));
    if (!UploadId) throw new LifeboatError('Storage', `${this.location}: no upload id returned for ${key}`);
    const parts: CompletedPart[] = (resume?.parts ?? []).map((p) => ({ PartNumber: p.part, ETag: p.etag }));
    const skipped = parts.length;
    let bytes = (resume?.parts ?? []).reduce((sum, p) => sum + p.size, 0);
    let partNumber = skipped;
    onProgress?.({ bytes, part: partNumber, uploadId: UploadId });
    const inFlight = new Set<Promise<void>>();
    try {
      for await (const data of chunksOf(body, (n) => partSize(n + skipped))) {
        partNumber += 1;
        const PartNumber = partNumber;
        const upload = this.call(`upload part ${PartNumber} of ${key}`, () =>
          this.client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: data, ContentLength: data.length })),
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
      await this.call(`complete upload of ${key}`, () =>
        this.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } })),
      );
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
    await this.call(`write ${key}`, () =>
      this.client.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: this.key(key), Body: data, ContentLength: data.length })),
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
        yield { key: item.Key.slice(this.options.prefix.length), size: item.Size ?? 0, modified: item.LastModified ?? new Date(0) };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  async remove(key: string): Promise<void> {
    await this.call(`remove ${key}`, () => this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.key(key) })));
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
    const code = error instanceof S3ServiceException ? `${error.name} (HTTP ${error.$metadata.httpStatusCode ?? '?'})` : (error as Error).message;
    const auth = error instanceof S3ServiceException && [401, 403].includes(error.$metadata.httpStatusCode ?? 0);
    return new LifeboatError(auth ? 'Config' : 'Storage', `${this.location}: cannot ${what}: ${code}`,
      auth ? 'check the access key and secret named in the region\'s storage config' : 'check that the S3 endpoint is reachable and the bucket exists', { cause: error });
  }
}

function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException) || error.name === 'NoSuchBucket') return false;
  return ['NoSuchKey', 'NotFound', 'NoSuchUpload'].includes(error.name) || error.$metadata.httpStatusCode === 404;
}
