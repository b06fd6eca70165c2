import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readdir, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { LifeboatError } from '../../lib/errors';
import { digestFile, type Digest } from '../pipeline/digest';
import { hashCopy, type HashCopy } from '../pipeline/hash-copy';
import { alreadyExists, type DescriptorWrite, type IncompleteUpload, type ObjectInfo, type PutProgress, type StorageBackend, type StorageFeatures } from './backend';

// A temp file beside its final name, linked into place only once complete and fsynced, so a crash
// leaves either no object or the whole one, never half of one. link() fails when the name exists,
// which makes every write write-once.
const PARTIAL = '.partial-';

export class LocalStorage implements StorageBackend {
  readonly location: string;

  features(): Promise<StorageFeatures> {
    return Promise.resolve({ versioning: false, objectLock: false, conditionalWrites: true });
  }

  constructor(private readonly root: string, private readonly prefix = '') {
    this.location = join(root, prefix);
  }

  private path(key: string): string {
    if (key.split('/').includes('..')) throw new LifeboatError('Usage', `invalid object key ${key}`);
    return join(this.root, this.prefix + key);
  }

  async putStream(key: string, body: Readable, onProgress?: (progress: PutProgress) => void): Promise<{ size: number }> {
    const final = this.path(key);
    const temp = `${final}${PARTIAL}${randomBytes(6).toString('hex')}`;
    // The body may fail before the pipeline below listens; pipeline re-raises it from its state.
    body.on('error', () => undefined);
    await this.mkdirFor(final);
    let bytes = 0;
    let reported = 0;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        if (bytes - reported >= 8 * 1024 * 1024) {
          reported = bytes;
          onProgress?.({ bytes, part: 0 });
        }
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, count, createWriteStream(temp));
      await this.commit(key, temp, final);
    } catch (error) {
      await rm(temp, { force: true });
      throw this.storageError(`write ${key}`, error);
    }
    onProgress?.({ bytes, part: 0 });
    return { size: bytes };
  }

  /**
   * The tool writes into a FIFO that a worker thread reads, hashes and writes into the temp file
   * (pipeline/hash-copy.ts), then fsyncs; linked into place as putStream's once the gate resolved.
   */
  async openDescriptorWrite(key: string, onProgress?: (progress: PutProgress) => void): Promise<DescriptorWrite> {
    const final = this.path(key);
    const temp = `${final}${PARTIAL}${randomBytes(6).toString('hex')}`;
    await this.mkdirFor(final);
    let file: FileHandle | undefined;
    let copy: HashCopy;
    try {
      file = await open(temp, 'wx');
      copy = await hashCopy(file.fd, `write of ${key} to ${this.location}`, (bytes) => onProgress?.({ bytes, part: 0 }));
    } catch (error) {
      await file?.close();
      await rm(temp, { force: true });
      throw this.storageError(`write ${key}`, error);
    }
    const opened = file;
    const written = copy.done.finally(() => opened.close());
    // Awaited by commit(); until then a failed copy is no unhandled rejection.
    written.catch(() => undefined);
    const commit = async (gate: Promise<unknown>) => {
      copy.release();
      gate.catch(() => undefined);
      try {
        // Settles once every writer closed its end, whether the tools finished or were stopped.
        const wrote = await written;
        await gate;
        await this.commit(key, temp, final, wrote);
        onProgress?.({ bytes: wrote.size, part: 0 });
        return wrote;
      } catch (error) {
        await rm(temp, { force: true });
        throw this.storageError(`write ${key}`, error);
      }
    };
    return { input: copy.input, commit };
  }

  async put(key: string, data: Buffer): Promise<void> {
    const final = this.path(key);
    const temp = `${final}${PARTIAL}${randomBytes(6).toString('hex')}`;
    await this.mkdirFor(final);
    try {
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(data);
      } finally {
        await handle.close();
      }
      await this.commit(key, temp, final);
    } catch (error) {
      await rm(temp, { force: true });
      throw this.storageError(`write ${key}`, error);
    }
  }

  async get(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const info = await this.existing(key);
    // 1 MiB reads, not 64 KiB: a reader that hands the bytes on to a tool (age) pays per chunk, in the
    // worker's event loop and its collector. No more than the object, though: a catalog read takes
    // thousands of 64-byte signatures, each of which would allocate a whole MiB.
    const highWaterMark = Math.max(1, Math.min(1024 * 1024, info.size));
    return createReadStream(this.path(key), { highWaterMark, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async filePath(key: string): Promise<string> {
    await this.existing(key);
    return this.path(key);
  }

  private async existing(key: string): Promise<ObjectInfo> {
    const info = await this.stat(key);
    if (!info) throw new LifeboatError('BackupNotFound', `${this.location}: ${key} does not exist`, 'run "lifeboat backups list" to see what is stored');
    return info;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const info = await stat(this.path(key));
      return info.isFile() ? { key, size: info.size, modified: info.mtime } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.storageError(`stat ${key}`, error);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const key of await this.walk(prefix)) {
      if (key.includes(PARTIAL)) continue;
      const info = await this.stat(key);
      if (info) yield info;
    }
  }

  async children(prefix: string): Promise<string[]> {
    try {
      const entries = await readdir(join(this.root, this.prefix, prefix), { withFileTypes: true });
      return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw this.storageError(`list ${prefix}`, error);
    }
  }

  async remove(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async *listIncomplete(prefix: string): AsyncIterable<IncompleteUpload> {
    for (const key of await this.walk(prefix)) if (key.includes(PARTIAL)) yield { key };
  }

  async abortIncomplete(upload: IncompleteUpload): Promise<void> {
    if (upload.key.includes(PARTIAL)) await rm(this.path(upload.key), { force: true });
  }

  /** Keys under prefix, sorted; the prefix may end inside a file name, as with S3. */
  private async walk(prefix: string): Promise<string[]> {
    const base = join(this.root, this.prefix);
    const full = join(base, prefix);
    const start = prefix.endsWith('/') || prefix === '' ? full : dirname(full);
    let entries: string[];
    try {
      entries = await readdir(start, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw this.storageError(`list ${prefix}`, error);
    }
    return entries
      .map((entry) => relative(base, join(start, entry)).split(sep).join('/'))
      .filter((key) => key.startsWith(prefix))
      .sort();
  }

  private async mkdirFor(path: string): Promise<void> {
    try {
      const first = await mkdir(dirname(path), { recursive: true });
      // A new directory is durable only once the directory holding its name is synced; the
      // deepest one is synced by commit(), after the link.
      if (first !== undefined) {
        for (let dir = dirname(dirname(path)); ; dir = dirname(dir)) {
          await syncPath(dir);
          if (dir === dirname(first) || dir === dirname(dir)) break;
        }
      }
    } catch (error) {
      throw this.storageError(`create directory ${dirname(path)}`, error);
    }
  }

  /**
   * Links the temp file into place, fsynced first, unless the name exists; the same bytes there are a
   * retry's and succeed. `wrote`: what a descriptor write hashed on its way, the file fsynced already.
   */
  private async commit(key: string, temp: string, final: string, wrote?: Digest): Promise<void> {
    if (!wrote) await syncPath(temp);
    try {
      await link(temp, final);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // The written bytes are hashed only here, read back from the temp file, which is what would
      // have been linked: a backup's stream is already hashed once on its way in (DigestStream), and
      // a second hash of every write, for the rare retry that finds its object stored, cost a
      // SHA-256 pass of every byte on the worker's one main thread.
      const [stored, written] = await Promise.all([digestFile(final), wrote ?? digestFile(temp)]);
      if (stored.size !== written.size || stored.sha256 !== written.sha256) throw alreadyExists(this.location, key, stored, written);
    } finally {
      await unlink(temp).catch(() => undefined);
    }
    // The link is a change of the directory: until the directory is synced, a power cut may
    // forget it, and the object (or the manifest that makes a backup exist) with it.
    await syncPath(dirname(final));
  }

  private storageError(what: string, error: unknown): LifeboatError {
    if (error instanceof LifeboatError) return error;
    const code = (error as NodeJS.ErrnoException).code;
    const hint = code === 'ENOSPC' ? 'the disk is full: free space or point the region at a larger volume' : code === 'EACCES' ? 'the worker user may not write there' : undefined;
    return new LifeboatError('Storage', `${this.location}: cannot ${what}: ${(error as Error).message}`, hint, { cause: error });
  }
}

/** fsync of a file or a directory (opened read-only: Linux syncs a directory through any descriptor). */
async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

