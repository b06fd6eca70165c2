import { trusted, testSigner } from './support/signing';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { deleteBackupCopy } from '../activities/prune';
import { verifyActivities } from '../activities/verify';
import { readAll, type StorageBackend } from '../activities/storage/backend';
import type { Alert } from '../lib/alerts';
import { keys } from '../lib/manifest';
import { createSampleDatabase } from '../scripts/sample-db';
import { makeFixture, type Fixture } from './support/fixture';
import { startReceiver, type Receiver } from './support/receiver';
import { runBackup } from './support/runs';
import { runVerify, verifyRecords } from './support/verify';
import { failureOf, startHarness, type Harness } from './support/workers';
import { replaceObject } from './support/tamper';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };

describe('verifyRestore at the integrity level', () => {
  let fixture: Fixture;
  let harness: Harness;
  let receiver: Receiver;
  let stockholm: StorageBackend;
  let gothenburg: StorageBackend;
  let trees: string;

  const alerts = () => receiver.requests.map((r) => JSON.parse(r.body) as Alert);
  const newest = async (source: string) => (await listBackups(stockholm, trusted, source)).at(-1)!.manifest;
  const tree = (name: string) => {
    const dir = join(trees, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a.bin'), randomBytes(150_000));
    writeFileSync(join(dir, 'b.txt'), `hello ${name}\n`);
    return dir;
  };

  beforeAll(async () => {
    receiver = await startReceiver();
    await createSampleDatabase(pg, 'verify_shop');
    await execa('redis-cli', ['-p', String(servers.redis.port), 'SET', 'verify:key', 'kept']);
    trees = mkdtempSync(join(tmpdir(), 'lifeboat-verify-'));
    fixture = await makeFixture(servers, (ctx) => ({
      'app-db': ctx.postgres('verify_shop'),
      cache: { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${servers.redis.port}` },
      docs: { kind: 'files', region: 'stockholm', path: tree('docs') },
      flipped: { kind: 'files', region: 'stockholm', path: tree('flipped') },
      deleted: { kind: 'files', region: 'stockholm', path: tree('deleted') },
      rechained: { kind: 'files', region: 'stockholm', path: tree('rechained'), maxIncrements: 0 },
      pruned: { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${servers.redis.port}` },
    }), { sync: { afterBackup: false }, alerts: { channels: [{ type: 'webhook', url: `${receiver.url}/alerts` }] } });
    harness = await startHarness(fixture.config);
    const deps = createDeps(fixture.config);
    stockholm = deps.storage('stockholm');
    gothenburg = deps.storage('gothenburg');

    for (const source of ['app-db', 'cache', 'docs', 'flipped', 'deleted', 'rechained', 'rechained', 'pruned', 'pruned', 'pruned', 'pruned']) {
      await runBackup(harness.client, fixture.config, source);
    }
    // A second backup of docs is an increment: verifying it must walk the chain to the full.
    writeFileSync(join(trees, 'docs', 'c.txt'), 'added later\n');
    await runBackup(harness.client, fixture.config, 'docs');
    await harness.client.workflow.execute('syncRegions', { args: [{}], workflowId: `test-verify-sync-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm` });
  });

  afterAll(async () => {
    await harness?.close();
    await receiver?.close();
    fixture?.cleanup();
    rmSync(trees, { recursive: true, force: true });
  });

  for (const source of ['app-db', 'cache', 'docs']) {
    it(`verifies the newest backup of ${source} in both regions and writes a passed record in each`, async () => {
      const manifest = await newest(source);
      const result = await runVerify(harness.client, fixture.config, { source, level: 'integrity' });
      expect(result.outcome).toBe('passed');
      expect(result.regions.map((r) => [r.region, r.backupId, r.outcome]).sort()).toEqual([
        ['gothenburg', manifest.id, 'passed'],
        ['stockholm', manifest.id, 'passed'],
      ]);
      for (const storage of [stockholm, gothenburg]) {
        const records = await verifyRecords(storage, source, manifest.id);
        expect(records).toHaveLength(1);
        expect(records[0]).toMatchObject({ format: 'lifeboat-verify/1', source, backupId: manifest.id, level: 'integrity', outcome: 'passed', restoreMs: null });
        expect(records[0]!.checks.every((c) => c.ok)).toBe(true);
        expect(records[0]!.bytes).toBeGreaterThan(0);
        expect(records[0]!.tools).toHaveProperty('age');
      }
    });
  }

  it('checks every object and chain link of the full backup an increment builds on', async () => {
    const manifest = await newest('docs');
    expect(manifest.parent).not.toBeNull();
    const [record] = await verifyRecords(stockholm, 'docs', manifest.id);
    const names = record!.checks.map((c) => c.name);
    expect(names).toContain(`manifest chain ${manifest.parent}`);
    expect(names).toContain(`manifest chain ${manifest.id}`);
    expect(names.filter((n) => n.startsWith(`object docs/${manifest.parent}/`)).length).toBeGreaterThan(0);
  });

  it('verifies a named backup rather than the newest, in the one region asked for', async () => {
    const [full, increment] = (await listBackups(gothenburg, trusted, 'docs')).map((e) => e.manifest);
    const result = await runVerify(harness.client, fixture.config, { source: 'docs', region: 'gothenburg', level: 'integrity', backupId: full!.id });
    expect(result.regions.map((r) => [r.region, r.backupId, r.outcome])).toEqual([['gothenburg', full!.id, 'passed']]);
    expect(increment!.parent).toBe(full!.id);
    expect(await verifyRecords(gothenburg, 'docs', full!.id)).toHaveLength(1);
    expect(await verifyRecords(stockholm, 'docs', full!.id)).toHaveLength(0);
  });

  it('picks at random among the backups finished within the window, and only among those', async () => {
    const [full, increment] = (await listBackups(stockholm, trusted, 'docs')).map((e) => e.manifest);
    const { pickBackupToVerify } = verifyActivities(createDeps(fixture.config));
    const pick = (now: string, windowMs: number) => pickBackupToVerify({ source: 'docs', region: 'stockholm', strategy: 'random-within-window', windowMs, now });
    const both = new Set<string | null>();
    for (let i = 0; i < 30; i++) both.add(await pick(new Date(Date.parse(increment!.finishedAt) + 1000).toISOString(), 3_600_000));
    expect([...both].sort()).toEqual([full!.id, increment!.id].sort());
    // Seen from just after the full backup, the increment has not finished yet.
    expect(await pick(new Date(Date.parse(full!.finishedAt) + 1).toISOString(), 3_600_000)).toBe(full!.id);
  });

  it('fails on one flipped byte in a stored object, names the object, records and alerts', async () => {
    const manifest = await newest('flipped');
    const object = manifest.objects.find((o) => o.role === 'data')!;
    const bytes = await readAll(await stockholm.get(object.key));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await replaceObject(stockholm, object.key, bytes);

    const failure = await failureOf(runVerify(harness.client, fixture.config, { source: 'flipped', region: 'stockholm', level: 'integrity' }));
    expect(failure.type).toBe('VerificationFailed');
    expect(failure.message).toContain(object.key);
    expect(failure.message).toContain('does not match its manifest');
    await expectFailedRecordAndAlert('flipped', manifest.id, object.key);
  });

  it('fails on a deleted object, naming it as missing', async () => {
    const manifest = await newest('deleted');
    const object = manifest.objects.find((o) => o.role === 'data')!;
    await stockholm.remove(object.key);

    const failure = await failureOf(runVerify(harness.client, fixture.config, { source: 'deleted', region: 'stockholm', level: 'integrity' }));
    expect(failure.type).toBe('VerificationFailed');
    expect(failure.message).toContain(`${object.key} is missing`);
    await expectFailedRecordAndAlert('deleted', manifest.id, `${object.key} is missing`);
  });

  it('fails when an earlier manifest no longer hashes to what the next one chained to', async () => {
    const [first, second] = (await listBackups(stockholm, trusted, 'rechained')).map((e) => e.manifest);
    // Same content, one field changed: a valid manifest, but not the bytes the chain recorded.
    await replaceObject(stockholm, keys.manifest('rechained', first!.id), Buffer.from(`${JSON.stringify({ ...first, retentionTags: ['tampered'] }, null, 2)}\n`));

    const failure = await failureOf(runVerify(harness.client, fixture.config, { source: 'rechained', region: 'stockholm', level: 'integrity' }));
    expect(failure.type).toBe('VerificationFailed');
    expect(failure.message).toContain(`manifest chain ${second!.id}`);
    // Rewritten, its signature no longer holds: the link is reported broken, naming the untrusted manifest.
    expect(failure.message).toContain(`the manifest before it is not trusted: ${keys.manifest('rechained', first!.id)}`);
    await expectFailedRecordAndAlert('rechained', second!.id, `manifest chain ${second!.id}`);
  });

  it('proves the chain across backups that retention deleted, by their tombstones, and sync does not copy them back', async () => {
    const [first, second, third, fourth] = (await listBackups(stockholm, trusted, 'pruned')).map((e) => e.manifest);
    await deleteBackupCopy(stockholm, testSigner, 'pruned', second!.id);
    await deleteBackupCopy(stockholm, testSigner, 'pruned', third!.id);
    const result = await runVerify(harness.client, fixture.config, { source: 'pruned', region: 'stockholm', level: 'integrity' });
    const link = result.regions[0]!.checks.find((c) => c.name === `manifest chain ${fourth!.id}`)!;
    expect(link).toMatchObject({ ok: true, detail: expect.stringContaining(`links to ${first!.id}`) });
    expect(link.detail).toContain(`across 2 backup(s) deleted by retention (${third!.id}, ${second!.id})`);

    // Pruned in gothenburg on purpose: the next sync leaves it pruned there.
    await deleteBackupCopy(gothenburg, testSigner, 'pruned', first!.id);
    await harness.client.workflow.execute('syncRegions', { args: [{ source: 'pruned' }], workflowId: `test-verify-resync-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm` });
    expect(await gothenburg.stat(keys.manifest('pruned', first!.id))).toBeUndefined();

    // Without the tombstone of the newer deleted backup, the gap is what tampering looks like.
    await stockholm.remove(keys.tombstone('pruned', third!.id));
    const failure = await failureOf(runVerify(harness.client, fixture.config, { source: 'pruned', region: 'stockholm', level: 'integrity' }));
    expect(failure.type).toBe('VerificationFailed');
    expect(failure.message).toContain(`manifest chain ${fourth!.id}`);
  });

  async function expectFailedRecordAndAlert(source: string, backupId: string, named: string): Promise<void> {
    const records = await verifyRecords(stockholm, source, backupId);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ source, backupId, region: 'stockholm', outcome: 'failed' });
    expect(records[0]!.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('\n')).toContain(named);
    await expect.poll(() => alerts().filter((a) => a.kind === 'verify-failed' && a.source === source), { timeout: 20_000 }).toHaveLength(1);
    const alert = alerts().find((a) => a.kind === 'verify-failed' && a.source === source)!;
    expect(alert).toMatchObject({ severity: 'critical', region: 'stockholm', details: { backupId } });
    expect(alert.text).toContain(named);
  }
});
