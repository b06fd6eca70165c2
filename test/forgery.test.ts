import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups, scanCatalog } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { preparePlan } from '../activities/failover/plan';
import { putSigned } from '../activities/signed';
import { readAll, type StorageBackend } from '../activities/storage/backend';
import { keys, type FilesDescription, type Manifest, type PostgresPhysicalDescription } from '../lib/manifest';
import { walKeys } from '../lib/wal';
import { stageWal, walToStage } from '../activities/sources/postgres/stage-wal';
import { signatureKey, signerFromPem, type Signer } from '../lib/signing';
import { makeFixture, type Fixture } from './support/fixture';
import { trusted, testSigner } from './support/signing';
import { runBackup, runRestore } from './support/runs';
import { runVerify } from './support/verify';
import { failureOf, startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

/** Someone who can write to the bucket, with an Ed25519 key of their own: what a leaked S3 credential gives. */
function foreignSigner(): Signer {
  const { privateKey } = generateKeyPairSync('ed25519');
  return signerFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'a foreign key');
}

describe('a bucket writer cannot get a forged backup restored, verified, failed over to or counted', () => {
  let fixture: Fixture;
  let harness: Harness;
  let storage: StorageBackend;
  let real: Manifest;
  const tree = mkdtempSync(join(tmpdir(), 'lifeboat-forgery-'));
  const forged: Record<string, string> = {};

  /**
   * A backup as a forger would make one: a tar of a planted file, zstd and age to the recipient the
   * real manifests list, under a new id that sorts after every real one and finishes "tomorrow".
   */
  async function forge(name: string, sign: (key: string, bytes: Buffer) => Promise<void>, edit: (m: Manifest) => Manifest = (m) => m): Promise<string> {
    const id = `29991231T000000Z-${name.padEnd(12, '0').slice(0, 12)}`;
    const stage = join(fixture.dir, `forge-${name}`);
    mkdirSync(stage, { recursive: true });
    writeFileSync(join(stage, 'planted.txt'), `forged by ${name}\n`);
    const { stdout } = await execa('sh', ['-c', 'tar -C "$1" -cf - planted.txt | zstd -q | age -r "$2"', 'sh', stage, fixture.key.recipient], { encoding: 'buffer', stripFinalNewline: false });
    const data = Buffer.from(stdout);
    const object = { ...real.objects[0]!, key: keys.object('docs', id, 'files.tar.zst.age'), size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    await storage.put(object.key, data);
    const manifest = edit({ ...real, id, finishedAt: '2999-12-31T00:00:00.000Z', startedAt: '2999-12-31T00:00:00.000Z', objects: [object], parent: null });
    await sign(keys.manifest('docs', id), Buffer.from(JSON.stringify(manifest, null, 2)));
    forged[name] = id;
    return id;
  }

  beforeAll(async () => {
    writeFileSync(join(tree, 'real.txt'), 'the real data\n');
    fixture = await makeFixture(servers, () => ({ docs: { kind: 'files', region: 'stockholm', path: tree } }), {}, { failover: { targets: { docs: { directory: join(tree, '..', 'unused-failover-target') } } } });
    harness = await startHarness(fixture.config);
    storage = createDeps(fixture.config).storage('stockholm');
    await runBackup(harness.client, fixture.config, 'docs');
    [real] = (await listBackups(storage, trusted, 'docs')).map((entry) => entry.manifest) as [Manifest];

    const other = foreignSigner();
    await forge('foreignkey', (key, bytes) => putSigned(storage, key, bytes, other));
    await forge('unsigned', (key, bytes) => storage.put(key, bytes));
    // Signed by the trusted key, but not what its key says it is: a real manifest's bytes and signature copied to another id.
    const copiedId = '29991230T000000Z-copiedpath00';
    const realBytes = await readAll(await storage.get(keys.manifest('docs', real.id)));
    await storage.put(signatureKey(keys.manifest('docs', copiedId)), await readAll(await storage.get(signatureKey(keys.manifest('docs', real.id)))));
    await storage.put(keys.manifest('docs', copiedId), realBytes);
    forged.copiedpath = copiedId;
    // Even a trusted signature does not let a manifest name another source's objects (a restore would read them, retention delete them).
    await forge('otherprefix', (key, bytes) => putSigned(storage, key, bytes, testSigner), (m) => ({ ...m, objects: [{ ...m.objects[0]!, key: '_wal/docs/000000010000000000000001' }] }));
  }, 180_000);

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
    rmSync(tree, { recursive: true, force: true });
  });

  it('judges each forgery untrusted, with the reason, and lists only the real backup', async () => {
    const scan = await scanCatalog(storage, trusted, 'docs');
    expect(scan.entries.map((e) => e.manifest.id)).toEqual([real.id]);
    const reasons = Object.fromEntries(scan.untrusted.map((item) => [item.key.split('/')[1], item.reason]));
    expect(reasons[forged.foreignkey!]).toMatch(/not by any key in catalog.trustedKeys/);
    expect(reasons[forged.unsigned!]).toBe('it has no signature');
    expect(reasons[forged.copiedpath!]).toMatch(/says it is docs\/.* but is stored as docs\/29991230T000000Z-copiedpath00/);
    expect(reasons[forged.otherprefix!]).toMatch(/names object _wal\/docs\/000000010000000000000001, which is not a data object under its own prefix/);
  });

  it('restores the real newest backup for --latest, never a forged one, and refuses a forged one by id with exit code 19', async () => {
    const target = join(fixture.dir, 'latest');
    await runRestore(harness.client, fixture.config, { source: 'docs', backupId: 'latest', target });
    expect(readFileSync(join(target, 'real.txt'), 'utf8')).toBe('the real data\n');
    expect(existsSync(join(target, 'planted.txt'))).toBe(false);

    for (const name of ['foreignkey', 'unsigned', 'otherprefix']) {
      const refused = join(fixture.dir, `refused-${name}`);
      const failure = await failureOf(runRestore(harness.client, fixture.config, { source: 'docs', backupId: forged[name]!, target: refused }));
      expect(failure.type, name).toBe('Untrusted');
      expect(failure.message).toContain(keys.manifest('docs', forged[name]!));
      expect(existsSync(join(refused, 'planted.txt'))).toBe(false);
    }
    const cli = await execa(lifeboat, ['--config', fixture.configFile, 'restore', 'docs', '--backup', forged.foreignkey!, '--to', join(fixture.dir, 'cli-refused')], { env: fixture.env, reject: false });
    expect(cli.exitCode).toBe(19);
    expect(cli.stderr).toMatch(/is not trusted: its signature is not by any key in catalog.trustedKeys/);
  }, 180_000);

  it('verifies the real backup when asked for the newest, and fails a verification of a forged one', async () => {
    const verified = await runVerify(harness.client, fixture.config, { source: 'docs', region: 'stockholm', level: 'integrity' });
    expect(verified.regions).toMatchObject([{ backupId: real.id, outcome: 'passed' }]);
    const failure = await failureOf(runVerify(harness.client, fixture.config, { source: 'docs', region: 'stockholm', level: 'integrity', backupId: forged.unsigned! }));
    expect(`${failure.type} ${failure.message}`).toMatch(/Untrusted|not trusted/);
  }, 120_000);

  it('plans a failover onto the real backup only', async () => {
    const plan = await preparePlan(fixture.config, storage, trusted, { targetRegion: 'stockholm', recoveryPoint: 'latest', sources: ['docs'], drill: true });
    expect(plan.sources.map((s) => s.backupId)).toEqual([real.id]);
  });

  it('shows forgeries in "backups list" as UNTRUSTED, outside the JSON list of backups', async () => {
    const listed = await execa(lifeboat, ['--config', fixture.configFile, '--json', 'backups', 'list', '--source', 'docs', '--region', 'stockholm'], { env: fixture.env, reject: false });
    expect(listed.exitCode).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ id: string }>).map((row) => row.id)).toEqual([real.id]);
    for (const id of Object.values(forged)) expect(listed.stderr).toContain(`UNTRUSTED stockholm ${keys.manifest('docs', id)}`);
  });

  it('takes a full backup, and says why, when the tar state an increment would build on was replaced in the bucket', async () => {
    const state = real.objects.find((object) => object.role === 'state')!;
    const { stdout } = await execa('sh', ['-c', 'printf "forged state" | zstd -q | age -r "$1"', 'sh', fixture.key.recipient], { encoding: 'buffer', stripFinalNewline: false });
    await storage.remove(state.key);
    await storage.put(state.key, Buffer.from(stdout));
    const summary = await runBackup(harness.client, fixture.config, 'docs');
    const made = (await listBackups(storage, trusted, 'docs')).find((entry) => entry.manifest.id === summary.backupId)!.manifest;
    expect(made.parent).toBeNull();
    expect((made.description as FilesDescription).incrementalNote).toBe(`${state.key} does not match its manifest's SHA-256: took a full backup`);
  }, 120_000);
});

