import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { chunksOf } from '../activities/storage/chunks';
import { MAX_PARTS, maxObjectSize, partSize } from '../activities/storage/part-size';

describe('multipart part sizes', () => {
  it('fit an object of 1 TiB within the S3 limit of 10,000 parts', () => {
    expect(maxObjectSize()).toBeGreaterThanOrEqual(1024 ** 4);
    expect(() => partSize(MAX_PARTS + 1)).toThrow(/10000 parts/);
  });

  it('keep ordinary backups at 8 MiB parts and never go below the S3 minimum of 5 MiB', () => {
    expect(partSize(1)).toBe(8 * 1024 * 1024);
    expect(partSize(1000)).toBe(8 * 1024 * 1024);
    for (let part = 1; part <= MAX_PARTS; part += 997) expect(partSize(part)).toBeGreaterThanOrEqual(5 * 1024 * 1024);
  });
});

describe('cutting a stream into parts', () => {
  it('yields parts of exactly the scheduled size and a shorter last one, bytes unchanged', async () => {
    const input = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const stream = Readable.from([input.subarray(0, 7), input.subarray(7, 500), input.subarray(500)]);
    const parts: Buffer[] = [];
    for await (const part of chunksOf(stream, (n) => (n === 1 ? 300 : 400))) parts.push(part);
    expect(parts.map((p) => p.length)).toEqual([300, 400, 300]);
    expect(Buffer.concat(parts).equals(input)).toBe(true);
  });
});

describe('backup ids', () => {
  it('differ for two runs started in the same second, whose UUIDv7 run ids share their leading digits', async () => {
    const { backupIdFor } = await import('../lib/manifest');
    const at = new Date('2026-11-22T04:15:26.500Z');
    const a = backupIdFor(at, '01a20179-25be-7894-9367-26db2eec0da6');
    const b = backupIdFor(at, '01a20179-25be-7f22-a808-2c9509175f94');
    expect(a).not.toBe(b);
    expect(a).toBe('20261122T041526Z-26db2eec0da6');
  });
});
