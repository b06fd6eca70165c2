import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { scanCatalog } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import type { StorageBackend } from '../activities/storage/backend';
import type { Config } from '../lib/config/schema';
import { keys } from '../lib/manifest';
import { generateSigningKey, parseTrustedKey, signatureKey } from '../lib/signing';
import { ageKey, makeFixture, type Fixture } from './support/fixture';
import { testPublicKey, trusted } from './support/signing';
import { runBackup, runRestore } from './support/runs';
import { runVerify } from './support/verify';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

/**
 * The documented rotation (README, "Key management"): add the new signing key's public key and the
 * new age recipient, move the workers to them, keep the old public key trusted and the old identity
 * beside the new one until the last backup made with them has expired, then retire them.
 */
describe('rotating the catalog signing key and the age recipient', () => {
  let fixture: Fixture;
  let storage: StorageBackend;
  let rotated: Config;
  let newKeyLine: string;
  let oldId: string;
  let newId: string;
  const tree = mkdtempSync(join(tmpdir(), 'lifeboat-rotation-'));

  async function withHarness<T>(config: Config, run: (harness: Harness) => Promise<T>): Promise<T> {
    const harness = await startHarness(config);
    try {
      return await run(harness);
    } finally {
      await harness.close();
    }
  }

  beforeAll(async () => {
    writeFileSync(join(tree, 'file.txt'), 'before rotation\n');
    fixture = await makeFixture(servers, () => ({ docs: { kind: 'files', region: 'stockholm', path: tree } }));
    storage = createDeps(fixture.config).storage('stockholm');
    oldId = (await withHarness(fixture.config, (h) => runBackup(h.client, fixture.config, 'docs'))).backupId;

    newKeyLine = generateSigningKey(join(fixture.dir, 'catalog-2.key'));
    const newAge = await ageKey(fixture.dir, 'key-2');
    // One identity file may hold several identities: age tries each, so old and new backups both decrypt.
    const identities = join(fixture.dir, 'identities');
    writeFileSync(identities, readFileSync(fixture.key.identityFile, 'utf8') + readFileSync(newAge.identityFile, 'utf8'), { mode: 0o600 });
    rotated = {
      ...fixture.config,
      catalog: { trustedKeys: [testPublicKey, newKeyLine], signingKeyFile: join(fixture.dir, 'catalog-2.key') },
      encryption: { recipients: [newAge.recipient], identityFile: identities },
    };
    writeFileSync(join(tree, 'file.txt'), 'after rotation\n');
    newId = (await withHarness(rotated, (h) => runBackup(h.client, rotated, 'docs'))).backupId;
  }, 240_000);

  afterAll(() => {
    fixture?.cleanup();
    rmSync(tree, { recursive: true, force: true });
  });

  it('signs and encrypts new backups with the new keys only', async () => {
    const scan = await scanCatalog(storage, createDeps(rotated).trusted, 'docs');
    const byId = new Map(scan.entries.map((e) => [e.manifest.id, e]));
    expect(byId.get(newId)!.keyId).toBe(parseTrustedKey(newKeyLine).id);
    expect(byId.get(newId)!.manifest.encryption.recipients).toEqual(rotated.encryption.recipients);
    expect(byId.get(oldId)!.keyId).toBe(trusted[0]!.id);
    expect(byId.get(oldId)!.manifest.encryption.recipients).toEqual(fixture.config.encryption.recipients);
  });

  it('still verifies and restores the old backups while the old key stays trusted and the old identity beside the new one', async () => {
    await withHarness(rotated, async (harness) => {
      for (const id of [oldId, newId]) {
        const verified = await runVerify(harness.client, rotated, { source: 'docs', region: 'stockholm', level: 'integrity', backupId: id });
        expect(verified.outcome, id).toBe('passed');
      }
      const target = join(fixture.dir, 'old-restored');
      await runRestore(harness.client, rotated, { source: 'docs', backupId: oldId, target });
      expect(readFileSync(join(target, 'file.txt'), 'utf8')).toBe('before rotation\n');
    });
  }, 180_000);

  it('makes the old backups untrusted once the old key is retired, and the new ones stay trusted', async () => {
    const retired = createDeps({ ...rotated, catalog: { ...rotated.catalog, trustedKeys: [newKeyLine] } });
    const scan = await scanCatalog(storage, retired.trusted, 'docs');
    expect(scan.entries.map((e) => e.manifest.id)).toEqual([newId]);
    expect(scan.untrusted.map((u) => u.key)).toEqual([keys.manifest('docs', oldId)]);
  });
});