describe('archived WAL is replayed only with a record a trusted key signed', () => {
  let fixture: Fixture;
  let storage: StorageBackend;
  const segment = '000000010000000000000002';
  const base = {
    kind: 'postgres', mode: 'physical', serverVersion: '15', systemIdentifier: '1', timeline: 1, startLsn: '0/2000028', stopLsn: '0/2000100',
    startWalFile: segment, stopWalFile: segment, walSegmentBytes: 16 * 1024 * 1024, startTime: '2026-11-28 00:00:00 UTC', sizeBytes: 0, databases: ['postgres'], hasBackupManifest: false,
  } satisfies PostgresPhysicalDescription;
  const raw = Buffer.alloc(64 * 1024, 7);

  beforeAll(async () => {
    fixture = await makeFixture(servers, () => ({}));
    storage = createDeps(fixture.config).storage('stockholm');
    // A segment a forger wrote: encrypted to the right recipient, so only a signed record tells it apart.
    const { stdout } = await execa('sh', ['-c', 'zstd -q | age -r "$1"', 'sh', fixture.key.recipient], { input: raw, encoding: 'buffer', stripFinalNewline: false });
    await storage.put(walKeys.object('pg', segment), Buffer.from(stdout));
  });

  afterAll(() => fixture?.cleanup());

  const stage = (name: string) => {
    const directory = join(fixture.dir, name);
    mkdirSync(directory);
    return { directory, staging: walToStage(storage, 'pg', base).then((plan) => stageWal(storage, trusted, 'pg', plan, fixture.key.identityFile, directory, { segmentBytes: base.walSegmentBytes, onProgress: () => {} })) };
  };
  const record = { format: 'lifeboat-wal-record/1', file: segment, size: raw.length, sha256: createHash('sha256').update(raw).digest('hex') };

  it('refuses a segment without a record, names it, and stages nothing', async () => {
    const { directory, staging } = stage('no-record');
    await expect(staging).rejects.toMatchObject({ type: 'Untrusted', message: expect.stringMatching(new RegExp(`WAL file ${segment} of pg is not trusted: it has no signed record`)) });
    expect(existsSync(join(directory, segment))).toBe(false);
  });

  it('refuses a segment whose record is unsigned or signed by a foreign key, even when the bytes match it', async () => {
    await storage.put(walKeys.record('pg', segment), Buffer.from(JSON.stringify(record)));
    await expect(stage('unsigned').staging).rejects.toMatchObject({ type: 'Untrusted', message: expect.stringContaining('its record is not trusted: it has no signature') });
    await storage.put(signatureKey(walKeys.record('pg', segment)), foreignSigner().sign(Buffer.from(JSON.stringify(record))));
    await expect(stage('foreign').staging).rejects.toMatchObject({ type: 'Untrusted', message: expect.stringContaining('not by any key in catalog.trustedKeys') });
  });

  it('stages the segment once its record is signed by a trusted key', async () => {
    await storage.remove(signatureKey(walKeys.record('pg', segment)));
    await storage.remove(walKeys.record('pg', segment));
    await putSigned(storage, walKeys.record('pg', segment), Buffer.from(JSON.stringify(record)), testSigner);
    const { directory, staging } = stage('signed');
    expect(await staging).toMatchObject({ files: 1, bytes: raw.length, through: segment });
    expect(readFileSync(join(directory, segment)).equals(raw)).toBe(true);
  });
});
