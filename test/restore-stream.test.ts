import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../activities/pipeline/digest';
import { restoreObject, verifyObject } from '../activities/restore-stream';
import type { StorageBackend } from '../activities/storage/backend';
import { LocalStorage } from '../activities/storage/local';
import { LifeboatError } from '../lib/errors';
import type { StoredObject } from '../lib/manifest';
import { ageKey, type AgeKey } from './support/fixture';
import { replaceObject } from './support/tamper';

describe('reading a stored object through age and zstd', () => {
  let dir: string;
  let key: AgeKey;
  let otherKey: AgeKey;
  let storage: LocalStorage;

  /** Stores `bytes` and returns the object as a manifest would record it. */
  const store = async (name: string, bytes: Buffer): Promise<StoredObject> => {
    await storage.put(name, bytes);
    return { key: name, role: 'data', ...digestOf(bytes) } as StoredObject;
  };
  const encrypted = async (raw: Buffer, compress = true, recipient = key.recipient): Promise<Buffer> => {
    const compressed = compress ? (await execa('zstd', ['-q', '-c'], { input: raw, encoding: 'buffer' })).stdout : raw;
    return Buffer.from((await execa('age', ['-r', recipient], { input: compressed, encoding: 'buffer' })).stdout);
  };
  const failure = (run: Promise<unknown>) => run.then(() => { throw new Error('expected a failure'); }, (error: unknown) => error as LifeboatError);
  const verify = (target: StorageBackend, object: StoredObject, identity = key.identityFile) =>
    new MockActivityEnvironment().run(verifyObject, target, object, identity, 'backup test');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-stream-'));
    key = await ageKey(dir);
    otherKey = await ageKey(dir, 'other');
    storage = new LocalStorage(join(dir, 'store'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a flipped byte in a 12 MiB object as a SHA-256 mismatch that also names age, never as EPIPE', async () => {
    const bytes = await encrypted(randomBytes(12 * 1024 * 1024));
    const object = await store('big/flipped', bytes);
    const damaged = Buffer.from(bytes);
    damaged[Math.floor(damaged.length / 2)]! ^= 0x10;
    await replaceObject(storage, object.key, damaged);
    // Restoring into a consumer that reads everything: age stops half-way, the object is still read to its end.
    const error = await failure(new MockActivityEnvironment().run(restoreObject, storage, object, key.identityFile, 'backup test', { tool: 'cat', args: [], what: 'reading' }));
    expect(error).toBeInstanceOf(LifeboatError);
    expect(error.type).toBe('ChecksumMismatch');
    expect(error.message).toMatch(/^big\/flipped: stored object does not match its manifest \(SHA-256: /);
    expect(error.message).toContain('age authentication failed');
    expect(error.message).not.toMatch(/EPIPE|ECONNRESET/);
    expect(error.retryable).toBe(false);
  });

  it('reports bytes that match the manifest but do not decompress as damage naming decompression', async () => {
    const object = await store('not-zstd', await encrypted(randomBytes(50_000), false));
    const error = await failure(verify(storage, object));
    expect(error).toMatchObject({ type: 'ChecksumMismatch', message: expect.stringMatching(/^not-zstd: decompression failed: /) });
  });

  it('reports an intact object encrypted to another key as BadKey, not as damage', async () => {
    const object = await store('other-key', await encrypted(randomBytes(1000), true, otherKey.recipient));
    const error = await failure(verify(storage, object));
    expect(error).toMatchObject({ type: 'BadKey', message: expect.stringContaining('is not one of the backup\'s recipients') });
  });

  it('stops reading an object that goes on past the size its manifest records', async () => {
    const object = await store('endless', await encrypted(Buffer.from('small')));
    let served = 0;
    // A hostile server that never ends its body: the verdict comes after the recorded size, not at the end.
    const endless: StorageBackend = Object.assign(Object.create(storage) as StorageBackend, {
      get: async () => new Readable({ read() { served += 65536; this.push(randomBytes(65536)); } }),
    });
    const error = await failure(verify(endless, object));
    expect(error).toMatchObject({ type: 'ChecksumMismatch', message: expect.stringContaining(`size: more than the ${object.size} bytes the manifest records`) });
    expect(served).toBeLessThan(16 * 65536);
  });

  it('hands every byte to a consumer that starts reading only after the object was read', async () => {
    // The pipes fill while the consumer sleeps, so the last bytes still wait in Node when the read ends.
    const raw = randomBytes(4 * 1024 * 1024);
    const object = await store('late-reader', await encrypted(raw));
    const out = join(dir, 'late.bin');
    await new MockActivityEnvironment().run(restoreObject, storage, object, key.identityFile, 'backup test',
      { tool: 'sh', args: ['-c', `sleep 1 && exec dd of=${out} bs=1M status=none`], what: 'writing late' });
    expect(digestOf(readFileSync(out))).toEqual(digestOf(raw));
  });

  it('passes an intact object and hands its raw bytes to the consumer', async () => {
    const raw = randomBytes(3 * 1024 * 1024);
    const object = await store('intact', await encrypted(raw));
    const out = join(dir, 'out.bin');
    await new MockActivityEnvironment().run(restoreObject, storage, object, key.identityFile, 'backup test', { tool: 'dd', args: [`of=${out}`, 'status=none'], what: 'writing' });
    expect(digestOf(readFileSync(out))).toEqual(digestOf(raw));
  });
});
