import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { parseDuration } from '../../lib/config/duration';
import { LifeboatError } from '../../lib/errors';
import type { FailoverPlan, FailoverSourceKind, HookRun } from '../../lib/failover';
import type { FilesDescription, RedisDescription } from '../../lib/manifest';
import type { CheckOutcome } from '../../lib/verify';
import { findBackup, refreshing } from '../catalog';
import { pinPlan, unpinRun } from '../pins';
import type { Deps } from '../deps';
import { advance, stallTimeoutMs, watched } from '../progress';
import { removeTree } from '../remove-tree';
import { identityFile } from '../restore-stream';
import { databaseName } from '../sources/postgres/connect';
import { info, keyspace } from '../sources/redis/cli';
import { checkFiles } from '../verify/files';
import { checkPostgres } from '../verify/postgres';
import { checkRedis } from '../verify/redis';
import { runHook, type HookContext } from './hooks';
import { markerText } from './markers';
import { checkPhysical, restorePhysical } from './physical';
import { describeTarget, failoverKind, preparePlan, snapshotTime, targetOf, type PreflightInput } from './plan';
import { pgTarget, redisPassword, restoreFilesTarget, restoreLogical, restoreRedisTarget, teardownTarget } from './targets';

export interface FailoverSettingsInput {
  targetRegion: string;
  recoveryPoint: string;
  sources?: string[];
  drill: boolean;
  approval?: 'operator' | 'auto';
}

/** What the workflow needs of the config: durations, which hooks exist, objectives. No secret. */
export interface FailoverSettings {
  taskQueuePrefix: string;
  heartbeatTimeoutMs: number;
  workerTimeoutMs: number;
  remindEveryMs: number;
  deadlineMs: number;
  fenceRequired: boolean;
  hooks: Partial<Record<HookRun['hook'], { how: 'command' | 'webhook'; timeoutMs: number }>>;
  objectives: { rpoMs: number; rtoMs: number } | null;
  sources: string[];
}

export interface FailoverSourceInput {
  /** Names this run's markers: the same on every attempt of the run, never in another run. */
  runKey: string;
  source: string;
  targetRegion: string;
  backupId: string;
  /** Physical only: an ISO time, or null for the end of WAL. */
  recoveryTarget?: string | null;
}

export interface RestoredSource {
  source: string;
  kind: FailoverSourceKind;
  backupId: string;
  recoveryPoint: string;
  target: string;
  detail: string;
  restoreMs: number;
}

export type HookInput = HookContext;

/** How long past the approval deadline a pin outlives a run that never unpinned (killed, terminated): restores take hours, not days. */
const PIN_MARGIN_MS = 2 * 86_400_000;

