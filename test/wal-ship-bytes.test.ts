import { putSigned } from '../activities/signed';
import { testSigner, trusted } from './support/signing';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps } from '../activities/deps';
import { readAll } from '../activities/storage/backend';
import { shipSpool } from '../activities/wal/ship';
import type { Config } from '../lib/config/schema';
import { walKeys } from '../lib/wal';
import { makeFixture, type Fixture } from './support/fixture';
import { decryptArchived, sha256, spooled } from './support/wal';

const servers = inject('servers');
const source = 'bytes-db';
const MiB = 1024 * 1024;

describe('the WAL shipper deletes a spooled file only when every region holds the same bytes, and streams it', () => {
  let fixture: Fixture;
  let counter = 0x10;
  const storage = (region: string) => createDeps(fixture.config).storage(region);

  /** A settled, full-size "segment" in its own spool, and the config that ships that spool. */
  function spoolWith(files: Array<{ size: number; data?: Buffer }>): { spool: string; names: string[]; config: Config } {
    const spool = join(fixture.dir, `spool-${counter}`);
    mkdirSync(spool);
    const names = files.map(({ size, data }) => {
      const name = `00000001000000000000${(counter += 1).toString(16).toUpperCase().padStart(4, '0')}`;
      const path = join(spool, name);
      if (data) writeFileSync(path, data);
      else writeRandom(path, size);
      const old = (Date.now() - 10_000) / 1000;
      utimesSync(path, old, old);
      return name;
    });
    const own = fixture.config.sources[source] as Extract<Config['sources'][string], { kind: 'postgres' }>;
    return { spool, names, config: { ...fixture.config, sources: { ...fixture.config.sources, [source]: { ...own, wal: { ...own.wal!, spool } } } } };
  }

  beforeAll(async () => {
    fixture = await makeFixture(servers, (ctx) => ({ [source]: ctx.postgres('postgres', { mode: 'physical', wal: { spool: '/nonexistent' } }) }));
  });

  afterAll(() => fixture?.cleanup());

  it('keeps a spooled segment whose name a region already holds with other bytes, reports a ChecksumMismatch naming it, and still ships the rest', async () => {
    const { spool, names, config } = spoolWith([{ size: MiB }, { size: MiB }, { size: MiB }]);
    const [foreign, recorded, clean] = names as [string, string, string];
    // gothenburg: an object under the name, with no record of its bytes (another writer, or an older shipper).
    const stranger = randomBytes(4096);
    await storage('gothenburg').put(walKeys.object(source, foreign), stranger);
    // stockholm: a record of other bytes (another cluster archiving under this source name).
    const other = { format: 'lifeboat-wal-record/1', file: recorded, size: MiB, sha256: sha256(randomBytes(MiB)) };
    await putSigned(storage('stockholm'), walKeys.record(source, recorded), Buffer.from(JSON.stringify(other)), testSigner);

    const result = await shipSpool(config, source, { storage, trusted, signer: () => testSigner });
    expect(result.shipped).toEqual([clean]);
    expect(result.waiting).toEqual([foreign, recorded]);
    expect(result.failures).toEqual(expect.arrayContaining([
      { region: 'gothenburg', file: foreign, type: 'ChecksumMismatch', message: expect.stringContaining(`${walKeys.object(source, foreign)} exists without a record of its bytes`) as string },
      { region: 'stockholm', file: recorded, type: 'ChecksumMismatch', message: expect.stringContaining(`${walKeys.record(source, recorded)} records other bytes`) as string },
    ]));
    expect(result.failures).toHaveLength(2);
    expect(spooled(spool)).toEqual([foreign, recorded]);
    // Nothing stored was replaced; the regions without a conflict got the files.
    expect(await readAll(await storage('gothenburg').get(walKeys.object(source, foreign)))).toEqual(stranger);
    expect(await storage('stockholm').stat(walKeys.object(source, recorded))).toBeUndefined();
    expect(sha256(await decryptArchived(storage('stockholm'), source, foreign, fixture.key.identityFile))).toBe(sha256(readFileSync(join(spool, foreign))));
    expect(sha256(await decryptArchived(storage('gothenburg'), source, recorded, fixture.key.identityFile))).toBe(sha256(readFileSync(join(spool, recorded))));

    // Every later round says the same, and keeps the files.
    const again = await shipSpool(config, source, { storage, trusted, signer: () => testSigner });
    expect(again).toMatchObject({ shipped: [], waiting: [foreign, recorded], uploaded: { stockholm: 0, gothenburg: 0 } });
    expect(spooled(spool)).toEqual([foreign, recorded]);
  });

  it('a round retried after a crash between the record and the object uploads the object and clears the spool', async () => {
    const data = randomBytes(MiB);
    const { spool, names: [name], config } = spoolWith([{ size: MiB, data }]);
    const record = { format: 'lifeboat-wal-record/1', file: name, size: MiB, sha256: sha256(data) };
    for (const region of ['stockholm', 'gothenburg']) await putSigned(storage(region), walKeys.record(source, name!), Buffer.from(JSON.stringify(record)), testSigner);
    const result = await shipSpool(config, source, { storage, trusted, signer: () => testSigner });
    expect(result).toMatchObject({ shipped: [name], failures: [], uploaded: { stockholm: 1, gothenburg: 1 } });
    expect(spooled(spool)).toEqual([]);
    for (const region of ['stockholm', 'gothenburg']) expect(sha256(await decryptArchived(storage(region), source, name!, fixture.key.identityFile))).toBe(sha256(data));
  });

  it('ships a 256 MiB segment to every region with the worker\'s memory growing by a small fraction of it', async () => {
    const size = 256 * MiB;
    const { spool, names: [name], config } = spoolWith([{ size }]);
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 10);
    try {
      const result = await shipSpool(config, source, { storage, trusted, signer: () => testSigner });
      expect(result).toMatchObject({ shipped: [name], failures: [] });
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage.rss());
    const grown = peak - baseline;
    console.log(`shipping a ${size / MiB} MiB segment grew RSS by ${(grown / MiB).toFixed(1)} MiB`);
    // Holding it whole takes the segment and its ciphertext at once (over 2 × size); streaming takes
    // S3 parts in flight per region and pipe buffers, whatever the segment's size.
    expect(grown).toBeLessThan(size / 2);
    expect(spooled(spool)).toEqual([]);
    const record = JSON.parse((await readAll(await storage('gothenburg').get(walKeys.record(source, name!)))).toString()) as { size: number };
    expect(record.size).toBe(size);
    rmSync(spool, { recursive: true, force: true });
  }, 300_000);
});

/** Incompressible bytes written in chunks, so the test itself never holds the file. */
function writeRandom(path: string, size: number): void {
  const fd = openSync(path, 'w');
  try {
    for (let written = 0; written < size; written += MiB) writeSync(fd, randomBytes(Math.min(MiB, size - written)));
  } finally {
    closeSync(fd);
  }
}
