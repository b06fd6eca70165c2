import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { heavyQueue, hostQueue, spoolQueue } from '../lib/task-queues';
import type { Config } from '../lib/config/schema';
import { createDeps } from '../activities/deps';
import { walKeys } from '../lib/wal';
import { walStatusQuery } from '../workflows/ship-wal';
import { startWorkers, type RunningWorkers } from '../worker/run';
import { dataConverterOf } from '../lib/codec/data-converter';
import { configVariant, makeFixture, type Fixture } from './support/fixture';
import { activityAttempts, runBackup } from './support/runs';
import { startWorkerProcess } from './support/worker-process';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');

interface ActivityRun { type: string; queue: string; identity: string; startedMs: number; closedMs: number }

/** Each activity of a run: where it was scheduled, who started it, and when it ran. */
async function activityRuns(handle: Pick<WorkflowHandle, 'fetchHistory'>): Promise<ActivityRun[]> {
  const runs = new Map<string, ActivityRun>();
  const ms = (time: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(time?.seconds ?? 0) * 1000 + Math.floor((time?.nanos ?? 0) / 1e6);
  for (const event of (await handle.fetchHistory()).events ?? []) {
    const id = String(event.eventId);
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) runs.set(id, { type: scheduled.activityType?.name ?? '', queue: scheduled.taskQueue?.name ?? '', identity: '', startedMs: 0, closedMs: 0 });
    const started = event.activityTaskStartedEventAttributes;
    if (started) Object.assign(runs.get(String(started.scheduledEventId))!, { identity: started.identity ?? '', startedMs: ms(event.eventTime) });
    const closed = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes;
    if (closed) runs.get(String(closed.scheduledEventId))!.closedMs = ms(event.eventTime);
  }
  return [...runs.values()];
}

