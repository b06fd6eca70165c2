import { testSigner, trusted } from './support/signing';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { execa } from 'execa';
import pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findBackup, listBackups } from '../activities/catalog';
import type { WalRegionRow, WalSourceStatus } from '../client/commands/wal';
import { catalogFacts } from '../activities/catalog-facts';
import { createDeps } from '../activities/deps';
import { shipSpool } from '../activities/wal/ship';
import type { Alert } from '../lib/alerts';
import type { Config } from '../lib/config/schema';
import { isPhysical, type PostgresPhysicalDescription } from '../lib/manifest';
import { archiveCommand, parseWalName, walKeys } from '../lib/wal';
import { walShipperWorkflowId } from '../lib/workflow-ids';
import type { RetentionReport } from '../workflows/apply-retention';
import { catalogGauges } from '../worker/metrics/catalog';
import { walStatusQuery, type shipWal, type WalRegionFacts } from '../workflows/ship-wal';
import { startPostgres, type PostgresInfo } from './harness/postgres';
import { makeFixture, type Fixture } from './support/fixture';
import { startReceiver, type Receiver } from './support/receiver';
import { runBackup } from './support/runs';
import { extendFixture } from './support/sync';
import { archived, decryptArchived, postgresOwner, sha256, spooled, startSwitch, writeBaseBackupManifest, type Switch } from './support/wal';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));
const source = 'wal-db';
/** A second archiving source whose spool does not exist: its shipper fails every round. */
const lost = 'lost-db';
const hookPath = '/alerts';
const isSegment = (name: string) => parseWalName(name)?.kind === 'segment';