export function failoverActivities(deps: Deps) {
  const { config } = deps;

  async function failoverSettings(input: FailoverSettingsInput): Promise<FailoverSettings> {
    if (!config.regions[input.targetRegion]) {
      throw new LifeboatError('Usage', `no region "${input.targetRegion}" in the config`, `regions are: ${Object.keys(config.regions).join(', ')}`);
    }
    if (input.recoveryPoint !== 'latest' && Number.isNaN(Date.parse(input.recoveryPoint))) {
      throw new LifeboatError('Usage', `the recovery point is "latest" or an ISO time such as 2026-11-24T12:00:00Z, got "${input.recoveryPoint}"`);
    }
    if (input.approval === 'auto' && !input.drill) {
      throw new LifeboatError('Usage', 'approval "auto" is for drills only: a real failover waits for an operator', 'leave approval out, or start a drill');
    }
    const configured = Object.keys(config.regions[input.targetRegion]!.failover?.targets ?? {});
    const sources = input.sources && input.sources.length > 0 ? input.sources : configured;
    if (sources.length === 0) {
      throw new LifeboatError('Config', `regions.${input.targetRegion}.failover.targets names no source: nothing to bring back in ${input.targetRegion}`,
        `add the sources' targets under regions.${input.targetRegion}.failover.targets`);
    }
    for (const source of sources) {
      if (!config.sources[source]) throw new LifeboatError('Usage', `no source "${source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ')}`);
      targetOf(config, input.targetRegion, source);
    }
    const failover = config.failover;
    const hooks: FailoverSettings['hooks'] = {};
    for (const name of ['fence', 'cutover', 'undoCutover'] as const) {
      const hook = failover?.hooks[name];
      if (hook) hooks[name] = { how: hook.command ? 'command' : 'webhook', timeoutMs: parseDuration(hook.timeout) };
    }
    return {
      taskQueuePrefix: config.temporal.taskQueuePrefix,
      heartbeatTimeoutMs: parseDuration(config.temporal.heartbeatTimeout),
      workerTimeoutMs: parseDuration(failover?.workerTimeout ?? '1m'),
      remindEveryMs: parseDuration(failover?.approval.remindEvery ?? '15m'),
      deadlineMs: parseDuration(failover?.approval.deadline ?? '4h'),
      fenceRequired: failover?.hooks.fenceRequired ?? true,
      hooks,
      objectives: config.objectives ? { rpoMs: parseDuration(config.objectives.rpo), rtoMs: parseDuration(config.objectives.rto) } : null,
      sources: [...sources].sort(),
    };
  }

  /** On the target region's worker: its catalog, its view of the WAL; that it runs at all is the liveness check. */
  async function failoverPreflight(input: PreflightInput): Promise<FailoverPlan> {
    const storage = deps.storage(input.targetRegion);
    const plan = await watched({ step: `failover preflight in ${input.targetRegion}`, stallMs: stallTimeoutMs(config), details: { phase: 'reading the catalog' } },
      () => preparePlan(config, storage, deps.trusted, input, new Date(), refreshing(deps)));
    // Retention must not delete what the plan restores while the run waits for approval and restores.
    const owner = Context.current().info.workflowExecution;
    const untilMs = Date.now() + parseDuration(config.failover?.approval.deadline ?? '4h') + PIN_MARGIN_MS;
    try {
      if (!owner) throw new Error('no workflow run to pin for');
      await pinPlan(storage, plan, owner, untilMs);
    } catch (error) {
      const line = `not pinned against retention (${(error as Error).message}): a retention run before the restore could delete backup `;
      for (const source of plan.sources) source.warnings.push(`${line}${source.backupId}`);
    }
    return plan;
  }

  /** At the end of the run, whatever the outcome: its backups are retention's again. */
  async function failoverUnpin(input: { targetRegion: string; sources: string[] }): Promise<{ removed: number }> {
    const owner = Context.current().info.workflowExecution;
    return { removed: owner ? await unpinRun(deps.storage(input.targetRegion), input.sources, owner.runId) : 0 };
  }

  async function runOf(input: FailoverSourceInput) {
    const storage = deps.storage(input.targetRegion);
    const { manifest } = await findBackup(storage, deps.trusted, input.source, input.backupId);
    const target = targetOf(config, input.targetRegion, input.source);
    const kind = failoverKind(config.sources[input.source]!);
    return { storage, trusted: deps.trusted, manifest, identity: identityFile(config.encryption.identityFile), target, kind, marker: markerText(input.runKey, input.source) };
  }

  const pgOf = (input: FailoverSourceInput) => pgTarget(targetOf(config, input.targetRegion, input.source), `regions.${input.targetRegion}.failover.targets.${input.source}`, deps.env);

  /** Restores one source into its target; a retry after a crash clears this run's half-done attempt and starts over. */
  async function failoverRestore(input: FailoverSourceInput): Promise<RestoredSource> {
    // Progress, not a timer: bytes fed to the tools, phases, the replayed LSN; a hung restore fails its attempt (Stalled).
    return watched({ step: `failover restore of ${input.source}`, stallMs: stallTimeoutMs(config), details: { source: input.source, phase: 'reading the manifest' } }, async () => {
      const run = await runOf(input);
      const started = Date.now();
      let detail: string;
      let recoveryPoint = snapshotTime(run.manifest);
      switch (run.kind) {
        case 'postgres-logical': detail = await restoreLogical(run, pgOf(input)); break;
        case 'redis': detail = await restoreRedisTarget(run, deps.env); break;
        case 'files': detail = await restoreFilesTarget(run); break;
        case 'postgres-physical': {
          const physical = await restorePhysical(run.storage, run.trusted, run.manifest, run.identity, run.target, run.marker, input.recoveryTarget,
            (phase) => advance({ phase }));
          detail = physical.detail;
          recoveryPoint = physical.recoveredTo;
          break;
        }
      }
      return { source: input.source, kind: run.kind, backupId: input.backupId, recoveryPoint, target: describeTarget(run.kind, run.target), detail, restoreMs: Date.now() - started };
    });
  }

  /** verifyRestore's checks, on the restored target itself. Failed checks are results, not errors. */
  async function failoverVerify(input: FailoverSourceInput): Promise<CheckOutcome[]> {
    return watched({ step: `failover verify of ${input.source}`, stallMs: stallTimeoutMs(config), details: { source: input.source, phase: 'checking' } }, async () => {
      const run = await runOf(input);
      const checks = config.sources[input.source]!.verify?.checks ?? [];
      switch (run.kind) {
        case 'postgres-logical': {
          const directory = mkdtempSync(join(tmpdir(), 'lifeboat-failover-toc-'));
          try {
            return await checkPostgres({ storage: run.storage, manifest: run.manifest, identity: run.identity, scratch: pgOf(input), directory }, checks);
          } finally {
            await removeTree(directory);
          }
        }
        case 'redis': {
          const target = { host: '127.0.0.1', port: run.target.port!, db: 0, password: redisPassword(run.target, deps.env) };
          const values = await info(target, `restored redis on port ${target.port}`);
          const server = { target, pid: Number(values.get('process_id')), keyspace: keyspace(values), version: values.get('redis_version') ?? 'unknown' };
          return await checkRedis(server, run.manifest.description as RedisDescription, checks);
        }
        case 'files':
          return await checkFiles(run.target.directory!, run.manifest.description as FilesDescription);
        case 'postgres-physical': {
          const sourceConfig = config.sources[input.source]!;
          return await checkPhysical(run.manifest, run.target, sourceConfig.kind === 'postgres' ? databaseName(sourceConfig.url) : 'postgres', checks);
        }
      }
    });
  }

  /** Removes what this run restored for one source (and nothing else). Safe to repeat. */
  async function failoverTeardown(input: Omit<FailoverSourceInput, 'backupId'>): Promise<{ source: string; removed: string[] }> {
    const target = targetOf(config, input.targetRegion, input.source);
    const kind = failoverKind(config.sources[input.source]!);
    const removed = await watched({ step: `failover teardown of ${input.source}`, stallMs: stallTimeoutMs(config), details: { source: input.source } },
      () => teardownTarget(kind, target, markerText(input.runKey, input.source), () => pgOf({ ...input, backupId: '' })));
    return { source: input.source, removed };
  }

  async function runFailoverHook(input: HookInput): Promise<HookRun> {
    const hook = config.failover?.hooks[input.hook];
    if (!hook) throw new LifeboatError('Config', `failover.hooks.${input.hook} is not set in this worker's config`, 'give every worker the same config file');
    return runHook(hook, input, deps.env);
  }

  return { failoverSettings, failoverPreflight, failoverUnpin, failoverRestore, failoverVerify, failoverTeardown, runFailoverHook };
}

