import { verifyRecord } from './support/verify-records';
import { putSignedJson, testSigner, trusted } from './support/signing';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import type { RetentionShowResult } from '../client/commands/retention-show';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { deleteBackupCopy, removeOrphan, scanRegion } from '../activities/prune';
import { retentionActivities, type RetentionWork } from '../activities/retention';
import { readAll, type StorageBackend } from '../activities/storage/backend';
import { verifyRecordKey } from '../activities/verify-records';
import { keys, MANIFEST_FORMAT, type Manifest, type Tombstone } from '../lib/manifest';
import type { BackupRef } from '../lib/retention/plan';
import type { RetentionReport } from '../workflows/apply-retention';
import { sourceKey } from '../workflows/search-attributes';
import { DAY, expectedKept, stockholmOffset } from './support/calendar';
import { makeFixture, type Fixture } from './support/fixture';
import { startHarness, type Harness } from './support/workers';
import { readJournaledCatalog } from '../activities/catalog-index';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));
const regions = ['stockholm', 'gothenburg'];
const gfs = { daily: 7, weekly: 4, monthly: 12, yearly: 2 };

function manifestOf(source: string, kind: Manifest['kind'], region: string, ref: BackupRef): Manifest {
  return {
    format: MANIFEST_FORMAT, id: ref.id, source, kind, region, startedAt: ref.finishedAt, finishedAt: ref.finishedAt,
    workflow: { workflowId: `planted-${ref.id}`, runId: ref.id }, objects: [{ key: keys.object(source, ref.id, 'data.zst.age'), role: 'data', content: 'planted', size: 4, sha256: '0'.repeat(64) }],
    compression: { algorithm: 'zstd', level: 3 }, encryption: { algorithm: 'age-x25519', recipients: [] }, tools: {},
    description: { kind: 'files', root: '/planted', level: ref.parent ? 1 : 0, include: [], exclude: [], files: 1, directories: 0, symlinks: 0, bytes: 4, warnings: [] },
    parent: ref.parent, previousManifestSha256: null, retentionTags: [], restoreWith: 'planted',
  };
}

/** A back-dated backup written straight into storage: a data object, then its manifest. */
async function plant(storage: StorageBackend, source: string, region: string, ref: BackupRef): Promise<void> {
  await storage.put(keys.object(source, ref.id, 'data.zst.age'), Buffer.from('data'));
  await putSignedJson(storage, keys.manifest(source, ref.id), manifestOf(source, 'files', region, ref));
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

function ref(ms: number, tail: string, parent: string | null = null): BackupRef {
  return { id: `${new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${tail}`, finishedAt: new Date(ms).toISOString(), parent };
}

async function keysIn(storage: StorageBackend, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of storage.list(prefix)) found.push(object.key);
  return found.sort();
}