describe('shipWal: the spool to every region, continuity and retention of the archived WAL', () => {
  let dir: string;
  let spool: string;
  let cluster: { postgres: PostgresInfo; stop(): Promise<void> };
  let receiver: Receiver;
  let fixture: Fixture;
  let harness: Harness;
  let uppsala: Switch;
  let handle: WorkflowHandle<typeof shipWal>;
  const regions = ['stockholm', 'gothenburg', 'uppsala'];

  const sql = async (text: string) => {
    const client = new pg.Client({ host: '127.0.0.1', port: cluster.postgres.port, user: 'postgres', password: cluster.postgres.password, database: 'postgres' });
    await client.connect();
    try {
      return (await client.query(text)).rows as Array<Record<string, unknown>>;
    } finally {
      await client.end();
    }
  };
  /** Writes rows and closes the current segment, so archive_command hands it to the spool. */
  const switchSegments = async (count: number) => {
    for (let i = 0; i < count; i += 1) {
      await sql(`insert into t select g, md5(g::text) from generate_series(1, 1000) g`);
      await sql('select pg_switch_wal()');
    }
  };
  const storage = (region: string) => createDeps(fixture.config).storage(region);
  const cli = (args: string[]) => execa(lifeboat, ['--config', fixture.configFile, ...args], { reject: false });
  const physicalOf = async (id: string) => {
    const { manifest } = await findBackup(storage('stockholm'), trusted, source, id);
    expect(isPhysical(manifest.description)).toBe(true);
    return { id, ...(manifest.description as PostgresPhysicalDescription) };
  };
  let firstBase: PostgresPhysicalDescription & { id: string };
  const alertsOf = (name: string) => receiver.requests.filter((r) => r.path === hookPath).map((r) => JSON.parse(r.body) as Alert).filter((a) => a.source === name);
  const alerts = () => alertsOf(source);
  const waitSpooled = async (count: number) => {
    await expect.poll(() => spooled(spool).length, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(count);
    return spooled(spool);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-wal-'));
    const pgDir = join(dir, 'pg');
    spool = join(pgDir, 'spool');
    mkdirSync(spool, { recursive: true });
    if (process.getuid?.() === 0) {
      const { uid, gid } = postgresOwner();
      chownSync(spool, uid, gid);
    }
    // The recommended command: a dot-file the shipper never takes, fsynced, renamed once whole, the directory fsynced.
    cluster = await startPostgres({ dir: pgDir, settings: { wal_level: 'replica', archive_mode: 'on', archive_command: archiveCommand(spool) }, log: () => undefined });
    receiver = await startReceiver();
    const tag = randomBytes(4).toString('hex');
    const passwordEnv = `WAL_PG_PASSWORD_${tag}`;
    const hookEnv = `WAL_HOOK_${tag}`;
    Object.assign(process.env, { [passwordEnv]: cluster.postgres.password, [hookEnv]: `${receiver.url}${hookPath}` });
    const base = await makeFixture(servers, () => ({
      [source]: {
        kind: 'postgres', region: 'stockholm', mode: 'physical', url: `postgres://postgres@127.0.0.1:${cluster.postgres.port}/postgres`, passwordEnv,
        wal: { spool, interval: '1s', roundsPerRun: 4, gapGrace: '2s' },
        retention: { keepLast: 1 },
      },
      [lost]: {
        kind: 'postgres', region: 'stockholm', mode: 'physical', url: `postgres://postgres@127.0.0.1:${cluster.postgres.port}/postgres`, passwordEnv,
        wal: { spool: join(dir, 'no-such-spool'), interval: '1s', roundsPerRun: 4, workerTimeout: '1s' },
      },
    }), {
      alerts: { channels: [{ type: 'webhook', urlEnv: hookEnv }] },
      retention: { minCopies: 1 },
      sync: { afterBackup: false },
    });
    // A third region behind a switch, in gothenburg's server under a prefix of its own: switching it off is a region going down.
    const gothenburg = servers.s3.gothenburg!;
    uppsala = await startSwitch({ host: '127.0.0.1', port: Number(new URL(gothenburg.endpoint).port) });
    const keyEnv = Object.keys(base.env).find((name) => name.startsWith('GOTHENBURG_KEY_'))!;
    const secretEnv = Object.keys(base.env).find((name) => name.startsWith('GOTHENBURG_SECRET_'))!;
    fixture = extendFixture(base, {
      regions: {
        uppsala: {
          storage: {
            type: 's3', endpoint: `http://127.0.0.1:${uppsala.port}`, bucket: gothenburg.bucket, region: gothenburg.region, forcePathStyle: true,
            prefix: `${base.prefix}uppsala/`, accessKeyIdEnv: keyEnv, secretAccessKeyEnv: secretEnv,
          },
        },
      },
    });
    harness = await startHarness(fixture.config);
    await sql('create table t (id int, v text)');
  }, 180_000);

  afterAll(async () => {
    await handle?.terminate().catch(() => undefined);
    await harness?.client.workflow.getHandle(walShipperWorkflowId(fixture.config.temporal.taskQueuePrefix, lost)).terminate().catch(() => undefined);
    await harness?.close();
    await uppsala?.close();
    await receiver?.close();
    await cluster?.stop();
    fixture?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ships every finished WAL file to every region, decryptable to the exact bytes, and empties the spool', async () => {
    await switchSegments(3);
    const names = await waitSpooled(3);
    const originals = new Map(names.map((name) => [name, sha256(readFileSync(join(spool, name)))]));

    const dry = await cli(['schedules', 'apply', '--dry-run']);
    expect(dry.stdout).toContain(`WAL shipper of ${source}: not running, would be started`);
    const apply = await cli(['schedules', 'apply']);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(apply.stdout).toContain(`WAL shipper of ${source}: started`);
    expect(apply.stdout).toContain(`WAL shipper of ${lost}: started`);
    handle = harness.client.workflow.getHandle<typeof shipWal>(walShipperWorkflowId(fixture.config.temporal.taskQueuePrefix, source));
    const again = await cli(['--json', 'wal', 'start', '--source', source]);
    expect(JSON.parse(again.stdout)).toEqual([expect.objectContaining({ source, started: false, runId: (await handle.describe()).runId })]);
    await expect.poll(() => spooled(spool), { timeout: 60_000, interval: 250 }).toEqual([]);
    for (const region of regions) {
      const stored = await archived(storage(region), source);
      expect(stored, region).toEqual(expect.arrayContaining(names));
      for (const name of names) {
        const plain = await decryptArchived(storage(region), source, name, fixture.key.identityFile);
        expect(plain.length, `${region} ${name}`).toBe(16 * 1024 * 1024);
        expect(sha256(plain), `${region} ${name}`).toBe(originals.get(name));
      }
    }
    const status = await handle.query(walStatusQuery);
    expect(status).toMatchObject({ source, shipError: null });
    expect(alerts()).toEqual([]);
  }, 180_000);

  it('uploads nothing again for a file every region has (a round retried after a crash) and still clears it from the spool', async () => {
    const [name] = (await archived(storage('stockholm'), source)).filter(isSegment);
    const plain = await decryptArchived(storage('stockholm'), source, name!, fixture.key.identityFile);
    // A spool of its own, so the running shipper does not race this round.
    const replay = join(dir, 'replay-spool');
    mkdirSync(replay);
    writeFileSync(join(replay, name!), plain);
    const old = (Date.now() - 10_000) / 1000;
    utimesSync(join(replay, name!), old, old);
    const before = await Promise.all(regions.map(async (region) => (await storage(region).stat(walKeys.object(source, name!)))!.modified.getTime()));
    const own = fixture.config.sources[source] as Extract<Config['sources'][string], { kind: 'postgres' }>;
    const config = { ...fixture.config, sources: { ...fixture.config.sources, [source]: { ...own, wal: { ...own.wal!, spool: replay } } } };
    const result = await shipSpool(config, source, { storage, trusted, signer: () => testSigner });
    expect(result).toMatchObject({ shipped: [name], uploaded: { stockholm: 0, gothenburg: 0, uppsala: 0 }, waiting: [], failures: [], bytes: 0 });
    expect(spooled(replay)).toEqual([]);
    const after = await Promise.all(regions.map(async (region) => (await storage(region).stat(walKeys.object(source, name!)))!.modified.getTime()));
    expect(after).toEqual(before);
  }, 60_000);

  it('keeps files in the spool while a region is down, ships them to the others, alerts once, and catches the region up once it is back', async () => {
    uppsala.down();
    const before = new Set(await archived(storage('stockholm'), source));
    await switchSegments(2);
    await waitSpooled(2);
    // Stockholm and gothenburg get the new segments; they stay in the spool for uppsala.
    await expect.poll(async () => (await archived(storage('gothenburg'), source)).filter((n) => !before.has(n)).length, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(2);
    const fresh = (await archived(storage('stockholm'), source)).filter((n) => !before.has(n));
    expect(spooled(spool)).toEqual(expect.arrayContaining(fresh.filter(isSegment)));
    await expect.poll(async () => (await handle.query(walStatusQuery))?.ship?.failures.map((f) => f.region), { timeout: 60_000, interval: 250 }).toEqual(['uppsala']);
    // Several failing rounds, still one alert for the streak.
    const rounds = (await handle.query(walStatusQuery))!.rounds;
    await expect.poll(async () => (await handle.query(walStatusQuery))!.rounds, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(rounds + 3);
    const failed = alerts().filter((a) => a.kind === 'wal-ship-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ source, region: 'uppsala', severity: 'critical' });
    expect(failed[0]!.text).toContain('uppsala');

    uppsala.up();
    await expect.poll(() => spooled(spool), { timeout: 60_000, interval: 250 }).toEqual([]);
    const everywhere = await archived(storage('stockholm'), source);
    expect(await archived(storage('uppsala'), source)).toEqual(everywhere);
    expect(await archived(storage('gothenburg'), source)).toEqual(everywhere);
    for (const name of fresh) {
      const a = await decryptArchived(storage('uppsala'), source, name, fixture.key.identityFile);
      const b = await decryptArchived(storage('stockholm'), source, name, fixture.key.identityFile);
      expect(sha256(a), name).toBe(sha256(b));
    }
    await expect.poll(async () => (await handle.query(walStatusQuery))?.ship?.failures, { timeout: 30_000, interval: 250 }).toEqual([]);
    expect(alerts().filter((a) => a.kind === 'wal-ship-failed')).toHaveLength(1);
  }, 240_000);

  it('alerts once, with the hint, when the spool is missing, and keeps trying every round', async () => {
    const shipper = harness.client.workflow.getHandle<typeof shipWal>(walShipperWorkflowId(fixture.config.temporal.taskQueuePrefix, lost));
    await expect.poll(async () => (await shipper.query(walStatusQuery))?.rounds ?? 0, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(6);
    // No worker polls the spool's queue (none found the directory at start); a worker of the region says what it finds there.
    const missing = `no worker on the machine with the WAL spool of ${lost} took the round within 1 s: WAL spool ${join(dir, 'no-such-spool')} of ${lost} does not exist on `;
    expect((await shipper.query(walStatusQuery))!.shipError).toEqual({
      type: 'WorkerUnavailable', message: expect.stringContaining(missing) as string, hint: expect.stringMatching(/create it on the machine.*wal\.spool.*a worker polls a spool only if the directory exists when it starts/) as string,
    });
    const failed = alertsOf(lost);
    expect(failed.map((a) => a.kind)).toEqual(['wal-ship-failed']);
    expect(failed[0]!.title).toBe(`${lost}: WAL shipping failed (WorkerUnavailable)`);
    expect(failed[0]!.text).toContain(missing);
    expect(failed[0]!.text).toContain('Hint: create it on the machine');
    expect((await shipper.describe()).status.name).toBe('RUNNING');
    // doctor fails a running shipper whose spool no worker polls, and names who ships the other one.
    const doctor = await execa(lifeboat, ['--config', fixture.configFile, '--json', 'doctor'], { env: fixture.env, reject: false });
    const checks = (JSON.parse(doctor.stdout) as { checks: Array<{ check: string; ok: boolean; detail: string }> }).checks;
    expect(checks.find((c) => c.check === `wal shipper ${lost}`)).toMatchObject({ ok: false, detail: expect.stringMatching(/no worker polls \S+\.spool\.lost-db: the WAL of lost-db stays in its spool; its last round \(\S+\) failed: WorkerUnavailable: .* \(start \(or restart\) "lifeboat worker --region stockholm" on the machine that holds wal\.spool/) });
    expect(checks.find((c) => c.check === `wal shipper ${source}`)).toMatchObject({ ok: true, detail: expect.stringMatching(/, shipped by \S+/) });
    expect(doctor.exitCode).toBe(2);
  }, 120_000);

  it('continues as new after roundsPerRun rounds, carrying its state, and keeps shipping', async () => {
    const first = (await handle.describe()).runId;
    await expect.poll(async () => (await harness.client.workflow.getHandle(handle.workflowId).describe()).runId, { timeout: 60_000, interval: 500 }).not.toBe(first);
    const current = harness.client.workflow.getHandle<typeof shipWal>(handle.workflowId);
    await expect.poll(async () => (await current.query(walStatusQuery))?.rounds ?? 0, { timeout: 30_000, interval: 250 }).toBeGreaterThan(4);
    await switchSegments(1);
    await waitSpooled(1);
    await expect.poll(() => spooled(spool), { timeout: 60_000, interval: 250 }).toEqual([]);
    expect((await current.describe()).status.name).toBe('RUNNING');
  }, 180_000);

  it('counts continuity from a real base backup (pg_basebackup) through the newest archived segment', async () => {
    const base = await runBackup(harness.client, fixture.config, source);
    firstBase = await physicalOf(base.backupId);
    // The backup's own .backup history file and the segment that ends it reach the spool, then every region.
    await expect.poll(async () => (await archived(storage('stockholm'), source)).filter((n) => n.endsWith('.backup')).length, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(1);
    await expect.poll(() => spooled(spool), { timeout: 60_000, interval: 250 }).toEqual([]);
    const newest = (await archived(storage('stockholm'), source)).filter(isSegment).at(-1)!;
    await expect.poll(async () => {
      const facts = (await handle.query(walStatusQuery))!.regions.find((r) => r.region === 'stockholm') as Exclude<WalRegionFacts, { error: string }>;
      return { base: facts.base?.id, continuity: facts.continuity };
    }, { timeout: 30_000, interval: 250 }).toEqual({ base: base.backupId, continuity: { from: firstBase.startWalFile, contiguousThrough: newest, gaps: [] } });
    expect(alerts().filter((a) => a.kind === 'wal-gap')).toEqual([]);
  }, 180_000);

  it('raises one wal-gap alert for a segment missing in a region, naming the gap and what is no longer reachable', async () => {
    const segments = (await archived(storage('gothenburg'), source)).filter(isSegment);
    expect(segments.length).toBeGreaterThanOrEqual(5);
    await writeBaseBackupManifest(storage('gothenburg'), source, 'gothenburg', '20260101T000000Z-base', new Date().toISOString(), segments[0]!);
    const missing = segments[2]!;
    await storage('gothenburg').remove(walKeys.object(source, missing));

    await expect.poll(() => alerts().filter((a) => a.kind === 'wal-gap').length, { timeout: 60_000, interval: 250 }).toBe(1);
    const rounds = (await handle.query(walStatusQuery))!.rounds;
    await expect.poll(async () => (await handle.query(walStatusQuery))!.rounds, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(rounds + 3);
    const gaps = alerts().filter((a) => a.kind === 'wal-gap');
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({ source, region: 'gothenburg', details: { firstMissing: missing, lastMissing: missing, missing: 1, resumesAt: segments[3], contiguousThrough: segments[1], baseBackup: '20260101T000000Z-base' } });
    expect(gaps[0]!.title).toContain(missing);
    expect(gaps[0]!.text).toContain('not reachable');
    const facts = (await handle.query(walStatusQuery))!.regions.find((r) => r.region === 'gothenburg') as Exclude<WalRegionFacts, { error: string }>;
    expect(facts.continuity).toMatchObject({ from: segments[0], contiguousThrough: segments[1] });
    // The other regions have no base backup: nothing to count from, no alert.
    expect(gaps.every((a) => a.region === 'gothenburg')).toBe(true);

    const registry = new Registry();
    await catalogGauges(fixture.config, storage, registry).refresh();
    const series = async (name: string) => Object.fromEntries((await registry.getSingleMetric(name)!.get()).values.map((v) => [`${String(v.labels.region)}`, v.value]));
    // The arrival of the newest segment by position (a .backup file may arrive later: it is no segment).
    const newestAt = async (region: string) => {
      let newest = { name: '', at: 0 };
      for await (const object of storage(region).list(walKeys.prefix(source))) {
        const name = walKeys.fileName(source, object.key)!;
        if (isSegment(name) && name > newest.name) newest = { name, at: object.modified.getTime() / 1000 };
      }
      return newest.at;
    };
    expect(await series('lifeboat_wal_last_segment_timestamp_seconds')).toEqual({ stockholm: await newestAt('stockholm'), gothenburg: await newestAt('gothenburg'), uppsala: await newestAt('uppsala') });
    expect(await series('lifeboat_wal_gap_segments')).toEqual({ gothenburg: 1, stockholm: 0 });

    const status = await cli(['wal', 'status', '--source', source, '--json']);
    expect(status.exitCode, status.stderr).toBe(0);
    const [walDb] = (JSON.parse(status.stdout) as { sources: WalSourceStatus[] }).sources;
    expect(walDb!.shipper).toMatchObject({ running: true, lastRound: { source } });
    const row = (region: string) => walDb!.regions.find((r) => r.region === region) as Extract<WalRegionRow, { newestAgeSeconds: number | null }>;
    expect(row('gothenburg')).toMatchObject({ base: { id: '20260101T000000Z-base', startWalFile: segments[0] }, continuity: { contiguousThrough: segments[1] }, gaps: [{ firstMissing: missing }] });
    for (const region of regions) {
      expect(row(region).newest?.name, region).toBe(segments.at(-1));
      expect(row(region).newestAgeSeconds, region).toBeLessThan(120);
    }
    expect(row('stockholm')).toMatchObject({ base: { id: firstBase.id, startWalFile: firstBase.startWalFile }, gaps: [] });
    expect(row('uppsala').base).toBeNull();
    const text = await cli(['wal', 'status']);
    expect(text.stdout).toMatch(new RegExp(`gothenburg +${segments.at(-1)!} +\\d+[sm] +20260101T000000Z-base from ${segments[0]!} +${segments[1]!} +1 missing from ${missing}`));
    expect(text.stdout).toMatch(new RegExp(`uppsala +${segments.at(-1)!} +\\d+[sm] +\\(no base backup\\)`));
    expect(text.stdout).toMatch(new RegExp(`stockholm +${segments.at(-1)!} +\\d+[sm] +${firstBase.id} from ${firstBase.startWalFile} +${segments.at(-1)!} +none`));

    const overall = await cli(['status']);
    // lost-db of this file is never backed up: status prints everything, then exits 25 naming it.
    expect(overall.exitCode, overall.stderr).toBe(25);
    expect(overall.stderr).toContain('lost-db (never backed up)');
    const newest = segments.at(-1)!;
    expect(overall.stdout).toMatch(new RegExp(`^  ${source}  stockholm \\d+[sm] ago \\(${newest}\\), gothenburg \\d+[sm] ago \\(${newest}\\), uppsala \\d+[sm] ago \\(${newest}\\)$`, 'm'));
  }, 180_000);

  it('retention deletes exactly the WAL before the oldest kept base backup, keeps .history files, and leaves regions without a base backup alone', async () => {
    await switchSegments(2);
    const second = await runBackup(harness.client, fixture.config, source);
    const kept = await physicalOf(second.backupId);
    await switchSegments(1);
    await expect.poll(async () => (await archived(storage('stockholm'), source)).filter((n) => n.endsWith('.backup')).length, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(2);
    await expect.poll(() => spooled(spool), { timeout: 60_000, interval: 250 }).toEqual([]);
    await handle.terminate('retention test');
    const stockholm = storage('stockholm');
    // A .history file as a promotion would leave: never deleted.
    await stockholm.put(walKeys.object(source, '00000001.history'), Buffer.from('1\t0/9000000\tno recovery target specified\n'));
    const before = await archived(stockholm, source);
    const keepFrom = parseWalName(kept.startWalFile)!;
    const unneeded = before.filter((name) => {
      const parsed = parseWalName(name)!;
      return parsed.kind !== 'history' && parsed.segment < keepFrom.segment;
    });
    // The first base backup's start segment and its .backup file are among them; the kept one's are not.
    expect(unneeded).toEqual(expect.arrayContaining([firstBase.startWalFile, expect.stringMatching(new RegExp(`^${firstBase.startWalFile}\\.[0-9A-F]{8}\\.backup$`))]));
    expect(unneeded).not.toContain(kept.startWalFile);
    const gothenburgBefore = await archived(storage('gothenburg'), source);
    const uppsalaBefore = await archived(storage('uppsala'), source);
    const run = (dryRun: boolean) => harness.client.workflow.execute('applyRetention', {
      args: [{ source, dryRun }], workflowId: `test-wal-retention-${fixture.prefix}-${String(dryRun)}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    }) as Promise<RetentionReport>;

    const dry = await run(true);
    expect(dry.sources[0]!.regions.find((r) => r.region === 'stockholm')!.wal).toEqual({ keepFrom: kept.startWalFile, files: unneeded, count: unneeded.length, last: unneeded.at(-1), deleted: null });
    expect(await archived(stockholm, source)).toEqual(before);

    const real = await run(false);
    const report = real.sources[0]!.regions.find((r) => r.region === 'stockholm')!;
    expect(report.deleted.map((d) => d.id)).toEqual([firstBase.id]);
    expect(report.wal).toEqual({ keepFrom: kept.startWalFile, files: unneeded, count: unneeded.length, last: unneeded.at(-1), deleted: unneeded.length });
    expect(await archived(stockholm, source)).toEqual(before.filter((name) => !unneeded.includes(name)));
    expect(await archived(stockholm, source)).toContain('00000001.history');
    // gothenburg's base backup starts at the first segment there: nothing before it. uppsala has none: nothing goes.
    expect(real.sources[0]!.regions.find((r) => r.region === 'gothenburg')!.wal).toMatchObject({ files: [], deleted: 0 });
    expect(real.sources[0]!.regions.find((r) => r.region === 'uppsala')!.wal).toEqual({ keepFrom: null, files: [], count: 0, last: null, deleted: 0 });
    expect(await archived(storage('gothenburg'), source)).toEqual(gothenburgBefore);
    expect(await archived(storage('uppsala'), source)).toEqual(uppsalaBefore);

    // _wal/ is no source and holds no backup for the catalog readers.
    expect((await listBackups(stockholm, trusted)).map((e) => e.manifest.source)).toEqual([source]);
    expect((await catalogFacts(stockholm, trusted)()).map((f) => f.source)).toEqual([source]);
  }, 240_000);
});
