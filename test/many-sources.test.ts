import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, type ScheduleDescription } from '@temporalio/client';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { ApplyReport } from '../client/schedules/reconcile';
import { dataConverterOf } from '../lib/codec/data-converter';
import { parseDuration } from '../lib/config/duration';
import { temporalConnectionOptions } from '../lib/temporal-connection';
import { withClient } from '../scripts/sample-db';
import { sleep } from './harness/processes';
import { makeFixture, type Fixture, type SourceContext } from './support/fixture';
import { memoryOf, watchGroupMemory, type GroupMemory } from './support/process-memory';
import { causeChain, scheduledRun, spread, ticksBetween, unionLength, type ScheduledRun } from './support/scheduled-runs';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';

// LIFEBOAT_MANY_SOURCES=full (npm run many-sources) is the campaign of issue 14, target 7: 100
// sources every 5 minutes for 30 minutes on one worker process. CI runs 12 sources every minute
// for one scheduled time (the campaign's six cover the overlap between runs), so the whole file
// stays within about 2 minutes with the servers' start. Every figure asserted comes from Temporal: the schedules' own record of each action
// (scheduled vs actual time, skips, misses) and the runs they started.
const full = process.env.LIFEBOAT_MANY_SOURCES === 'full';
const counts = full ? { postgres: 40, redis: 30, files: 30 } : { postgres: 4, redis: 4, files: 4 };
const sourceCount = counts.postgres + counts.redis + counts.files;
const cron = full ? '*/5 * * * *' : '* * * * *';
const intervalMs = full ? 5 * 60_000 : 60_000;
/** Scheduled times in (apply, apply + window] must each have started a run. LIFEBOAT_MANY_SOURCES_WINDOW=10m shortens the full campaign. */
const windowMs = full ? parseDuration(process.env.LIFEBOAT_MANY_SOURCES_WINDOW ?? '30m') : 65_000;
if (full && windowMs < 2 * intervalMs) throw new Error(`LIFEBOAT_MANY_SOURCES_WINDOW must hold two cron times (at least ${2 * intervalMs / 60_000} min)`);
/** After the window, how long the last runs (and the syncs they start) may take to finish. */
const drainMs = full ? 10 * 60_000 : 90_000;
const lateBoundMs = 60_000;
// The full campaign spreads each cron time's 100 runs over up to 4 minutes (the schedule's
// `jitter`): started all at once, their 300 open workflows (scheduled run, backup, sync) took the
// worker to 611 MiB and the schedules' own starts up to 78 s late (docs/many-sources.md).
// LIFEBOAT_MANY_SOURCES_JITTER=none runs without it, =2m with another. Temporal's scheduled time
// of a run includes its jitter and lateness is measured from there; the wait from the cron time
// is reported apart. Below the cron's interval, each run still belongs to one cron time.
const jitterSetting = process.env.LIFEBOAT_MANY_SOURCES_JITTER ?? (full ? '4m' : 'none');
const jitter = ['none', '0', ''].includes(jitterSetting) ? undefined : jitterSetting;
const jitterMs = jitter === undefined ? 0 : parseDuration(jitter);
if (jitterMs >= intervalMs) throw new Error(`LIFEBOAT_MANY_SOURCES_JITTER=${jitter} must be shorter than the cron's interval (${intervalMs / 1000} s)`);
/** The cron time a run belongs to: its scheduled time less its jitter. */
const cronTime = (at: number) => Math.floor(at / intervalMs) * intervalMs;
const MiB = 1024 * 1024;
const rssBound = 500 * MiB;
const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

