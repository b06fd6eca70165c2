import { createHash, randomBytes } from 'node:crypto';
import { CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps } from '../activities/deps';
import type { StorageBackend } from '../activities/storage/backend';
import { copyVerified, digestStored, keepableParts } from '../activities/sync-copy';
import type { StoredObject } from '../lib/manifest';
import { s3Client } from './harness/seaweedfs';
import { makeFixture, type Fixture } from './support/fixture';
import { incompleteIn } from './support/sync';

const servers = inject('servers');
const MiB = 1024 * 1024;

describe('copyVerified resuming an unfinished multipart upload', () => {
  let fixture: Fixture;
  let from: StorageBackend;
  let to: StorageBackend;
  const data = randomBytes(20 * MiB);
  const object: StoredObject = { key: 'copy-db/b1/dump', role: 'data', content: 'random', size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
  const never = new AbortController().signal;

  /** An upload at the destination holding the given first parts, as a dead copy would leave it. */
  async function unfinishedUpload(parts: Buffer[]): Promise<string> {
    const client = s3Client(servers.s3.gothenburg!);
    const Key = `${fixture.prefix}${object.key}`;
    const Bucket = servers.s3.gothenburg!.bucket;
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    for (const [index, Body] of parts.entries()) await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: index + 1, Body }));
    client.destroy();
    return UploadId!;
  }

  beforeAll(async () => {
    fixture = await makeFixture(servers, () => ({}));
    const deps = createDeps(fixture.config);
    [from, to] = [deps.storage('stockholm'), deps.storage('gothenburg')];
    await from.put(object.key, data);
  });

  afterAll(() => fixture?.cleanup());

  it('keeps the stored parts whose MD5 matches the source and uploads only the rest', async () => {
    const uploadId = await unfinishedUpload([data.subarray(0, 8 * MiB), data.subarray(8 * MiB, 16 * MiB)]);
    const parts = keepableParts((await to.listParts!(object.key, uploadId))!, object.size);
    expect(parts.map((p) => [p.part, p.size])).toEqual([[1, 8 * MiB], [2, 8 * MiB]]);
    const sent: number[] = [];
    const result = await copyVerified(from, to, object, (p) => sent.push(p.bytes), never, { uploadId, parts });
    expect(result.resumedFrom).toBe(16 * MiB);
    expect(sent[0]).toBe(16 * MiB);
    expect(await digestStored(to, object.key)).toEqual({ sha256: object.sha256, size: object.size });
    expect(await incompleteIn(to, 'copy-db/')).toEqual([]);
  });

  it('starts again from the first byte when a stored part differs from the source', async () => {
    await to.remove(object.key);
    const wrong = Buffer.from(data.subarray(8 * MiB, 16 * MiB));
    wrong[0] = wrong[0]! ^ 0xff;
    const uploadId = await unfinishedUpload([data.subarray(0, 8 * MiB), wrong]);
    const parts = keepableParts((await to.listParts!(object.key, uploadId))!, object.size);
    const result = await copyVerified(from, to, object, () => undefined, never, { uploadId, parts });
    expect(result.resumedFrom).toBe(0);
    expect(await digestStored(to, object.key)).toEqual({ sha256: object.sha256, size: object.size });
    expect(await incompleteIn(to, 'copy-db/')).toEqual([]);
  });

  it('keeps no part that is out of order, of another size, or the end of the object', () => {
    const part = (n: number, size = 8 * MiB) => ({ part: n, size, etag: `"${'a'.repeat(32)}"` });
    expect(keepableParts([part(2), part(3)], 40 * MiB)).toEqual([]);
    expect(keepableParts([part(1), part(2, 5 * MiB)], 40 * MiB)).toEqual([part(1)]);
    expect(keepableParts([part(1), part(2)], 16 * MiB)).toEqual([part(1)]);
    expect(keepableParts([{ ...part(1), etag: '"abc-2"' }], 40 * MiB)).toEqual([]);
  });

  it('refuses a source whose bytes differ from the manifest, leaving nothing at the destination', async () => {
    await to.remove(object.key);
    const lie = { ...object, key: 'copy-db/b2/dump', sha256: '0'.repeat(64) };
    await from.put(lie.key, data);
    await expect(copyVerified(from, to, lie, () => undefined, never)).rejects.toMatchObject({ type: 'ChecksumMismatch' });
    expect(await to.stat(lie.key)).toBeUndefined();
    expect(await incompleteIn(to, 'copy-db/')).toEqual([]);
  });
});