describe('the worker shape', () => {
  let fixture: Fixture;
  let trees: string;
  const queue = () => `${fixture.config.temporal.taskQueuePrefix}stockholm`;

  beforeAll(async () => {
    trees = mkdtempSync(join(tmpdir(), 'lifeboat-shape-'));
    for (const name of ['small', 'big-a', 'big-b']) mkdirSync(join(trees, name));
    writeFileSync(join(trees, 'small', 'note.txt'), 'restored, checked and cleaned up on one machine\n');
    // Incompressible, at zstd level 12 on one thread: each backup of these takes a couple of seconds.
    for (const name of ['big-a', 'big-b']) writeFileSync(join(trees, name, 'noise.bin'), randomBytes(24 * 1024 * 1024));
    fixture = await makeFixture(servers, (ctx) => ({
      small: { kind: 'files', region: 'stockholm', path: join(trees, 'small') },
      'big-a': { kind: 'files', region: 'stockholm', path: join(trees, 'big-a') },
      'big-b': { kind: 'files', region: 'stockholm', path: join(trees, 'big-b') },
      spooled: ctx.postgres('postgres', { mode: 'physical', wal: { spool: join(trees, 'spool'), interval: '1s' } }),
    }), { sync: { afterBackup: false }, compression: { level: 12, threads: 1 } }, { verify: { target: { scratchDir: join(trees, 'scratch') } } });
    mkdirSync(join(trees, 'scratch'));
  });

  afterAll(() => {
    fixture?.cleanup();
    rmSync(trees, { recursive: true, force: true });
  });

  it('runs a verify restore\'s restore, checks and cleanup on one host\'s queue when two workers serve the region', async () => {
    const alpha = configVariant(fixture, 'alpha', { worker: { hostId: 'alpha' } });
    const beta = configVariant(fixture, 'beta', { worker: { hostId: 'beta' } });
    const harness = await startHarness(alpha.config);
    let second: RunningWorkers | undefined;
    try {
      second = await startWorkers(beta.config, ['stockholm']);
      await runBackup(harness.client, fixture.config, 'small');
      const runs: ActivityRun[][] = [];
      // Two runs, so that whichever worker answers, each run's host steps stay together.
      for (let n = 0; n < 2; n += 1) {
        const handle = await harness.client.workflow.start('verifyRestore', { args: [{ source: 'small', region: 'stockholm', level: 'restore' }], workflowId: `test-shape-verify-${fixture.prefix}${n}`, taskQueue: queue() });
        expect(await handle.result()).toMatchObject({ outcome: 'passed' });
        runs.push(await activityRuns(handle));
      }
      for (const run of runs) {
        const hostSteps = run.filter((a) => ['restoreLevelCheck', 'cleanupScratch'].includes(a.type));
        expect(hostSteps.map((a) => a.type).sort()).toEqual(['cleanupScratch', 'restoreLevelCheck']);
        const host = hostSteps[0]!.queue.endsWith('.host.alpha') ? 'alpha' : 'beta';
        for (const step of hostSteps) {
          expect(step.queue).toBe(hostQueue(queue(), host));
          expect(step.identity).toBe(`${step.identity.split('@')[0]}@${host}`);
        }
        expect(run.find((a) => a.type === 'verifyIntegrity')!.queue).toBe(heavyQueue(queue()));
      }
    } finally {
      second?.shutdown();
      await second?.done;
      await harness.close();
    }
  }, 120_000);

  it('ships a WAL spool only from the worker on the machine that holds it, when two workers serve the region', async () => {
    const spool = join(trees, 'spool');
    mkdirSync(spool);
    const names = ['000000010000000000000031', '000000010000000000000032', '000000010000000000000033'];
    for (const name of names) {
      writeFileSync(join(spool, name), randomBytes(1024 * 1024));
      const old = (Date.now() - 10_000) / 1000;
      utimesSync(join(spool, name), old, old);
    }
    const alpha = configVariant(fixture, 'spool-alpha', { worker: { hostId: 'alpha' } });
    // beta's machine has no such directory: here, its config points at one that does not exist.
    const spooled = fixture.config.sources.spooled as Extract<Config['sources'][string], { kind: 'postgres' }>;
    const beta = configVariant(fixture, 'spool-beta', { worker: { hostId: 'beta' }, sources: { spooled: { ...spooled, wal: { ...spooled.wal!, spool: join(trees, 'not-on-beta') } } } });
    const harness = await startHarness(alpha.config);
    let second: RunningWorkers | undefined;
    try {
      second = await startWorkers(beta.config, ['stockholm']);
      expect(harness.workers.spools).toEqual(['spooled']);
      expect(second.spools).toEqual([]);
      const handle = await harness.client.workflow.start('shipWal', { args: [{ source: 'spooled' }], workflowId: `test-shape-spool-${fixture.prefix}`, taskQueue: queue() });
      try {
        await expect.poll(() => readdirSync(spool), { timeout: 60_000, interval: 250 }).toEqual([]);
        // More rounds than workers, so a round on the wrong machine would have had its chance.
        await expect.poll(async () => (await activityRuns(handle)).filter((a) => a.type === 'shipWalFiles' && a.closedMs > 0).length, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(6);
        const rounds = (await activityRuns(handle)).filter((a) => a.type === 'shipWalFiles' && a.closedMs > 0);
        for (const round of rounds) {
          expect(round.queue).toBe(spoolQueue(queue(), 'spooled'));
          expect(round.identity).toMatch(/@alpha$/);
        }
        expect((await handle.query(walStatusQuery))?.shipError).toBeNull();
        for (const name of names) expect(await createDeps(fixture.config).storage('gothenburg').stat(walKeys.object('spooled', name))).toBeDefined();
      } finally {
        await handle.terminate('test done');
      }
    } finally {
      second?.shutdown();
      await second?.done;
      await harness.close();
    }
  }, 180_000);

  it('runs at most worker.heavySlots streaming activities at once, on the region\'s heavy queue', async () => {
    const one = configVariant(fixture, 'one-heavy-slot', { worker: { heavySlots: 1 } });
    const harness = await startHarness(one.config);
    try {
      const handles = await Promise.all(['big-a', 'big-b'].map((source) =>
        harness.client.workflow.start('backupSource', { args: [{ source }], workflowId: `test-shape-heavy-${source}-${fixture.prefix}`, taskQueue: queue() })));
      await Promise.all(handles.map((handle) => handle.result()));
      const snapshots = (await Promise.all(handles.map(activityRuns))).map((run) => run.find((a) => a.type === 'snapshotToStorage')!);
      for (const snapshot of snapshots) expect(snapshot.queue).toBe(heavyQueue(queue()));
      const [first, second] = snapshots.sort((a, b) => a.startedMs - b.startedMs);
      // One slot: the second snapshot starts only once the first has finished.
      expect(second!.startedMs).toBeGreaterThanOrEqual(first!.closedMs);
    } finally {
      await harness.close();
    }
  }, 120_000);

  it('keeps at most worker.maxCachedWorkflows runs in memory per queue, and completes more open runs than that by replaying the evicted ones', async () => {
    const small = configVariant(fixture, 'small-cache', { worker: { maxCachedWorkflows: 10, heavySlots: 1 } });
    const harness = await startHarness(small.config);
    let peak = 0;
    const sampler = setInterval(() => { peak = Math.max(peak, harness.workers.cachedWorkflows()); }, 20);
    try {
      // One heavy slot: the 24 backups wait for it with their runs open, more than the cache holds.
      const handles = await Promise.all(Array.from({ length: 24 }, (_, n) =>
        harness.client.workflow.start('backupSource', { args: [{ source: 'small' }], workflowId: `test-shape-cache-${n}-${fixture.prefix}`, taskQueue: queue() })));
      const results = await Promise.all(handles.map((handle) => handle.result() as Promise<{ backupId: string }>));
      expect(new Set(results.map((r) => r.backupId)).size).toBe(24);
      // The region queue and the any-region queue each keep up to ten; only the region queue ran these.
      expect(peak).toBeGreaterThanOrEqual(10);
      expect(peak).toBeLessThanOrEqual(20);
    } finally {
      clearInterval(sampler);
      await harness.close();
    }
  }, 180_000);

  it('lets a running backup finish on SIGTERM within worker.shutdownGrace instead of killing it', async () => {
    // Its machine has no WAL spool for `spooled`: the worker says it will not ship that source.
    const spooled = fixture.config.sources.spooled as Extract<Config['sources'][string], { kind: 'postgres' }>;
    const graceful = configVariant(fixture, 'graceful', { worker: { shutdownGrace: '60s' }, sources: { spooled: { ...spooled, wal: { ...spooled.wal!, spool: join(trees, 'no-spool-here') } } } });
    const worker = startWorkerProcess(graceful.file, fixture.env, ['--region', 'stockholm']);
    let harness: Harness | undefined;
    const connection = await Connection.connect({ address: servers.temporal.address });
    try {
      // Only the worker process serves the queue until its SIGTERM.
      const handle = await new Client({ connection, dataConverter: dataConverterOf(fixture.config) }).workflow.start('backupSource', { args: [{ source: 'big-a' }], workflowId: `test-shape-grace-${fixture.prefix}`, taskQueue: queue() });
      await expect.poll(async () => (await activityRuns(handle)).some((a) => a.type === 'snapshotToStorage' && a.identity !== ''), { timeout: 60_000, interval: 100 }).toBe(true);
      await worker.stop();
      expect(worker.output()).toMatch(/SIGTERM: taking no new tasks; running activities get up to 60s to finish/);
      expect(worker.output()).toContain(`WAL of spooled: no spool ${join(trees, 'no-spool-here')} on this machine, so this worker does not ship it`);
      // The rest of the run (the manifest) on a new worker, as after a deploy.
      harness = await startHarness(fixture.config);
      await handle.result();
      expect(await activityAttempts(handle, 'snapshotToStorage')).toEqual([1]);
    } finally {
      await worker.stop();
      await harness?.close();
      await connection.close();
    }
  }, 180_000);
});
