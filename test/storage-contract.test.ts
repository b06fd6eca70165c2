import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { randomBytes, createHash } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { readAll, type StorageBackend } from '../activities/storage/backend';
import { LocalStorage } from '../activities/storage/local';
import { digestFile } from '../activities/pipeline/digest';
import { startPipeline } from '../activities/pipeline/processes';
import { S3Storage } from '../activities/storage/s3';
import { LifeboatError } from '../lib/errors';

const servers = inject('servers');
const localRoot = mkdtempSync(join(tmpdir(), 'lifeboat-local-'));
afterAll(() => rmSync(localRoot, { recursive: true, force: true }));

const s3 = servers.s3.stockholm!;
const drivers: Array<[string, () => StorageBackend]> = [
  ['local directory', () => new LocalStorage(localRoot, `c-${randomBytes(3).toString('hex')}/`)],
  ['S3 (SeaweedFS)', () => new S3Storage({
    bucket: s3.bucket, prefix: `c-${randomBytes(3).toString('hex')}/`, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  })],
];

/** A stream that yields `size` pseudo-random bytes in uneven chunks, like a pipe does. */
function randomStream(size: number): { stream: Readable; sha256: string } {
  const data = randomBytes(size);
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < size;) {
    const length = Math.min(size - offset, 1 + Math.floor(Math.random() * 300_000));
    chunks.push(data.subarray(offset, offset + length));
    offset += length;
  }
  return { stream: Readable.from(chunks), sha256: createHash('sha256').update(data).digest('hex') };
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe.each(drivers)('the %s storage driver', (_name, open) => {
  const storage = open();

  it('writes a streamed object of several parts and reads back the same bytes', async () => {
    const { stream, sha256 } = randomStream(20 * 1024 * 1024 + 12345);
    const progress: number[] = [];
    const { size } = await storage.putStream('a/big.bin', stream, (p) => progress.push(p.bytes));
    expect(size).toBe(20 * 1024 * 1024 + 12345);
    expect(sha(await readAll(await storage.get('a/big.bin')))).toBe(sha256);
    expect((await storage.stat('a/big.bin'))?.size).toBe(size);
    expect(progress.at(-1)).toBe(size);
  });

  it('writes an empty stream as an empty object', async () => {
    await storage.putStream('a/empty.bin', Readable.from([]));
    expect((await storage.stat('a/empty.bin'))?.size).toBe(0);
  });

  it('reads an inclusive byte range', async () => {
    await storage.put('a/small.txt', Buffer.from('0123456789'));
    expect((await readAll(await storage.get('a/small.txt', { start: 2, end: 5 }))).toString()).toBe('2345');
  });

  it('lists objects under a prefix in key order, and nothing else', async () => {
    await storage.put('list/b', Buffer.from('b'));
    await storage.put('list/a/1', Buffer.from('a1'));
    await storage.put('listing-not-this/x', Buffer.from('x'));
    const keys: string[] = [];
    for await (const object of storage.list('list/')) keys.push(object.key);
    expect(keys).toEqual(['list/a/1', 'list/b']);
  });

  it('names the folders one level below a prefix, not the objects beside them or below them', async () => {
    await storage.put('kids/alpha/1/manifest.json', Buffer.from('1'));
    await storage.put('kids/alpha/2/manifest.json', Buffer.from('2'));
    await storage.put('kids/_wal/000000010000000000000001', Buffer.from('w'));
    await storage.put('kids/beta/x', Buffer.from('x'));
    await storage.put('kids/loose-object', Buffer.from('l'));
    expect(await storage.children('kids/')).toEqual(['_wal', 'alpha', 'beta']);
    expect(await storage.children('kids/alpha/')).toEqual(['1', '2']);
    expect(await storage.children('nothing-here/')).toEqual([]);
  });

  it('says a missing key does not exist, and removes idempotently', async () => {
    expect(await storage.stat('nope/missing')).toBeUndefined();
    await expect(storage.get('nope/missing')).rejects.toMatchObject({ type: 'BackupNotFound' });
    await storage.put('gone/x', Buffer.from('x'));
    await storage.remove('gone/x');
    await storage.remove('gone/x');
    expect(await storage.stat('gone/x')).toBeUndefined();
  });

  it('leaves no object and no unfinished upload when the incoming stream fails', async () => {
    const failing = new Readable({ read() {} });
    failing.push(randomBytes(9 * 1024 * 1024));
    setTimeout(() => failing.destroy(new Error('source tool died')), 50);
    await expect(storage.putStream('fail/obj', failing)).rejects.toThrow(/source tool died/);
    expect(await storage.stat('fail/obj')).toBeUndefined();
    const leftovers = [];
    for await (const upload of storage.listIncomplete('fail/')) leftovers.push(upload);
    expect(leftovers).toEqual([]);
  });

  it('never overwrites: other bytes under an existing key are refused by name and the stored object stays', async () => {
    await storage.put('again/k', Buffer.from('first'));
    const small = await storage.put('again/k', Buffer.from('other')).catch((e: unknown) => e);
    expect(small).toMatchObject({ type: 'AlreadyExists', retryable: false });
    expect((small as Error).message).toContain('again/k');
    await expect(storage.putStream('again/k', Readable.from([Buffer.from('second')]))).rejects.toMatchObject({ type: 'AlreadyExists' });
    const { stream } = randomStream(9 * 1024 * 1024);
    await expect(storage.putStream('again/k', stream)).rejects.toMatchObject({ type: 'AlreadyExists' });
    expect((await readAll(await storage.get('again/k'))).toString()).toBe('first');
    const leftovers = [];
    for await (const upload of storage.listIncomplete('again/')) leftovers.push(upload);
    expect(leftovers).toEqual([]);
  });

  it('refuses other bytes of the very same length: the stored object is compared by content, not by size', async () => {
    const first = randomBytes(9 * 1024 * 1024);
    await storage.putStream('same-size/k', Readable.from([first]));
    const other = Buffer.from(first);
    other[other.length - 1]! ^= 1;
    await expect(storage.putStream('same-size/k', Readable.from([other.subarray(0, 5_000_000), other.subarray(5_000_000)]))).rejects.toMatchObject({ type: 'AlreadyExists' });
    await expect(storage.put('same-size/k', other)).rejects.toMatchObject({ type: 'AlreadyExists' });
    expect(sha(await readAll(await storage.get('same-size/k')))).toBe(sha(first));
    const leftovers = [];
    for await (const upload of storage.listIncomplete('same-size/')) leftovers.push(upload);
    expect(leftovers).toEqual([]);
  });

  it('accepts a write of the very bytes already stored, as a retry does', async () => {
    await storage.put('retry/small', Buffer.from('same'));
    await storage.put('retry/small', Buffer.from('same'));
    const data = randomBytes(9 * 1024 * 1024);
    await storage.putStream('retry/big', Readable.from([data]));
    expect(await storage.putStream('retry/big', Readable.from([data.subarray(0, 5_000_000), data.subarray(5_000_000)]))).toEqual({ size: data.length });
    expect(sha(await readAll(await storage.get('retry/big')))).toBe(sha(data));
    const keys: string[] = [];
    for await (const object of storage.list('retry/')) keys.push(object.key);
    expect(keys).toEqual(['retry/big', 'retry/small']);
    const leftovers = [];
    for await (const upload of storage.listIncomplete('retry/')) leftovers.push(upload);
    expect(leftovers).toEqual([]);
  });
});