/** What the campaign saw, for the tests below to judge and the summary to print. */
interface Campaign {
  startedAt: number;
  appliedAt: number;
  applySeconds: number;
  windowEnd: number;
  descriptions: Map<string, ScheduleDescription>;
  /** Per schedule: its scheduled times in the window that started no run. */
  missing: Map<string, number[]>;
  /** Schedules whose next run time, right after apply, was not the cron's next time. */
  nextTimeMismatches: string[];
  runs: ScheduledRun[];
  /** Every workflow of the campaign's queues by type and final status ("syncRegions COMPLETED": 600). */
  workflows: Map<string, number>;
  /** Workflows other than the scheduled runs (the backups' syncs, say) that did not complete. */
  otherFailures: string[];
  memory: GroupMemory;
  /** The worker's RSS once it polls, before any run. */
  idleRss: number;
  drainedAt: number;
  endedAt: number;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
const size = (bytes: number) => (bytes >= MiB ? mib(bytes) : `${(bytes / 1024).toFixed(1)} KiB`);

/** One line per scheduled time: how late its runs were taken and picked up, and when the last finished. */
function perTick(runs: ScheduledRun[]): string[] {
  const times = [...new Set(runs.map((r) => cronTime(r.scheduledAt)))].sort((a, b) => a - b);
  return times.map((at) => {
    const of = runs.filter((r) => cronTime(r.scheduledAt) === at);
    const taken = spread(of.map((r) => r.takenAt - r.scheduledAt));
    const picked = spread(of.flatMap((r) => (r.pickedUpAt === undefined ? [] : [r.pickedUpAt - r.scheduledAt])));
    const finished = spread(of.flatMap((r) => (r.closedAt === undefined ? [] : [r.closedAt - at])));
    return `${new Date(at).toISOString().slice(11, 16)}Z  ${of.length} runs, taken late max ${seconds(taken.max)} (median ${seconds(taken.median)}), `
      + `on the worker max ${seconds(picked.max)}, last finished after ${seconds(finished.max)}`;
  });
}

/** Runs `work` over `items`, `width` at a time. */
async function pool<T, R>(items: T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  }));
  return results;
}