describe('lifeboat catalog sign --trust-existing: the one-time step for backups made before signing', () => {
  let fixture: Fixture;
  let storage: StorageBackend;
  let harness: Harness;
  let configFile: string;
  const tree = mkdtempSync(join(tmpdir(), 'lifeboat-trust-existing-'));
  const cli = (args: string[]) => execa(lifeboat, ['--config', configFile, ...args], { env: fixture.env, reject: false });

  beforeAll(async () => {
    writeFileSync(join(tree, 'file.txt'), 'old\n');
    fixture = await makeFixture(servers, () => ({ docs: { kind: 'files', region: 'stockholm', path: tree } }));
    configFile = fixture.configFile;
    storage = createDeps(fixture.config).storage('stockholm');
    harness = await startHarness(fixture.config);
    await runBackup(harness.client, fixture.config, 'docs');
    await runVerify(harness.client, fixture.config, { source: 'docs', region: 'stockholm', level: 'integrity' });
    // What an older Lifeboat left: the same objects, no signatures.
    for await (const object of storage.list('docs/')) if (object.key.endsWith('.sig')) await storage.remove(object.key);
  }, 180_000);

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
    rmSync(tree, { recursive: true, force: true });
  });

  it('refuses to sign without --trust-existing, lists in a dry run, then signs so the backup is trusted again', async () => {
    expect((await scanCatalog(storage, trusted, 'docs')).entries).toEqual([]);
    const bare = await cli(['catalog', 'sign']);
    expect(bare.exitCode).toBe(2);
    expect(bare.stderr).toContain('--trust-existing');

    const dry = await cli(['--json', 'catalog', 'sign', '--trust-existing', '--dry-run']);
    expect(dry.exitCode).toBe(0);
    const planned = JSON.parse(dry.stdout) as Array<{ key: string; action: string; detail: string }>;
    expect(planned.map((row) => row.detail).sort()).toEqual(['manifest', 'verify record']);
    expect(planned.every((row) => row.action === 'would sign')).toBe(true);
    expect((await scanCatalog(storage, trusted, 'docs')).entries).toEqual([]);

    const signed = await cli(['catalog', 'sign', '--trust-existing']);
    expect(signed.exitCode).toBe(0);
    expect((await scanCatalog(storage, trusted, 'docs')).entries).toHaveLength(1);
    const restored = join(fixture.dir, 'restored');
    await runRestore(harness.client, fixture.config, { source: 'docs', target: restored });
    expect(readFileSync(join(restored, 'file.txt'), 'utf8')).toBe('old\n');
  }, 120_000);

  it('never signs over a manifest another key signed, nor one that is not what its key says', async () => {
    const [entry] = (await scanCatalog(storage, trusted, 'docs')).entries;
    const misplaced = keys.manifest('docs', `${entry!.manifest.id}x`);
    await storage.put(misplaced, Buffer.from(JSON.stringify(entry!.manifest)));
    await storage.put(`${keys.manifest('docs', 'forged-by-other')}`, Buffer.from('{}'));
    await storage.put(signatureKey(keys.manifest('docs', 'forged-by-other')), Buffer.alloc(64, 1));
    const result = await cli(['--json', 'catalog', 'sign', '--trust-existing']);
    expect(result.exitCode).toBe(19);
    const rows = JSON.parse(result.stdout) as Array<{ key: string; action: string; detail: string }>;
    expect(rows.find((row) => row.key === misplaced)).toMatchObject({ action: 'refused', detail: expect.stringMatching(/but is stored as/) });
    expect(rows.find((row) => row.key === keys.manifest('docs', 'forged-by-other'))).toMatchObject({ action: 'refused', detail: expect.stringMatching(/already signed, its signature is not by any key/) });
    expect((await scanCatalog(storage, trusted, 'docs')).untrusted.map((u) => u.key).sort()).toEqual([keys.manifest('docs', 'forged-by-other'), misplaced].sort());
  });
});
