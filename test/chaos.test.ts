import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { startBackup } from '../client/commands/backup';
import { startShippers } from '../client/commands/wal';
import { verifyWorkflowId, walShipperWorkflowId } from '../lib/workflow-ids';
import { tableFingerprints } from '../scripts/sample-db';
import { approveUpdate } from '../workflows/failover-status';
import { dataConverterOf } from '../lib/codec/data-converter';
import { sleep } from './harness/processes';
import { startRedis } from './harness/redis';
import { campaignTable, isNamed, runningNow, seeded, settle, untilActivity, type Expectation, type RunRecord } from './support/chaos/campaign';
import { checkCatalog, fillRedis, redisContents, treeHashes, type CatalogFindings } from './support/chaos/checks';
import { makeChaosWorld, type ChaosWorld } from './support/chaos/world';
import type { S3Fault } from './support/fault-proxy';
import { databaseExists, redisAnswers, startFailover, waitForStatus } from './support/failover';
import { runRestore } from './support/runs';
import { archived } from './support/wal';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';

// LIFEBOAT_CHAOS=full (npm run chaos) runs the whole campaign: 20 worker kills spread over every
// workflow, two Temporal restarts, every S3 fault (a region down for a minute), a PostgreSQL
// restart and a Redis crash. Without it, CI runs a few of them in well under two minutes.
const campaign = process.env.LIFEBOAT_CHAOS === 'full';
const seed = Number(process.env.LIFEBOAT_CHAOS_SEED ?? Math.floor(Math.random() * 1e9));
const servers = inject('servers');
/** Every run the campaign watches must end (complete or fail) within this bound, or it counts as stuck. */
const boundMs = campaign ? 5 * 60_000 : 60_000;
const regionDownMs = campaign ? 60_000 : 5_000;
const redisKeys = campaign ? 400 : 60;
const redisValueBytes = 256 * 1024;
const sources = ['fo-db', 'fo-cache', 'fo-files', 'chaos-db', 'chaos-phys', 'chaos-cache'];

type Category = 'backup postgres logical' | 'backup postgres physical' | 'backup redis' | 'backup files' | 'sync' | 'verify restore' | 'retention' | 'wal shipping' | 'failover drill';
const categories: Category[] = ['backup postgres logical', 'backup postgres physical', 'backup redis', 'backup files', 'sync', 'verify restore', 'retention', 'wal shipping', 'failover drill'];