describe('what each storage driver says it can do', () => {
  it('a local directory has conditional writes but no versions and no Object Lock', async () => {
    expect(await drivers[0]![1]().features()).toEqual({ versioning: false, objectLock: false, conditionalWrites: true });
  });

  it('a plain SeaweedFS bucket honours If-None-Match but has no versions and no Object Lock', async () => {
    expect(await drivers[1]![1]().features()).toEqual({ versioning: false, objectLock: false, conditionalWrites: true });
  });
});

describe('the S3 driver against a server that refuses it', () => {
  it('reports a wrong secret as a configuration error, not a retryable one', async () => {
    const wrong = new S3Storage({ bucket: s3.bucket, prefix: 'x/', region: s3.region, endpoint: s3.endpoint, forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: 'not-the-secret' } });
    const error = await wrong.put('k', Buffer.from('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LifeboatError);
    expect(error).toMatchObject({ type: 'Config' });
    expect((error as Error).message).toContain(s3.bucket);
  });

  it('gives up on an endpoint that never completes the connection, as a Storage error that says so, instead of waiting minutes for the OS', async () => {
    // A listener that never accepts, whose one-place queue is already taken: the next SYN gets no
    // answer, as from a firewalled or blackholed region.
    const listener = execa('python3', ['-c', 'import socket,time\ns=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(0); print(s.getsockname()[1], flush=True); time.sleep(300)']);
    listener.catch(() => undefined);
    try {
      const port = await new Promise<number>((resolve) => listener.stdout!.once('data', (line: Buffer) => resolve(Number(line.toString().trim()))));
      const filler = connect({ host: '127.0.0.1', port }).on('error', () => undefined);
      await once(filler, 'connect');
      const dead = new S3Storage({ bucket: 'b', prefix: 'x/', region: 'r', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true,
        credentials: { accessKeyId: 'k', secretAccessKey: 's' }, connectTimeoutMs: 300 });
      const started = Date.now();
      const error = await dead.put('k', Buffer.from('x')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LifeboatError);
      expect(error).toMatchObject({ type: 'Storage' });
      expect((error as Error).message).toMatch(/cannot read the versioning state of the bucket: no connection to http:\/\/127\.0\.0\.1:\d+ within 300 ms/);
      // Five attempts of 300 ms and the SDK's backoff: seconds, where the OS alone would take minutes.
      expect(Date.now() - started).toBeLessThan(30_000);
      filler.destroy();
    } finally {
      listener.kill();
    }
  });

  it('keeps a download open while its reader pauses far longer than the connection timeout', async () => {
    const storage = new S3Storage({ bucket: s3.bucket, prefix: `pause-${Date.now()}/`, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, connectTimeoutMs: 300 });
    const data = randomBytes(8 * 1024 * 1024);
    await storage.put('big', data);
    const hash = createHash('sha256');
    let first = true;
    for await (const chunk of await storage.get('big')) {
      hash.update(chunk as Buffer);
      // A slow pg_restore that reads nothing for a while: an idle-socket timeout would cut it here.
      if (first) await new Promise((resolve) => setTimeout(resolve, 2000));
      first = false;
    }
    expect(hash.digest('hex')).toBe(sha(data));
    await storage.remove('big');
  });

  it('finds and aborts a multipart upload that a crash left behind', async () => {
    const storage = drivers[1]![1]() as S3Storage;
    let uploadId: string | undefined;
    const stalled = new Readable({ read() {} });
    stalled.push(randomBytes(9 * 1024 * 1024));
    const put = storage.putStream('crash/obj', stalled, (p) => { uploadId ??= p.uploadId; });
    await expect.poll(() => uploadId, { timeout: 10_000 }).toBeDefined();
    const found = [];
    for await (const upload of storage.listIncomplete('crash/')) found.push(upload);
    expect(found).toEqual([{ key: 'crash/obj', uploadId }]);
    await storage.abortIncomplete(found[0]!);
    await storage.abortIncomplete(found[0]!);
    const after = [];
    for await (const upload of storage.listIncomplete('crash/')) after.push(upload);
    expect(after).toEqual([]);
    stalled.destroy(new Error('stop'));
    await put.catch(() => undefined);
  });
});

describe('the local driver', () => {
  it('never shows a half-written object under its final name', async () => {
    const storage = new LocalStorage(localRoot, 'atomic/');
    const slow = new Readable({ read() {} });
    slow.push(Buffer.alloc(1024 * 1024));
    const put = storage.putStream('obj', slow);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await storage.stat('obj')).toBeUndefined();
    expect(readdirSync(join(localRoot, 'atomic')).some((name) => name.startsWith('obj.partial-'))).toBe(true);
    slow.push(null);
    await put;
    expect((await storage.stat('obj'))?.size).toBe(1024 * 1024);
    expect(readdirSync(join(localRoot, 'atomic'))).toEqual(['obj']);
  });
});