describe('applyRetention on the real Temporal server and S3 regions', () => {
  let fixture: Fixture;
  let harness: Harness;
  let hooks: Server;
  const alerts: string[] = [];
  const storage = (region: string) => createDeps(fixture.config).storage(region);
  let run = 0;
  const applyRetention = (input: { source?: string; dryRun?: boolean }): Promise<RetentionReport> =>
    harness.client.workflow.execute('applyRetention', { args: [input], workflowId: `test-retention-${fixture.prefix}${run++}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm` });

  // 13 months of daily backups at 23:30 UTC, which is the next day in Stockholm: the newest yesterday evening.
  const lastEvening = Math.floor(Date.now() / DAY) * DAY - 30 * 60_000;
  const daily = Array.from({ length: 395 }, (_, i) => ref(lastEvening - (394 - i) * DAY, 'daily0000001'));
  const expected = expectedKept(daily, gfs, stockholmOffset);
  // A backup about 100 days old that no rule keeps, with a passed restore test in stockholm only.
  const verified = daily.slice(0, -100).reverse().find((backup) => !expected.includes(backup.id))!;
  const expectedShop = [...expected, verified.id].sort();
  // Files chain: an old full, then a full with two increments; keepLast 1 holds the newest increment.
  const oldFull = ref(lastEvening - 5 * DAY, 'chain0000001');
  const full = ref(lastEvening - 3 * DAY, 'chain0000002');
  const one = ref(lastEvening - 2 * DAY, 'chain0000003', full.id);
  const two = ref(lastEvening - DAY, 'chain0000004', one.id);
  // Backups that stopped ten days ago: beyond the 3-day RPO.
  const stale = [ref(lastEvening - 12 * DAY, 'stale0000001'), ref(lastEvening - 11 * DAY, 'stale0000002'), ref(lastEvening - 10 * DAY, 'stale0000003')];
  const orphanId = ref(lastEvening - 30 * DAY, 'orphan000001').id;
  const failedId = daily.at(-50)!.id;

  beforeAll(async () => {
    hooks = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      request.on('end', () => { alerts.push(body); response.writeHead(200).end('ok'); });
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    const hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
    const redis = { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${servers.redis.port}` };
    fixture = await makeFixture(servers, () => ({
      shop: { ...redis, retention: gfs },
      chain: { kind: 'files', region: 'stockholm', path: '/nonexistent', retention: { keepLast: 1 } },
      stale: { ...redis, retention: { keepLast: 1 } },
      untouched: redis,
    }), {
      objectives: { rpo: '3d', rto: '4h' },
      retention: { timezone: 'Europe/Stockholm', minCopies: 2, orphanGrace: '2s' },
      alerts: { channels: [{ type: 'webhook', url: hookUrl }] },
    });
    for (const region of regions) {
      const store = storage(region);
      await inBatches(daily, 16, (backup) => plant(store, 'shop', region, backup));
      for (const backup of [oldFull, full, one, two]) await plant(store, 'chain', region, backup);
      for (const backup of stale) await plant(store, 'stale', region, backup);
      await plant(store, 'untouched', region, ref(lastEvening - 400 * DAY, 'untouched001'));
    }
    await putSignedJson(storage('stockholm'), verifyRecordKey('shop', verified.id, '20260801T000000Z'), verifyRecord({ source: 'shop', backupId: verified.id, region: 'stockholm', level: 'restore', outcome: 'passed', finishedAt: '2026-08-01T00:00:00.000Z' }));
    // A newer restore test of another old backup that failed: it must not count.
    await putSignedJson(storage('stockholm'), verifyRecordKey('shop', failedId, '20260901T000000Z'), verifyRecord({ source: 'shop', backupId: failedId, region: 'stockholm', level: 'restore', outcome: 'failed', finishedAt: '2026-09-01T00:00:00.000Z' }));
    // What a crashed backup leaves: data, no manifest (and in the stale source, which is blocked).
    await storage('stockholm').put(keys.object('shop', orphanId, 'data.zst.age'), Buffer.from('left'));
    await storage('stockholm').put(keys.object('stale', orphanId, 'data.zst.age'), Buffer.from('left'));
    const orphanWritten = Date.now();
    harness = await startHarness(fixture.config);
    // The orphan must be older than orphanGrace (2 s) by the workflow's clock; a fast harness start is not.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, orphanWritten + 3_000 - Date.now())));
  }, 600_000);

  afterAll(async () => {
    await harness?.close();
    hooks?.close();
    fixture?.cleanup();
  });

  it('lists in a dry run what would go and why the rest stays, and deletes nothing', async () => {
    const before = await keysIn(storage('stockholm'), '');
    const report = await applyRetention({ source: 'shop', dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.totals.deleted).toBe(0);
    const stockholm = report.sources[0]!.regions.find((r) => r.region === 'stockholm')!;
    expect(stockholm.kept.map((k) => k.id).sort()).toEqual(expectedShop);
    // 370 would go: the report counts them all and names the first 20 (the history never holds the whole plan).
    expect(stockholm.counts.deleted).toBe(daily.length - expectedShop.length);
    expect(stockholm.deleted).toHaveLength(20);
    expect(stockholm.deleted.map((d) => d.id)).toEqual(daily.map((d) => d.id).filter((id) => !expectedShop.includes(id)).slice(0, 20));
    expect(stockholm.deleted.every((d) => d.objects === null)).toBe(true);
    expect(stockholm.kept.find((k) => k.id === verified.id)!.reasons).toEqual(['newest verified']);
    expect(stockholm.kept.find((k) => k.id === daily.at(-1)!.id)!.reasons).toContain('newest');
    expect(stockholm.orphans).toMatchObject([{ id: orphanId, action: 'remove', reason: 'no manifest and nothing written for 2s', removed: null }]);
    expect(await keysIn(storage('stockholm'), '')).toEqual(before);
  }, 300_000);

  it('lifeboat retention show lists every decision of the plan, not the first 20, from storage alone, and deletes nothing', async () => {
    const before = await keysIn(storage('stockholm'), '');
    const cli = (args: string[]) => execa(lifeboat, ['--config', fixture.configFile, ...args], { env: fixture.env, reject: false });
    const json = await cli(['--json', 'retention', 'show', '--source', 'shop', '--region', 'stockholm']);
    expect(json.exitCode, json.stderr).toBe(0);
    const shown = JSON.parse(json.stdout) as RetentionShowResult;
    const region = shown.sources[0]!.regions;
    expect(region.map((r) => r.region)).toEqual(['stockholm']);
    const decisions = region[0]!.decisions;
    expect(decisions.map((d) => d.id)).toEqual(daily.map((d) => d.id));
    const deleted = decisions.filter((d) => d.action === 'delete').map((d) => d.id);
    expect(deleted).toEqual(daily.map((d) => d.id).filter((id) => !expectedShop.includes(id)));
    expect(region[0]).toMatchObject({ kept: expectedShop.length, deleted: deleted.length });
    expect(shown.sources[0]!.orphans).toMatchObject([{ id: orphanId, region: 'stockholm', action: 'remove' }]);
    const text = await cli(['retention', 'show', '--source', 'chain']);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain('nothing is deleted by this command');
    expect(text.stdout).toMatch(new RegExp(`gothenburg \\(.*\\): 3 kept, 1 would go`));
    expect(text.stdout).toMatch(new RegExp(`would delete +${oldFull.id} +`));
    expect(text.stdout).toMatch(new RegExp(`keep +${one.id} +parent of ${two.id}`));
    expect((await cli(['retention', 'show', '--region', 'nowhere'])).exitCode).toBe(2);
    expect(await keysIn(storage('stockholm'), '')).toEqual(before);
  }, 120_000);

  it('prunes thirteen months of daily backups to exactly the GFS set in every region', async () => {
    const report = await applyRetention({});
    const shop = report.sources.find((s) => s.source === 'shop')!;
    for (const region of regions) {
      const remaining = (await listBackups(storage(region), trusted, 'shop')).map((e) => e.manifest.id).sort();
      // The verified backup stays in gothenburg too: minCopies 2, and stockholm keeps it.
      expect(remaining).toEqual(expectedShop);
      // The index the plan's read wrote still names the deleted ones; the pages' signed changes take them out.
      const journal = await readJournaledCatalog(storage(region), trusted, 'shop');
      expect(journal?.journal?.changes).toBeGreaterThan(0);
      expect(journal!.entries.map((e) => e.manifest.id).sort()).toEqual(expectedShop);
      const data = (await keysIn(storage(region), 'shop/')).filter((key) => key.endsWith('/data.zst.age')).map((key) => key.split('/')[1]);
      expect(data.filter((id) => id !== orphanId).sort()).toEqual(expectedShop);
      const regionReport = shop.regions.find((r) => r.region === region)!;
      expect(regionReport.counts.deleted).toBe(daily.length - expectedShop.length);
      expect(regionReport.deleted).toHaveLength(20);
      // Manifest, its signature and data; in stockholm the backup with a failed restore test also has its signed verify record.
      expect(regionReport.deleted.filter((d) => d.objects !== (region === 'stockholm' && d.id === failedId ? 5 : 3))).toEqual([]);
    }
    expect(shop.regions.find((r) => r.region === 'gothenburg')!.kept.find((k) => k.id === verified.id)!.reasons).toEqual(['minCopies 2: else only 1 copy (stockholm)']);
    expect(report.unmanaged).toEqual(['untouched']);
    expect(report.totals.failed).toBe(0);
    // About 750 signed deletions (manifest, tombstone and its signature each) across two regions.
  }, 300_000);

  it('removes data that a crashed backup left without a manifest', async () => {
    expect(await keysIn(storage('stockholm'), `shop/${orphanId}/`)).toEqual([]);
  });

  it('keeps the increments a kept backup depends on', async () => {
    for (const region of regions) {
      expect((await listBackups(storage(region), trusted, 'chain')).map((e) => e.manifest.id)).toEqual([full.id, one.id, two.id]);
    }
  });

  it('deletes nothing of a source whose newest backup is older than the RPO, and raises an alert', async () => {
    for (const region of regions) {
      expect((await listBackups(storage(region), trusted, 'stale')).map((e) => e.manifest.id)).toEqual(stale.map((s) => s.id));
    }
    expect(await keysIn(storage('stockholm'), `stale/${orphanId}/`)).toHaveLength(1);
    await expect.poll(() => alerts.filter((body) => body.includes('retention-blocked') && body.includes('stale')).length, { timeout: 20_000 }).toBeGreaterThan(0);
  });

  it('never prunes a source without retention rules', async () => {
    expect(await listBackups(storage('gothenburg'), trusted, 'untouched')).toHaveLength(1);
  });

  it('deletes nothing more on a second run, and folds the first run\'s catalog changes into the index', async () => {
    // The catalog index and its changes are a cache that a real run keeps current; everything else stays as it was.
    const backupsOnly = async () => (await keysIn(storage('stockholm'), '')).filter((key) => !key.startsWith('_catalog/'));
    const before = await backupsOnly();
    const report = await applyRetention({});
    expect(report.totals.deleted).toBe(0);
    expect(report.totals.orphansRemoved).toBe(0);
    expect(await backupsOnly()).toEqual(before);
    expect((await keysIn(storage('stockholm'), '_catalog/shop/')).filter((key) => key.includes('/change-'))).toEqual([]);
  });

  it('makes a one-source run findable by LifeboatSource, with a summary memo', async () => {
    const workflowId = `test-retention-find-${fixture.prefix}`;
    await harness.client.workflow.execute('applyRetention', { args: [{ source: 'chain', dryRun: true }], workflowId, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm` });
    const description = await harness.client.workflow.getHandle(workflowId).describe();
    expect(description.typedSearchAttributes.get(sourceKey)).toBe('chain');
    expect(String((await description.memo)?.summary)).toMatch(/^retention: 0 deleted, 6 kept/);
  });

  it('prints the report through the CLI, as text and as one JSON document', async () => {
    const cli = (args: string[]) => execa(lifeboat, ['--config', fixture.configFile, ...args], { env: fixture.env, reject: false });
    const text = await cli(['retention', 'apply', '--source', 'chain', '--dry-run']);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain('dry run: nothing deleted');
    expect(text.stdout).toMatch(new RegExp(`keep +${one.id} +parent of ${two.id}`));
    const json = await cli(['--json', 'retention', 'apply', '--source', 'shop', '--wait']);
    expect(json.exitCode).toBe(0);
    const report = JSON.parse(json.stdout) as RetentionReport;
    expect(report.sources[0]!.regions[0]!.kept).toHaveLength(expectedShop.length);
    const unknown = await cli(['retention', 'apply', '--source', 'nope']);
    expect(unknown.exitCode).toBe(2);
  }, 180_000);

  it('deletes nothing of a source whose catalog holds a damaged or unsigned manifest, and raises untrusted and retention-blocked alerts', async () => {
    const damaged = ref(lastEvening - 4 * DAY, 'damaged00001');
    await storage('gothenburg').put(keys.manifest('chain', damaged.id), Buffer.from('{"format": "lifeboat-manifest/1", '));
    const unsigned = ref(lastEvening - 400 * DAY, 'unsigned0001');
    await storage('stockholm').put(keys.manifest('chain', unsigned.id), Buffer.from(JSON.stringify(manifestOf('chain', 'files', 'stockholm', unsigned))));
    const before = await keysIn(storage('stockholm'), 'chain/');
    const report = await applyRetention({ source: 'chain' });
    expect(report.totals.deleted).toBe(0);
    expect(report.sources[0]!.blocked).toMatch(/2 catalog object\(s\) are not trusted/);
    expect(await keysIn(storage('stockholm'), 'chain/')).toEqual(before);
    await expect.poll(() => alerts.filter((body) => body.includes('"untrusted"') && body.includes(keys.manifest('chain', damaged.id))).length, { timeout: 20_000 }).toBeGreaterThan(0);
    const untrusted = alerts.find((body) => body.includes('"untrusted"') && body.includes('chain'))!;
    expect(untrusted).toContain('it is not valid JSON');
    expect(untrusted).toContain('it has no signature');
    await expect.poll(() => alerts.filter((body) => body.includes('retention-blocked') && body.includes('chain')).length, { timeout: 20_000 }).toBeGreaterThan(0);
  });
});