describe(`the fault campaign (seed ${seed})`, () => {
  const rng = seeded(seed);
  const runs: RunRecord[] = [];
  let dir: string;
  let chaos: ChaosWorld;
  let client: Client;
  let worker: WorkerProcess;
  let runNumber = 0;

  const storage = (region: string) => createDeps(chaos.direct).storage(region);
  const queue = (region: string) => `${chaos.config.temporal.taskQueuePrefix}${region}`;
  /** Worker processes that ended on their own (not killed by the campaign): a finding each. */
  const workerExits: string[] = [];
  const startWorker = () => { worker = startWorkerProcess(chaos.configFile, chaos.env); };
  /** Before each fault: a worker that died by itself is reported and replaced, so one death does not fail every later run. */
  const ensureWorker = (before: string) => {
    if (worker.child.exitCode === null && worker.child.signalCode === null) return;
    const lastLines = worker.output().trim().split('\n').slice(-3).join(' | ');
    workerExits.push(`before ${before}: exit ${worker.child.exitCode ?? worker.child.signalCode}: ${lastLines.slice(0, 300)}`);
    startWorker();
  };
  const restartWorker = () => {
    worker.crash();
    startWorker();
  };
  /** Drills that left a target behind (a database, a served Redis, a directory). */
  const drillLeftovers: string[] = [];
  const watch = async (fault: string, workflow: string, point: string, handle: WorkflowHandle, startedAt: number) => {
    const ended = await settle(handle, startedAt, boundMs);
    runs.push({ fault, workflow, point, ...ended });
    if (workflow === 'failover drill') {
      const world = chaos.world;
      const left = [
        ...(await databaseExists(world.pgServer, world.targetDb) ? [`database ${world.targetDb}`] : []),
        ...(await redisAnswers(world.redisPort) ? [`redis-server on ${world.redisPort}`] : []),
        ...[world.redisDir, world.filesDir].filter((d) => existsSync(d)),
      ];
      if (left.length > 0) drillLeftovers.push(`${fault} at ${point}: ${left.join(', ')}`);
    }
    console.log(`chaos: ${fault} | ${workflow} | ${point} | ${ended.outcome} | ${ended.seconds}s`);
    return ended;
  };

  const starters: Record<Exclude<Category, 'wal shipping'>, () => Promise<WorkflowHandle>> = {
    'backup postgres logical': () => startBackup(client, chaos.config, 'fo-db'),
    'backup postgres physical': () => startBackup(client, chaos.config, 'chaos-phys'),
    'backup redis': () => startBackup(client, chaos.config, 'chaos-cache'),
    'backup files': () => startBackup(client, chaos.config, 'fo-files'),
    sync: () => client.workflow.start('syncRegions', { args: [{}], workflowId: `chaos-sync-${runNumber++}`, taskQueue: queue('stockholm') }),
    'verify restore': () => client.workflow.start('verifyRestore', {
      args: [{ source: 'fo-db', region: 'stockholm', level: 'restore' }],
      workflowId: verifyWorkflowId(chaos.config.temporal.taskQueuePrefix, 'fo-db'), taskQueue: queue('stockholm'),
    }),
    retention: () => client.workflow.start('applyRetention', { args: [{}], workflowId: `chaos-retention-${runNumber++}`, taskQueue: queue('stockholm') }),
    'failover drill': () => startFailover(client, chaos.world, { drill: true, approval: 'auto' }),
  };
  /** About how long each runs here: kills land at a random point inside it. */
  const windowMs: Record<Category, number> = {
    'backup postgres logical': 4000, 'backup postgres physical': 5000, 'backup redis': 3000, 'backup files': 2500,
    sync: 5000, 'verify restore': 6000, retention: 2500, 'wal shipping': 3000, 'failover drill': 12000,
  };

  /** A fault-free run, e.g. to have backups to sync, verify and drill, or to catch up after the campaign. */
  const plain = async (workflow: Exclude<Category, 'wal shipping'>, fault = 'none') => {
    const startedAt = Date.now();
    return watch(fault, workflow, '-', await starters[workflow](), startedAt);
  };

  /** Writes a little, closes the WAL segment, and returns its name. */
  const closeSegment = async () => {
    await chaos.cluster.query('create table if not exists chaos_wal (id serial, at timestamptz default now())');
    await chaos.cluster.query('insert into chaos_wal default values');
    const [row] = await chaos.cluster.query<{ file: string }>('select pg_walfile_name(pg_switch_wal()) as file');
    return row!.file;
  };

  const killWorker = async (category: Category) => {
    const delay = rng.int(200, windowMs[category]);
    const startedAt = Date.now();
    if (category === 'wal shipping') {
      const names = [await closeSegment(), await closeSegment()];
      await sleep(delay);
      const point = `${delay}ms ${await runningNow(client.workflow.getHandle(walShipperWorkflowId(chaos.config.temporal.taskQueuePrefix, 'chaos-phys')))}`;
      restartWorker();
      const archivedNow = (region: string) => archived(storage(region), 'chaos-phys');
      const shipped = async () => {
        const inSpool = readdirSync(chaos.cluster.spool).filter((name) => names.includes(name));
        const everywhere = await Promise.all(['stockholm', 'gothenburg'].map(async (region) => {
          const stored = await archivedNow(region);
          return names.every((name) => stored.includes(name));
        }));
        return inSpool.length === 0 && everywhere.every(Boolean);
      };
      let outcome = 'stuck';
      while (Date.now() - startedAt < boundMs) {
        if (await shipped()) {
          outcome = 'completed';
          break;
        }
        await sleep(500);
      }
      const seconds = Math.round((Date.now() - startedAt) / 100) / 10;
      runs.push({ fault: 'worker SIGKILL', workflow: category, point, outcome, seconds });
      console.log(`chaos: worker SIGKILL | ${category} | ${point} | ${outcome} | ${seconds}s`);
      return;
    }
    const handle = await starters[category]();
    await sleep(delay);
    const point = `${delay}ms ${await runningNow(handle)}`;
    restartWorker();
    await watch('worker SIGKILL', category, point, handle, startedAt);
  };

  /** Runs `category` while `fault` is scripted on a region's proxy, then clears the script. */
  const s3Fault = async (name: string, region: string, category: Exclude<Category, 'wal shipping'>, script: (request: { method: string; url: string }) => S3Fault | undefined) => {
    const proxy = chaos.proxies[region]!;
    const before = proxy.injected();
    proxy.script(script);
    try {
      const startedAt = Date.now();
      const handle = await starters[category]();
      const ended = await settle(handle, startedAt, boundMs);
      const injected = Object.entries(proxy.injected()).map(([kind, n]) => `${n - (before[kind] ?? 0)} ${kind}`).filter((text) => !text.startsWith('0 ')).join(', ') || 'none hit';
      runs.push({ fault: name, workflow: category, point: `${region}: ${injected}`, ...ended });
      console.log(`chaos: ${name} | ${category} | ${injected} | ${ended.outcome} | ${ended.seconds}s`);
    } finally {
      proxy.script(undefined);
    }
  };
  const isData = (request: { method: string; url: string }) => !/manifest\.json|\.sig|list-type|uploads|\?$/.test(request.url) && /\/[^/?]+\/[^/?]+\/[^/?]+/.test(request.url);

  const faults: Record<string, () => Promise<void>> = {
    async workerKills() {
      const points = campaign ? [...categories, ...Array.from({ length: 20 - categories.length }, () => rng.pick(categories))] : ['backup files'] as Category[];
      for (const category of points) {
        ensureWorker(category);
        await killWorker(category);
      }
    },
    async temporalRestartDuringBackup() {
      const startedAt = Date.now();
      const handle = await startBackup(client, chaos.config, 'chaos-db');
      await untilActivity(handle, 'snapshotToStorage', 30_000);
      const delay = rng.int(0, 1500);
      await sleep(delay);
      const point = `${delay}ms ${await runningNow(handle)}`;
      await chaos.restartTemporal();
      await watch('Temporal restart', 'backup postgres logical', point, handle, startedAt);
    },
    async temporalRestartAwaitingApproval() {
      const startedAt = Date.now();
      const handle = await startFailover(client, chaos.world, { drill: true });
      const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting-approval', boundMs);
      await chaos.restartTemporal();
      for (let attempt = 0; ; attempt += 1) {
        try {
          await handle.executeUpdate(approveUpdate, { args: [{ by: 'chaos', planHash: waiting.plan!.planHash }] });
          break;
        } catch (error) {
          if (attempt > 30) throw error;
          await sleep(1000);
        }
      }
      await watch('Temporal restart', 'failover drill', 'awaiting approval', handle, startedAt);
    },
    async s3Errors() {
      let left = 6;
      const codes = [{ status: 500, code: 'InternalError' }, { status: 503, code: 'ServiceUnavailable' }, { status: 503, code: 'SlowDown' }] as const;
      await s3Fault('S3 500/503/SlowDown', 'stockholm', 'backup postgres logical', () => (left > 0 && rng.chance(0.3) ? (left--, { kind: 'error', ...rng.pick(codes) }) : undefined));
    },
    async s3Resets() {
      let left = 3;
      await s3Fault('S3 reset mid-body (upload)', 'stockholm', 'backup redis', (r) => (left > 0 && r.method === 'PUT' && isData(r) && rng.chance(0.5) ? (left--, { kind: 'reset' }) : undefined));
      left = 2;
      await s3Fault('S3 reset mid-body (download)', 'stockholm', 'verify restore', (r) => (left > 0 && r.method === 'GET' && isData(r) ? (left--, { kind: 'reset' }) : undefined));
    },
    async s3Stall() {
      let left = 1;
      await s3Fault('S3 stalled response', 'stockholm', 'verify restore', (r) => (left > 0 && r.method === 'GET' && isData(r) ? (left--, { kind: 'stall', ms: campaign ? 90_000 : 15_000 }) : undefined));
    },
    async regionDown() {
      await plain('backup files');
      const startedAt = Date.now();
      const handle = await starters.sync();
      const delay = rng.int(0, 1000);
      await sleep(delay);
      chaos.proxies.gothenburg!.down(regionDownMs);
      await watch(`gothenburg down ${regionDownMs / 1000}s`, 'sync', `${delay}ms`, handle, startedAt);
      await sleep(Math.max(0, startedAt + delay + regionDownMs - Date.now()));
      await plain('sync', 'after the region is back');
    },
    async postgresRestart() {
      const startedAt = Date.now();
      const handle = await startBackup(client, chaos.config, 'chaos-db');
      await untilActivity(handle, 'snapshotToStorage', 30_000);
      const delay = rng.int(0, 1500);
      await sleep(delay);
      const point = `${delay}ms ${await runningNow(handle)}`;
      await chaos.restartPostgres();
      await watch('PostgreSQL restart', 'backup postgres logical', point, handle, startedAt);
    },
    async redisCrash() {
      const startedAt = Date.now();
      const handle = await startBackup(client, chaos.config, 'chaos-cache');
      await untilActivity(handle, 'snapshotToStorage', 30_000);
      const delay = rng.int(0, 500);
      await sleep(delay);
      const point = `${delay}ms ${await runningNow(handle)}`;
      chaos.killRedis();
      await watch('Redis SIGKILL', 'backup redis', point, handle, startedAt);
      await chaos.startRedisAgain();
      await fillRedis(chaos.redisPort, redisKeys, redisValueBytes, seed);
    },
  };
  const chosen = campaign ? Object.keys(faults) : ['workerKills', 's3Errors', 'redisCrash'];

  beforeAll(async () => {
    console.log(`fault campaign seed ${seed} (replay with LIFEBOAT_CHAOS_SEED=${seed}); every run must end within ${boundMs / 1000}s`);
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-chaos-'));
    chaos = await makeChaosWorld(servers, dir, campaign ? 30_000 : 2_000);
    await fillRedis(chaos.redisPort, redisKeys, redisValueBytes, seed);
    startWorker();
    client = new Client({ connection: await Connection.connect({ address: chaos.temporal().address }), dataConverter: dataConverterOf(chaos.config) });
    await startShippers(client, chaos.config, 'chaos-phys');
    // What the campaign syncs, verifies, drills and thins out; CI's few faults need none of it.
    if (campaign) {
      for (const source of sources) await watch('none', `backup ${source}`, '-', await startBackup(client, chaos.config, source), Date.now());
      await plain('sync');
    }
  }, 300_000);

  afterAll(async () => {
    await client?.workflow.getHandle(walShipperWorkflowId(chaos.config.temporal.taskQueuePrefix, 'chaos-phys')).terminate().catch(() => undefined);
    await worker?.stop();
    await client?.connection.close();
    await chaos?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('ends every run or names its error, leaves no manifest without data nor data without manifest, no duplicate, and restores equal copies', async () => {
    for (const name of chosen) {
      ensureWorker(name);
      const startedAt = Date.now();
      try {
        await faults[name]!();
      } catch (error) {
        // The campaign's own step broke (a fault that could not be injected, a check that threw): a finding, and the campaign goes on.
        runs.push({ fault: name, workflow: '(campaign step)', point: '-', outcome: `failed unnamed: ${String(error).slice(0, 120)}`, seconds: Math.round((Date.now() - startedAt) / 1000) });
        console.log(`chaos: ${name} broke: ${String(error)}`);
      }
    }
    ensureWorker('cleanup');
    // The cleanup: what a later schedule would run anyway, without faults.
    if (campaign) {
      await plain('sync', 'none (cleanup)');
      await plain('retention', 'none (cleanup)');
    }

    const findings: Record<string, CatalogFindings> = {};
    for (const region of ['stockholm', 'gothenburg']) findings[region] = await checkCatalog(storage(region), sources);
    const all = (pick: (f: CatalogFindings) => string[]) => Object.entries(findings).flatMap(([region, f]) => pick(f).map((item) => `${region} ${item}`));

    // Restored copies against their sources.
    const restored: Record<string, boolean> = {};
    const pgTarget = (db: string) => `postgres://${servers.postgres.user}@127.0.0.1:${servers.postgres.port}/${db}`;
    const harnessPg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
    const passwordEnv = Object.keys(chaos.env).find((k) => k.startsWith('FO_PG_PASSWORD_'))!;
    const restoreTo = (source: string, target: string, more: Record<string, string> = {}) => runRestore(client, chaos.config, { source, target, ...more });
    const suffix = `${process.pid}_${seed}`;
    const restoreErrors: string[] = [];
    // CI backs up only the files tree and the Redis.
    const compared = campaign ? ['fo-db', 'chaos-db', 'fo-files', 'chaos-cache'] : ['fo-files', 'chaos-cache'];
    // A source whose every backup of the campaign failed with a named error (Redis killed under its
    // only snapshot) has nothing to restore; that run's outcome is judged in the table above.
    const backedUp = async (source: string) => (await listBackups(storage('stockholm'), createDeps(chaos.direct).trusted, source)).length > 0;
    const compare = async (source: string, same: () => Promise<boolean>) => {
      if (!compared.includes(source)) return;
      if (!(await backedUp(source))) {
        console.log(`chaos: ${source} has no backup to restore (every backup of it failed with a named error)`);
        return;
      }
      try {
        restored[source] = await same();
      } catch (error) {
        restored[source] = false;
        restoreErrors.push(`${source}: ${String(error).slice(0, 200)}`);
      }
    };
    await compare('fo-db', async () => {
      await restoreTo('fo-db', pgTarget(`chaos_back_db_${suffix}`), { targetPasswordEnv: passwordEnv });
      return JSON.stringify(await tableFingerprints(harnessPg, `chaos_back_db_${suffix}`)) === JSON.stringify(await tableFingerprints(harnessPg, `fo_src_chaos_${process.pid}`));
    });
    await compare('chaos-db', async () => {
      await restoreTo('chaos-db', pgTarget(`chaos_back_noise_${suffix}`), { targetPasswordEnv: passwordEnv });
      return JSON.stringify(await tableFingerprints(harnessPg, `chaos_back_noise_${suffix}`)) === JSON.stringify(await tableFingerprints(chaos.clusterServer, 'chaos_noise'));
    });
    await compare('fo-files', async () => {
      const filesBack = join(dir, 'files-back');
      await restoreTo('fo-files', filesBack);
      const tree = chaos.config.sources['fo-files']!;
      return JSON.stringify(treeHashes(filesBack)) === JSON.stringify(treeHashes(tree.kind === 'files' ? tree.path : ''));
    });
    await compare('chaos-cache', async () => {
      const redisBack = join(dir, 'redis-back');
      await restoreTo('chaos-cache', redisBack);
      const served = await startRedis({ dir: redisBack, log: () => undefined });
      try {
        return JSON.stringify(await redisContents(served.redis.port)) === JSON.stringify(await redisContents(chaos.redisPort));
      } finally {
        await served.stop();
      }
    });

    const unnamed = runs.filter((r) => !isNamed(r.outcome) && r.outcome !== 'stuck');
    const stuck = runs.filter((r) => r.outcome === 'stuck');
    const unequal = Object.entries(restored).filter(([, same]) => !same).map(([source]) => source);
    const expectations: Expectation[] = [
      { what: 'every run completes or fails with a named error', found: `${runs.length - unnamed.length - stuck.length}/${runs.length} (${unnamed.length} unnamed)`, ok: unnamed.length === 0 },
      { what: 'manifests without data', found: String(all((f) => f.withoutData).length), ok: all((f) => f.withoutData).length === 0 },
      { what: 'data objects without manifest after cleanup', found: `${all((f) => f.orphans).length} objects, ${all((f) => f.incomplete).length} unfinished uploads`, ok: all((f) => [...f.orphans, ...f.incomplete]).length === 0 },
      { what: 'duplicate backups for one run', found: String(all((f) => f.duplicates).length), ok: all((f) => f.duplicates).length === 0 },
      { what: 'restored copies equal to their source', found: `${Object.keys(restored).length - unequal.length}/${Object.keys(restored).length}${unequal.length ? ` (not: ${unequal.join(', ')})` : ''}`, ok: unequal.length === 0 },
      { what: `stuck workflows (bound ${boundMs / 1000}s per run)`, found: String(stuck.length), ok: stuck.length === 0 },
      { what: 'failover drills that left a target behind', found: String(drillLeftovers.length), ok: drillLeftovers.length === 0 },
      { what: 'worker processes that died by themselves', found: String(workerExits.length), ok: workerExits.length === 0 },
    ];
    console.log(campaignTable(seed, runs, expectations));
    const detail = { restoreErrors, drillLeftovers, workerExits, unnamed, stuck, withoutData: all((f) => f.withoutData), orphans: all((f) => [...f.orphans, ...f.incomplete]), duplicates: all((f) => f.duplicates), unequal };
    console.log(`chaos findings: ${JSON.stringify(detail, null, 2)}`);
    expect(detail).toEqual({ restoreErrors: [], drillLeftovers: [], workerExits: [], unnamed: [], stuck: [], withoutData: [], orphans: [], duplicates: [], unequal: [] });
    // Every fault ran at least once (a fault that could not be injected is a run too, failed unnamed).
    expect(runs.length).toBeGreaterThanOrEqual(chosen.length);
  }, campaign ? 3 * 60 * 60_000 : 110_000);
});
