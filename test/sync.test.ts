import { trusted } from './support/signing';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups, type CatalogEntry } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { readAll } from '../activities/storage/backend';
import { digestStored } from '../activities/sync-copy';
import type { StatusReport } from '../client/commands/status';
import { keys } from '../lib/manifest';
import { createSampleDatabase, pgUrl, tableFingerprints } from '../scripts/sample-db';
import type { BackupSummary } from '../workflows/backup-source';
import { syncWorkflowId } from '../lib/workflow-ids';
import type { SyncResult } from '../workflows/sync-regions';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup, runRestore } from './support/runs';
import { extendFixture, incompleteIn, keysIn, startAlertSink, type AlertSink } from './support/sync';
import { failureOf, startHarness, type Harness } from './support/workers';
import { replaceObject } from './support/tamper';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));
const regions = ['stockholm', 'gothenburg', 'malmo'];

describe('syncRegions across two S3 regions and a local directory', () => {
  let fixture: Fixture;
  let harness: Harness;
  let sink: AlertSink;
  let passwordEnv: string;
  let tree: string;
  const files: BackupSummary[] = [];
  const cli = (args: string[]) => execa(lifeboat, ['--config', fixture.configFile, ...args], { env: fixture.env, reject: false });
  const storage = (region: string) => createDeps(fixture.config).storage(region);
  const catalog = (region: string, source: string) => listBackups(storage(region), trusted, source);
  const afterBackupSync = (source: string) => harness.client.workflow.getHandle(syncWorkflowId(fixture.config.temporal.taskQueuePrefix, source)).result() as Promise<SyncResult>;
  const regionOf = (result: SyncResult, source: string, region: string) => result.sources.find((s) => s.source === source)!.regions.find((r) => r.region === region)!;

  /** Every copy's objects hash to what its manifest says, and its manifest bytes are the home region's. */
  async function expectVerifiedCopies(source: string, id: string): Promise<void> {
    const home = (await catalog('stockholm', source)).find((e) => e.manifest.id === id)!;
    for (const region of regions) {
      const copy: CatalogEntry | undefined = (await catalog(region, source)).find((e) => e.manifest.id === id);
      expect(copy?.manifestSha256, `${region} holds ${id} with the home region's manifest bytes`).toBe(home.manifestSha256);
      for (const object of home.manifest.objects) {
        expect(await digestStored(storage(region), object.key)).toEqual({ sha256: object.sha256, size: object.size });
      }
    }
  }

  beforeAll(async () => {
    await createSampleDatabase(pg, 'sync_src');
    sink = await startAlertSink();
    const base = await makeFixture(servers, (ctx) => ({
      'sync-db': ctx.postgres('sync_src'),
      'sync-files': { kind: 'files', region: 'stockholm', path: '/nonexistent' },
      'sync-broken': ctx.postgres('sync_no_such_database'),
    }));
    tree = join(base.dir, 'tree');
    mkdirSync(tree);
    writeFileSync(join(tree, 'a.txt'), 'first version\n');
    fixture = extendFixture(base, {
      regions: { malmo: { storage: { type: 'local', path: join(base.dir, 'malmo') } } },
      objectives: { rpo: '6h', rto: '4h' },
      sync: { lagThreshold: '1s' },
      alerts: { channels: [{ type: 'webhook', url: sink.url }] },
      sources: { ...base.config.sources, 'sync-files': { kind: 'files', region: 'stockholm', path: tree } },
    });
    passwordEnv = Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_'))!;
    harness = await startHarness(fixture.config);
  });

  afterAll(async () => {
    await harness?.close();
    await sink?.close();
    fixture?.cleanup();
  });

  it('copies a new backup to every other region when backupSource finishes, each object verified by SHA-256', async () => {
    const summary = await runBackup(harness.client, fixture.config, 'sync-db');
    const result = await afterBackupSync('sync-db');
    for (const region of ['gothenburg', 'malmo']) {
      expect(regionOf(result, 'sync-db', region)).toMatchObject({ copied: [summary.backupId], present: 0, failed: [], lagSeconds: 0, lagging: false });
      expect(regionOf(result, 'sync-db', region).copiedBytes).toBe(summary.bytes);
    }
    await expectVerifiedCopies('sync-db', summary.backupId);
    expect(await incompleteIn(storage('gothenburg'), 'sync-db/')).toEqual([]);
  });

  it('restores the copies in gothenburg (S3) and malmo (local directory) into databases equal to the source', async () => {
    const expected = await tableFingerprints(pg, 'sync_src');
    for (const region of ['gothenburg', 'malmo']) {
      const database = `sync_restored_${region}`;
      const result = await runRestore(harness.client, fixture.config, { source: 'sync-db', region, target: pgUrl(pg, database), targetPasswordEnv: passwordEnv });
      expect(result.checked).toMatch(/row counts/);
      expect(await tableFingerprints(pg, database)).toEqual(expected);
    }
  });

  it('lifeboat sync --json copies again what a region lost, and a second sync copies nothing', async () => {
    const { manifest } = (await catalog('stockholm', 'sync-db'))[0]!;
    // gothenburg loses the whole backup; malmo keeps the manifest but loses the data object.
    for (const key of await keysIn(storage('gothenburg'), keys.backupPrefix('sync-db', manifest.id))) await storage('gothenburg').remove(key);
    await storage('malmo').remove(manifest.objects[0]!.key);

    const first = await cli(['--json', 'sync', '--source', 'sync-db', '--wait']);
    expect(first.exitCode, first.stderr).toBe(0);
    const copied = JSON.parse(first.stdout) as SyncResult;
    expect(copied.sources.map((s) => s.source)).toEqual(['sync-db']);
    expect(regionOf(copied, 'sync-db', 'gothenburg')).toMatchObject({ copied: [manifest.id], present: 0, failed: [] });
    expect(regionOf(copied, 'sync-db', 'malmo')).toMatchObject({ copied: [manifest.id], present: 0, failed: [] });
    await expectVerifiedCopies('sync-db', manifest.id);

    const again = await cli(['--json', 'sync', '--wait']);
    expect(again.exitCode, again.stderr).toBe(0);
    const nothing = JSON.parse(again.stdout) as SyncResult;
    expect(nothing.sources.map((s) => s.source).sort()).toEqual(['sync-broken', 'sync-db', 'sync-files']);
    for (const source of nothing.sources) for (const region of source.regions) expect(region.copied, `${source.source} → ${region.region}`).toEqual([]);
    expect(regionOf(nothing, 'sync-db', 'gothenburg')).toMatchObject({ present: 1, copiedBytes: 0, lagSeconds: 0 });

    const text = await cli(['sync', '--source', 'sync-db', '--wait']);
    expect(text.exitCode).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^SOURCE +REGION +COPIED +PRESENT +FAILED +NEWEST +AGE +LAG +BYTES COPIED$/);
    expect(text.stdout).toMatch(/sync-db +gothenburg +0 +1 +0 +\S+/);
  }, 180_000);

  it('refuses a damaged source object with ChecksumMismatch, writes no manifest there, and raises sync-failed and sync-lag alerts', async () => {
    files.push(await runBackup(harness.client, fixture.config, 'sync-files'));
    await afterBackupSync('sync-files');
    writeFileSync(join(tree, 'a.txt'), 'second version\n');
    // Backups this small take under a second: leave a lag the 1s threshold must see.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    files.push(await runBackup(harness.client, fixture.config, 'sync-files'));
    await afterBackupSync('sync-files');
    const damaged = files[1]!;
    for (const region of ['gothenburg', 'malmo']) {
      for (const key of await keysIn(storage(region), keys.backupPrefix('sync-files', damaged.backupId))) await storage(region).remove(key);
    }
    // Same size, one byte changed: only the SHA-256 can tell.
    const bytes = await readAll(await storage('stockholm').get(damaged.key));
    const middle = bytes.length >> 1;
    bytes[middle] = bytes[middle]! ^ 0xff;
    await replaceObject(storage('stockholm'), damaged.key, bytes);

    const run = await cli(['--json', 'sync', '--source', 'sync-files', '--wait']);
    expect(run.exitCode).toBe(6);
    const result = JSON.parse(run.stdout) as SyncResult;
    for (const region of ['gothenburg', 'malmo']) {
      const r = regionOf(result, 'sync-files', region);
      expect(r.copied).toEqual([]);
      expect(r.failed).toEqual([expect.objectContaining({ backupId: damaged.backupId, type: 'ChecksumMismatch' })]);
      expect(r.newest?.id).toBe(files[0]!.backupId);
      expect(r.lagging).toBe(true);
      expect(await keysIn(storage(region), keys.backupPrefix('sync-files', damaged.backupId)), `nothing of the damaged backup in ${region}`).toEqual([]);
      expect(await incompleteIn(storage(region), 'sync-files/')).toEqual([]);
    }
    await expect.poll(() => sink.received.filter((a) => a.source === 'sync-files').map((a) => `${a.kind} ${a.region}`).sort(), { timeout: 30_000 })
      .toEqual(expect.arrayContaining(['sync-failed gothenburg', 'sync-failed malmo', 'sync-lag gothenburg', 'sync-lag malmo']));
    expect(sink.received.find((a) => a.kind === 'sync-failed')).toMatchObject({ severity: 'critical', details: expect.objectContaining({ type: 'ChecksumMismatch' }) });
  }, 180_000);

  it('lifeboat status --json reports the newest backup against the RPO, copies per region, size and the last failure', async () => {
    const failure = await failureOf(runBackup(harness.client, fixture.config, 'sync-broken'));
    let report: StatusReport | undefined;
    // Visibility is eventually consistent: the failed run shows up a moment after it closes.
    await expect.poll(async () => {
      const result = await cli(['--json', 'status']);
      report = JSON.parse(result.stdout) as StatusReport;
      return report.sources.find((s) => s.source === 'sync-broken')?.lastFailure?.type;
    }, { timeout: 30_000, interval: 1000 }).toBe(failure.type);

    const [db] = await catalog('stockholm', 'sync-db');
    const byName = Object.fromEntries(report!.sources.map((s) => [s.source, s]));
    expect(report!.temporal).toBe('ok');
    expect(byName['sync-db']).toMatchObject({
      kind: 'postgres',
      region: 'stockholm',
      newest: { id: db!.manifest.id, finishedAt: db!.manifest.finishedAt, bytes: db!.manifest.objects.reduce((n, o) => n + o.size, 0) },
      rpo: { objectiveSeconds: 6 * 3600, status: 'OK' },
      lastFailure: null,
    });
    for (const region of regions) expect(byName['sync-db']!.copies[region]).toEqual({ backups: 1, newest: db!.manifest.id, hasNewest: true, lagSeconds: 0 });
    expect(byName['sync-files']!.copies.stockholm).toMatchObject({ backups: 2, hasNewest: true });
    expect(byName['sync-files']!.copies.gothenburg).toMatchObject({ backups: 1, newest: files[0]!.backupId, hasNewest: false });
    expect(byName['sync-files']!.copies.gothenburg!.lagSeconds).toBeGreaterThanOrEqual(2);
    expect(byName['sync-broken']).toMatchObject({ newest: null, rpo: { status: 'NEVER' }, lastFailure: { type: failure.type, message: failure.message } });
    expect(byName['sync-broken']!.lastFailure!.workflowId).toMatch(/^test-backup-sync-broken-/);

    const text = await cli(['status']);
    // sync-broken was never backed up: status says so by its exit code too.
    expect(text.exitCode).toBe(25);
    expect(text.stderr).toContain('sync-broken (never backed up)');
    expect(text.stdout).not.toContain('\x1b[');
    expect(text.stdout.split('\n')[0]).toMatch(/^SOURCE +KIND +REGION +NEWEST +RPO +COPIES +SIZE +VERIFIED +RTO +LAST FAILURE +CATALOG$/);
    expect(text.stdout).toMatch(/sync-db +postgres +stockholm +\S+ ago +OK +stockholm 1, gothenburg 1, malmo 1 /);
    expect(text.stdout).toMatch(new RegExp(`sync-broken +postgres +stockholm +never +NEVER +.* ${failure.type} at `));
  }, 120_000);

  it('a backup succeeds while a sync of its source is running, and a sync of every source waits for that sync', async () => {
    // A sync no worker will ever run (its queue has none) holds the source's sync id.
    const blocker = await harness.client.workflow.start('syncRegions', { args: [{ source: 'sync-db' }], workflowId: syncWorkflowId(fixture.config.temporal.taskQueuePrefix, 'sync-db'), taskQueue: `nobody-${fixture.prefix}` });
    try {
      const summary = await runBackup(harness.client, fixture.config, 'sync-db');
      expect(summary.source).toBe('sync-db');
      const every = await harness.client.workflow.start('syncRegions', { args: [{}], workflowId: `test-sync-every-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm` });
      await expect.poll(async () => (await every.fetchHistory()).events!.some((e) => e.startChildWorkflowExecutionFailedEventAttributes?.workflowId === syncWorkflowId(fixture.config.temporal.taskQueuePrefix, 'sync-db')),
        { timeout: 30_000, interval: 500 }).toBe(true);
      await blocker.terminate('test: let the waiting sync go on');
      const result = (await every.result()) as SyncResult;
      for (const region of ['gothenburg', 'malmo']) expect(regionOf(result, 'sync-db', region)).toMatchObject({ copied: [summary.backupId], failed: [] });
      await expectVerifiedCopies('sync-db', summary.backupId);
    } finally {
      await blocker.terminate().catch(() => undefined);
    }
  }, 120_000);
});