describe('deleting a backup copy and its leftovers', () => {
  let fixture: Fixture;
  const now = Date.now();
  beforeAll(async () => {
    const redis = { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${servers.redis.port}` };
    fixture = await makeFixture(servers, () => ({ listed: { ...redis, retention: { keepLast: 1 } } }), { retention: { dryRun: true } });
  });
  afterAll(() => fixture?.cleanup());

  it('removes the manifest before any data, and deleting again finds nothing', async () => {
    const real = createDeps(fixture.config).storage('stockholm');
    const backup = ref(now - 3 * DAY, 'delete000001');
    await plant(real, 'shop', 'stockholm', backup);
    await putSignedJson(real, verifyRecordKey('shop', backup.id, '20261101T000000Z'), verifyRecord({ source: 'shop', backupId: backup.id, region: 'stockholm', level: 'restore', outcome: 'passed', finishedAt: '2026-11-01T00:00:00.000Z' }));
    const removed: string[] = [];
    const recording = Object.assign(Object.create(real) as StorageBackend, { remove: async (key: string) => { removed.push(key); await real.remove(key); } });
    expect(await deleteBackupCopy(recording, testSigner, 'shop', backup.id)).toEqual({ manifestRemoved: true, objects: 5 });
    expect(removed[0]).toBe(keys.manifest('shop', backup.id));
    expect(removed).toHaveLength(5);
    // Only the tombstone stays: the deleted manifest's hash and link, for the chain check and for sync.
    expect(await keysIn(real, `shop/${backup.id}/`)).toEqual([keys.tombstone('shop', backup.id), `${keys.tombstone('shop', backup.id)}.sig`]);
    const tombstone = JSON.parse((await readAll(await real.get(keys.tombstone('shop', backup.id)))).toString('utf8')) as Tombstone;
    expect(tombstone).toMatchObject({ format: 'lifeboat-tombstone/1', id: backup.id, reason: 'retention', manifestSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await scanRegion(real, trusted, 'shop')).orphans.map((o) => o.id)).not.toContain(backup.id);
    expect(await deleteBackupCopy(real, testSigner, 'shop', backup.id)).toEqual({ manifestRemoved: false, objects: 0 });
  });

  it('leaves data without a manifest alone while it is younger than the grace period', async () => {
    const real = createDeps(fixture.config).storage('stockholm');
    const id = ref(now - DAY, 'running00001').id;
    await real.put(keys.object('shop', id, 'data.zst.age'), Buffer.from('being written'));
    const scan = await scanRegion(real, trusted, 'shop');
    expect(scan.orphans.map((o) => o.id)).toContain(id);
    expect(await removeOrphan(real, 'shop', id, Date.now(), 3 * DAY)).toMatchObject({ objects: 0, skipped: expect.stringMatching(/younger than the grace period/) });
    expect(await keysIn(real, `shop/${id}/`)).toHaveLength(1);
    expect(await removeOrphan(real, 'shop', id, Date.now() + 4 * DAY, 3 * DAY)).toEqual({ objects: 1 });
  });

  it('counts a backup as verified only by a record whose outcome is passed', async () => {
    const real = createDeps(fixture.config).storage('gothenburg');
    const [passed, failed, damaged] = ['verify000001', 'verify000002', 'verify000003'].map((tail) => ref(now - 2 * DAY, tail));
    for (const backup of [passed!, failed!, damaged!]) await plant(real, 'db', 'gothenburg', backup);
    await putSignedJson(real, verifyRecordKey('db', passed!.id, '20261101T000000Z'), verifyRecord({ source: 'db', backupId: passed!.id, region: 'gothenburg', level: 'restore', outcome: 'failed', finishedAt: '2026-11-01T00:00:00.000Z' }));
    await putSignedJson(real, verifyRecordKey('db', passed!.id, '20261102T000000Z'), verifyRecord({ source: 'db', backupId: passed!.id, region: 'gothenburg', level: 'restore', outcome: 'passed', finishedAt: '2026-11-02T00:00:00.000Z' }));
    await putSignedJson(real, verifyRecordKey('db', failed!.id, '20261102T000000Z'), verifyRecord({ source: 'db', backupId: failed!.id, region: 'gothenburg', level: 'restore', outcome: 'failed', finishedAt: '2026-11-02T00:00:00.000Z' }));
    await real.put(verifyRecordKey('db', damaged!.id, '20261102T000000Z'), Buffer.from('{"outcome":'));
    const scan = await scanRegion(real, trusted, 'db');
    expect(scan.verified).toEqual([passed!.id]);
    expect(scan.backups.map((b) => b.id).sort()).toEqual([passed!.id, failed!.id, damaged!.id].sort());
    expect(scan.orphans).toEqual([]);
  });

  it('plans a dry run whatever the caller asks when the config says retention.dryRun', async () => {
    const store = createDeps(fixture.config).storage('stockholm');
    for (const days of [3, 2, 1]) await plant(store, 'listed', 'stockholm', ref(now - days * DAY, `listed00000${days}`));
    const activities = retentionActivities(createDeps(fixture.config));
    const work: RetentionWork = await new MockActivityEnvironment().run(activities.planRetention, { dryRun: false, now: new Date(now).toISOString() });
    expect(work.dryRun).toBe(true);
    expect(work.plans[0]!.regions[0]!.decisions.map((d) => d.action)).toEqual(['delete', 'delete', 'keep']);
    await expect(new MockActivityEnvironment().run(activities.planRetention, { source: 'nope', dryRun: false, now: new Date(now).toISOString() }))
      .rejects.toMatchObject({ type: 'Usage' });
  });
});