describe(`${sourceCount} sources on a schedule (${full ? 'full campaign' : 'CI'}: ${counts.postgres} PostgreSQL, ${counts.redis} Redis, ${counts.files} file trees; "${cron}"${jitter === undefined ? '' : ` with jitter ${jitter}`} for ${windowMs / 60_000} min on one worker process)`, () => {
  const tag = randomBytes(3).toString('hex');
  const databases = Array.from({ length: counts.postgres }, (_, i) => `many_${tag}_${i + 1}`);
  const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
  // The redis source takes a db number in its URL, but a backup is the server's whole RDB (SYNC):
  // every Redis source here backs up the one test server. The db numbers spread their keys apart.
  const redisDb = (i: number) => i % 16;
  const redisKeys = (name: string) => `many:${tag}:${name}:`;
  let dir: string;
  let fixture: Fixture;
  let connection: Connection;
  let client: Client;
  let worker: WorkerProcess | undefined;
  let campaign: Campaign | undefined;
  let watch: ReturnType<typeof watchGroupMemory> | undefined;
  const queues = () => ['stockholm', 'gothenburg', 'any-region'].map((q) => `${fixture.config.temporal.taskQueuePrefix}${q}`);
  const cli = (configFile: string, args: string[]) => execa(lifeboat, ['--config', configFile, ...args], { env: fixture.env, reject: false });

  /** Makes the databases, keys and trees; returns the sources over them, for makeFixture. */
  async function createSources(): Promise<(ctx: SourceContext) => Record<string, unknown>> {
    // One at a time: CREATE DATABASE copies template1 and refuses while another copy reads it.
    await withClient(pg, 'postgres', async (c) => {
      for (const database of databases) await c.query(`create database "${database}"`);
    });
    await pool(databases, 4, (database) => withClient(pg, database, async (c) => {
      await c.query(`create table items (id int primary key, name text not null, price numeric(10, 2), tags text[]);
        insert into items select g, 'item ' || g, g * 1.25, array['a' || g % 7, 'b' || g % 11] from generate_series(1, 400) g;
        create table events (id bigserial primary key, item_id int references items(id), at timestamptz default now(), detail jsonb);
        insert into events (item_id, detail) select 1 + g % 400, jsonb_build_object('n', g, 'kind', 'k' || g % 5) from generate_series(1, 300) g;`);
    }));
    for (let i = 0; i < counts.redis; i += 1) {
      const prefix = redisKeys(`cache-${i + 1}`);
      const lines = Array.from({ length: 100 }, (_, k) => `SET ${prefix}${k} ${randomBytes(48).toString('hex')}`);
      lines.push(`HSET ${prefix}profile name cache-${i + 1} keys 100`);
      await execa('redis-cli', ['-p', String(servers.redis.port), '-n', String(redisDb(i))], { input: lines.join('\n'), stdout: 'ignore' });
    }
    for (let i = 0; i < counts.files; i += 1) {
      const tree = join(dir, 'trees', `tree-${i + 1}`);
      mkdirSync(join(tree, 'sub'), { recursive: true });
      writeFileSync(join(tree, 'notes.txt'), `tree ${i + 1}\n`.repeat(200));
      writeFileSync(join(tree, 'data.json'), JSON.stringify(Array.from({ length: 100 }, (_, k) => ({ k, v: `value ${k}` }))));
      writeFileSync(join(tree, 'blob.bin'), randomBytes(16 * 1024));
      writeFileSync(join(tree, 'sub', 'rows.csv'), Array.from({ length: 300 }, (_, k) => `${k},${k * k},row ${k}`).join('\n'));
      writeFileSync(join(tree, 'sub', 'empty'), '');
    }
    const schedule = { cron, ...(jitter === undefined ? {} : { jitter }) };
    return (ctx) => ({
      ...Object.fromEntries(databases.map((database, i) => [`db-${i + 1}`, ctx.postgres(database, { schedule })])),
      ...Object.fromEntries(Array.from({ length: counts.redis }, (_, i) => [`cache-${i + 1}`, {
        kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${servers.redis.port}/${redisDb(i)}`, schedule,
      }])),
      ...Object.fromEntries(Array.from({ length: counts.files }, (_, i) => [`tree-${i + 1}`, { kind: 'files', region: 'stockholm', path: join(dir, 'trees', `tree-${i + 1}`), schedule }])),
    });
  }

  /** The fixture's config without any schedule: `schedules apply` with it deletes them all. */
  function unscheduledConfig(): string {
    const document = parse(readFileSync(fixture.configFile, 'utf8')) as { sources: Record<string, Record<string, unknown>> };
    for (const source of Object.values(document.sources)) delete source.schedule;
    const file = join(fixture.dir, 'unscheduled.yaml');
    writeFileSync(file, stringify(document));
    return file;
  }

  async function describeAll(ids: string[]): Promise<Map<string, ScheduleDescription>> {
    return new Map(await pool(ids, 8, async (id) => [id, await client.schedule.getHandle(id).describe()] as const));
  }

  /** Per schedule, the window's scheduled times that have no action yet. */
  function missingTimes(descriptions: Map<string, ScheduleDescription>, ticks: number[]): Map<string, number[]> {
    return new Map([...descriptions].map(([id, d]) => {
      const taken = new Set(d.info.recentActions.map((a) => cronTime(a.scheduledAt.getTime())));
      return [id, ticks.filter((t) => !taken.has(t))];
    }));
  }

  /** The open workflows of the campaign's queues, from visibility. */
  async function runningNow(): Promise<number> {
    let running = 0;
    for (const queue of queues()) {
      for await (const run of client.workflow.list({ query: `TaskQueue = '${queue}' AND ExecutionStatus = 'Running'` })) running += run ? 1 : 0;
    }
    return running;
  }

  async function runCampaign(): Promise<Campaign> {
    const startedAt = Date.now();
    worker = startWorkerProcess(fixture.configFile, fixture.env);
    const memoryWatch = watchGroupMemory(worker.child.pid!);
    watch = memoryWatch;
    const ready = Date.now() + 60_000;
    while (!worker.output().includes('lifeboat worker polling')) {
      if (worker.child.exitCode !== null || Date.now() > ready) throw new Error(`the worker did not start:\n${worker.output()}`);
      await sleep(200);
    }
    await sleep(2_000);
    const idleRss = memoryOf(worker.child.pid!).rss;
    // Applying creates, describes and rewrites each schedule in turn: start it where no scheduled
    // time falls inside it, so every schedule's first run is one time and the window holds whole ticks.
    const applyBudget = 5_000 + sourceCount * 500;
    const untilTick = intervalMs - (Date.now() % intervalMs);
    if (untilTick < applyBudget) await sleep(untilTick + 2_000);
    const applyStart = Date.now();
    const applied = await cli(fixture.configFile, ['--json', 'schedules', 'apply']);
    if (applied.exitCode !== 0) throw new Error(`schedules apply failed:\n${applied.stderr}${applied.stdout}`);
    const report = JSON.parse(applied.stdout) as ApplyReport;
    const appliedAt = Date.now();
    const ids = report.changes.filter((c) => c.change === 'created').map((c) => c.id).sort();
    if (ids.length !== sourceCount) throw new Error(`schedules apply created ${ids.length} schedules, expected ${sourceCount}:\n${applied.stdout}`);
    const windowEnd = appliedAt + windowMs;
    const ticks = ticksBetween(intervalMs, appliedAt, windowEnd);
    const expectedNext = ticksBetween(intervalMs, appliedAt, appliedAt + intervalMs)[0]!;
    const nextTimeMismatches = [...await describeAll(ids)]
      .filter(([, d]) => cronTime(d.info.nextActionTimes[0]?.getTime() ?? 0) !== expectedNext)
      .map(([id, d]) => `${id}: next ${d.info.nextActionTimes[0]?.toISOString()}, cron says ${new Date(expectedNext).toISOString()}`);
    console.error(`many sources: ${ids.length} schedules applied in ${seconds(appliedAt - applyStart)}; ${ticks.length} scheduled times until ${new Date(windowEnd).toISOString()}`);

    // Until every scheduled time in the window has its action, or is accounted for by a skip or
    // miss, or the last one is more than the lateness bound old (then what is missing is missing).
    await sleep(Math.max(0, windowEnd + jitterMs - Date.now()));
    const settleBy = ticks.at(-1)! + jitterMs + lateBoundMs + 10_000;
    let descriptions = await describeAll(ids);
    for (;;) {
      const missing = missingTimes(descriptions, ticks);
      const accounted = [...descriptions].every(([id, d]) => missing.get(id)!.length <= d.info.numActionsSkippedOverlap + d.info.numActionsMissedCatchupWindow);
      if (accounted || Date.now() > settleBy) break;
      await sleep(2_000);
      descriptions = await describeAll(ids);
    }
    const deleted = await cli(unscheduledConfig(), ['--json', 'schedules', 'apply']);
    if (deleted.exitCode !== 0) throw new Error(`schedules apply (deleting) failed:\n${deleted.stderr}${deleted.stdout}`);

    // The last runs, and the syncs their backups started, finish on the worker before it stops.
    const drainBy = Date.now() + drainMs;
    while ((await runningNow()) > 0 && Date.now() < drainBy) await sleep(3_000);
    const drainedAt = Date.now();
    const memory = memoryWatch.stop();
    await worker.stop();

    // Runs of a later cron time that started before the schedules were deleted are judged with the
    // other workflows below, not counted as the window's.
    const inWindow = new Set(ticks);
    const runs = (await pool([...descriptions].flatMap(([id, d]) => d.info.recentActions
      .filter((action) => inWindow.has(cronTime(action.scheduledAt.getTime()))).map((action) => ({ id, action }))), 8,
      ({ id, action }) => scheduledRun(client, id, action))).sort((a, b) => a.scheduledAt - b.scheduledAt || a.scheduleId.localeCompare(b.scheduleId));
    const scheduledIds = new Set(runs.map((r) => r.workflowId));
    const workflows = new Map<string, number>();
    const otherFailures: string[] = [];
    for (const queue of queues()) {
      for await (const execution of client.workflow.list({ query: `TaskQueue = '${queue}'` })) {
        const key = `${execution.type} ${execution.status.name}`;
        workflows.set(key, (workflows.get(key) ?? 0) + 1);
        if (execution.status.name !== 'COMPLETED' && !scheduledIds.has(execution.workflowId) && execution.type !== 'backupSource') {
          const handle = client.workflow.getHandle(execution.workflowId, execution.runId);
          otherFailures.push(`${execution.workflowId} (${execution.type}) ${execution.status.name}: ${await handle.result().then(() => 'completed after all', causeChain)}`);
        }
      }
    }
    return {
      startedAt, appliedAt, applySeconds: (appliedAt - applyStart) / 1000, windowEnd, descriptions, missing: missingTimes(descriptions, ticks),
      nextTimeMismatches, runs, workflows, otherFailures, memory, idleRss, drainedAt, endedAt: Date.now(),
    };
  }

  function summary(c: Campaign): string {
    const { heavySlots, lightSlots, maxCachedWorkflows } = fixture.config.worker;
    const late = spread(c.runs.map((r) => r.takenAt - r.scheduledAt));
    const picked = spread(c.runs.flatMap((r) => (r.pickedUpAt === undefined ? [] : [r.pickedUpAt - r.scheduledAt])));
    const fromCron = spread(c.runs.flatMap((r) => (r.pickedUpAt === undefined ? [] : [r.pickedUpAt - cronTime(r.scheduledAt)])));
    const began = spread(c.runs.flatMap((r) => (r.snapshot ? [r.snapshot.startedAt - r.scheduledAt] : [])));
    const finished = spread(c.runs.flatMap((r) => (r.closedAt === undefined ? [] : [r.closedAt - r.scheduledAt])));
    const skippedOverlap = [...c.descriptions.values()].reduce((n, d) => n + d.info.numActionsSkippedOverlap, 0);
    const missedCatchup = [...c.descriptions.values()].reduce((n, d) => n + d.info.numActionsMissedCatchupWindow, 0);
    const missing = [...c.missing.values()].reduce((n, m) => n + m.length, 0);
    const failures = c.runs.filter((r) => r.status !== 'COMPLETED');
    const bytes = c.runs.reduce((n, r) => n + r.bytes, 0);
    const busy = unionLength(c.runs.flatMap((r) => (r.snapshot ? [r.snapshot] : [])));
    const watched = (c.drainedAt - c.startedAt) / 1000;
    const rows: Array<[string, string]> = [
      ['sources', `${sourceCount} (${counts.postgres} PostgreSQL, ${counts.redis} Redis on one server, ${counts.files} file trees), "${cron}", ${jitter === undefined ? 'no jitter' : `jitter ${jitter}`}, overlap SKIP`],
      ['worker', `one process, heavySlots ${heavySlots}, lightSlots ${lightSlots}, maxCachedWorkflows ${maxCachedWorkflows}`],
      ['window', `${seconds(windowMs)} from ${new Date(c.appliedAt).toISOString()} (apply took ${c.applySeconds.toFixed(1)} s)`],
      ['runs', `${c.runs.length} (${c.runs.filter((r) => r.outcome === 'done').length} backups, ${c.runs.filter((r) => r.outcome === 'skipped').length} skipped: a backup of the source was running)`],
      ['start lateness (schedule)', `max ${seconds(late.max)}, median ${seconds(late.median)}`],
      ['start lateness (worker)', `max ${seconds(picked.max)}, median ${seconds(picked.median)} (first workflow task)`],
      ...(jitter === undefined ? [] : [['run began after cron time', `max ${seconds(fromCron.max)}, median ${seconds(fromCron.median)} (jitter included)`] as [string, string]]),
      ['snapshot began after time', `max ${seconds(began.max)}, median ${seconds(began.median)} (waits for a heavy slot)`],
      ['run finished after time', `max ${seconds(finished.max)}, median ${seconds(finished.median)}`],
      ['skipped by overlap', `${skippedOverlap}`],
      ['missed', `${missing} scheduled time(s) without a run; ${missedCatchup} past the catch-up window`],
      ['failures', `${failures.length} scheduled run(s), ${c.otherFailures.length} other workflow(s)`],
      ['peak worker RSS', `${mib(c.memory.nodePeak)} (Node processes: up to ${c.memory.nodeProcesses}; leader VmHWM ${mib(c.memory.leaderHwm)}); with its tools ${mib(c.memory.groupPeak)}, up to ${c.memory.processes} processes`],
      ['worker RSS per minute', `${c.memory.perMinute.map((rss) => (rss / MiB).toFixed(0)).join(' ')} MiB (idle after start: ${mib(c.idleRss)})`],
      ['worker CPU', `${c.memory.cpuSeconds.toFixed(0)} s over ${watched.toFixed(0)} s (${(c.memory.cpuSeconds / watched).toFixed(2)} cores on average)`],
      ['backup throughput', `${size(bytes)} stored by ${c.runs.filter((r) => r.outcome === 'done').length} backups; ${size(busy > 0 ? bytes / (busy / 1000) : 0)}/s while a snapshot ran (${seconds(busy)} with one running)`],
      ['workflows', [...c.workflows].sort().map(([key, n]) => `${key} ${n}`).join(', ')],
      ['machine load', `1-min load average mean ${c.memory.load.mean.toFixed(1)}, max ${c.memory.load.max.toFixed(1)} on ${availableParallelism()} cores (the worker, the servers and anything else running)`],
      ['wall time', `${seconds(c.endedAt - c.startedAt)} (worker start to collected results)`],
      ...perTick(c.runs).map((line, i): [string, string] => [i === 0 ? 'per scheduled time' : '', line]),
    ];
    const width = Math.max(...rows.map(([key]) => key.length));
    return [`many sources (${full ? 'full' : 'CI'}):`, ...rows.map(([key, value]) => `  ${key.padEnd(width)}  ${value}`),
      ...failures.map((r) => `  FAILED ${r.workflowId}: ${r.failure ?? r.status}`), ...c.otherFailures.map((line) => `  FAILED ${line}`)].join('\n');
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-many-'));
    fixture = await makeFixture(servers, await createSources());
    connection = await Connection.connect(temporalConnectionOptions(fixture.config.temporal));
    client = new Client({ connection, namespace: fixture.config.temporal.namespace, dataConverter: dataConverterOf(fixture.config) });
    campaign = await runCampaign();
  }, windowMs + jitterMs + drainMs + (full ? 15 * 60_000 : 120_000));

  afterAll(async () => {
    if (campaign) console.error(summary(campaign));
    watch?.stop();
    await worker?.stop();
    if (client && fixture) {
      // A campaign that failed half-way leaves schedules and runs behind: none may outlive the file.
      for await (const schedule of client.schedule.list()) {
        if (schedule.scheduleId.startsWith(fixture.config.temporal.taskQueuePrefix)) await client.schedule.getHandle(schedule.scheduleId).delete().catch(() => undefined);
      }
      for (const queue of queues()) {
        for await (const run of client.workflow.list({ query: `TaskQueue = '${queue}' AND ExecutionStatus = 'Running'` })) {
          await client.workflow.getHandle(run.workflowId, run.runId).terminate('many-sources test cleanup').catch(() => undefined);
        }
      }
      await connection.close();
    }
    await withClient(pg, 'postgres', async (c) => {
      for (const database of databases) await c.query(`drop database if exists "${database}" with (force)`);
    });
    for (let db = 0; db < Math.min(16, counts.redis); db += 1) {
      await execa('redis-cli', ['-p', String(servers.redis.port), '-n', String(db), 'EVAL',
        `for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1`, '0', `many:${tag}:*`]);
    }
    fixture?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('starts a run at every scheduled time in the window, skipping one only by the overlap policy', () => {
    const c = campaign!;
    expect(c.nextTimeMismatches, 'Temporal\'s next run time after apply is the cron\'s').toEqual([]);
    const unexplained = [...c.descriptions].flatMap(([id, d]) => {
      const missing = c.missing.get(id)!;
      return missing.length > d.info.numActionsSkippedOverlap ? [`${id}: no run at ${missing.map((t) => new Date(t).toISOString()).join(', ')}`] : [];
    });
    expect(unexplained).toEqual([]);
    expect([...c.descriptions].filter(([, d]) => d.info.numActionsMissedCatchupWindow > 0).map(([id]) => id)).toEqual([]);
    // recentActions holds the last ten: every action the schedules took must be among them to be judged.
    expect([...c.descriptions].filter(([, d]) => d.info.numActionsTaken !== d.info.recentActions.length).map(([id]) => id)).toEqual([]);
    // Every cron time the window holds (CI: one; the full campaign: six) started every source.
    expect(c.runs.length).toBeGreaterThanOrEqual(sourceCount * Math.floor(windowMs / intervalMs));
  });

  it('starts no run more than 60 s after its scheduled time, neither by the schedule nor on the worker', () => {
    const late = campaign!.runs.flatMap((r) => {
      const takenLate = r.takenAt - r.scheduledAt;
      const pickedLate = r.pickedUpAt === undefined ? Infinity : r.pickedUpAt - r.scheduledAt;
      return takenLate > lateBoundMs || pickedLate > lateBoundMs
        ? [`${r.workflowId}: taken ${seconds(takenLate)} late, first workflow task ${r.pickedUpAt === undefined ? 'never' : `${seconds(pickedLate)} late`}`] : [];
    });
    expect(late).toEqual([]);
  });

  it('completes every run it started, and every sync those backups started, successfully', () => {
    const c = campaign!;
    expect(c.runs.filter((r) => r.status !== 'COMPLETED').map((r) => `${r.workflowId} ${r.status}: ${r.failure}`)).toEqual([]);
    expect(c.otherFailures).toEqual([]);
  });

  it('keeps the worker process within 500 MiB of RSS', () => {
    expect(campaign!.memory.nodePeak, summary(campaign!)).toBeLessThanOrEqual(rssBound);
  });
});