describe('the local driver written by a tool through a descriptor', () => {
  const storage = new LocalStorage(localRoot, `fd-${randomBytes(3).toString('hex')}/`);
  const dir = join(localRoot, storage.location.slice(localRoot.length));
  const sample = join(localRoot, 'fd-sample.bin');
  writeFileSync(sample, randomBytes(20 * 1024 * 1024 + 4321));

  /** A tool (sh -c `command`) writes the object as its stdout; the write commits once the tool has succeeded. */
  const written = async (key: string, command: string, progress?: number[]) => {
    const direct = await storage.openDescriptorWrite(key, (p) => progress?.push(p.bytes));
    const running = startPipeline([{ tool: 'sh', args: ['-c', command], what: 'the test\'s writer' }], 'ignore', direct.input);
    return direct.commit(running.finished);
  };
  const partials = () => readdirSync(join(dir, 'x'), { recursive: true }).map(String).filter((name) => name.includes('.partial-'));

  it('stores what the tool wrote, with the size and SHA-256 that sha256sum gives of the stored file, and reports its progress', async () => {
    const progress: number[] = [];
    const digest = await written('x/a.bin', `cat ${sample}`, progress);
    const { stdout } = await execa('sha256sum', [join(dir, 'x/a.bin')]);
    expect(digest).toEqual({ size: statSync(sample).size, sha256: stdout.split(' ')[0] });
    expect(readFileSync(join(dir, 'x/a.bin')).equals(readFileSync(sample))).toBe(true);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toBe(digest.size);
    expect(partials()).toEqual([]);
  });

  it('accepts a retry that wrote the same bytes under the taken name, and refuses other bytes, keeping the stored object', async () => {
    const first = await written('x/b.bin', `cat ${sample}`);
    expect(await written('x/b.bin', `cat ${sample}`)).toEqual(first);
    await expect(written('x/b.bin', `cat ${sample}; echo more`)).rejects.toMatchObject({ type: 'AlreadyExists', message: expect.stringContaining('refusing to overwrite x/b.bin') });
    expect((await digestFile(join(dir, 'x/b.bin')))).toEqual(first);
    expect(partials()).toEqual([]);
  });

  it('stores nothing when the tool fails half-way, and fails with the tool\'s error', async () => {
    await expect(written('x/c.bin', `cat ${sample}; echo "disk on fire" >&2; exit 3`)).rejects.toMatchObject({
      type: 'ToolFailed', message: expect.stringContaining('disk on fire'),
    });
    expect(await storage.stat('x/c.bin')).toBeUndefined();
    expect(partials()).toEqual([]);
  });

  it('stores nothing when the tool cannot be started, and says which tool is missing', async () => {
    const direct = await storage.openDescriptorWrite('x/d.bin');
    const running = startPipeline([{ tool: 'no_such_tool_lifeboat', args: [], what: 'a missing tool' }], 'ignore', direct.input);
    await expect(direct.commit(running.finished)).rejects.toMatchObject({ type: 'MissingTool' });
    expect(await storage.stat('x/d.bin')).toBeUndefined();
    expect(partials()).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)('names a full disk as the cause, not the tool\'s broken pipe, and stores nothing', async () => {
    const small = mkdtempSync(join(tmpdir(), 'lifeboat-full-'));
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    try {
      const full = new LocalStorage(small);
      const direct = await full.openDescriptorWrite('x/e.bin');
      const running = startPipeline([{ tool: 'cat', args: [sample], what: 'the test\'s writer' }], 'ignore', direct.input);
      const outcome = await direct.commit(running.finished).then(() => undefined, (error: unknown) => error);
      expect(outcome).toBeInstanceOf(LifeboatError);
      expect(outcome).toMatchObject({ type: 'Storage', message: expect.stringMatching(/ENOSPC|no space/i), hint: expect.stringContaining('the disk is full') });
      expect((outcome as Error).message).not.toMatch(/EPIPE|broken pipe/i);
      expect(await full.stat('x/e.bin')).toBeUndefined();
      expect(readdirSync(join(small, 'x'))).toEqual([]);
    } finally {
      await execa('umount', [small]);
      rmSync(small, { recursive: true, force: true });
    }
  });
});

describe.each(drivers)('the %s storage driver given a body that fails at once', (_name, open) => {
  it('rejects the write with the body\'s error and raises nothing else', async () => {
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', record);
    try {
      const body = new Readable({ read() {} });
      setImmediate(() => body.destroy(new Error('tool missing')));
      await expect(open().putStream('early/obj', body)).rejects.toThrow(/tool missing/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', record);
    }
  });
});
