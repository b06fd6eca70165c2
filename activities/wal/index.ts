import { parseDuration } from '../../lib/config/duration';
import type { WalConfig } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { spoolQueue } from '../../lib/task-queues';
import { hostIdOf } from '../host-queue';
import { checkSpool } from './spool';
import type { Deps } from '../deps';
import { advance, stallTimeoutMs, watched } from '../progress';
import { deleteWalFiles, planWalPrune, type WalPrunePlan } from './prune';
import { walRegionState, type WalRegionState } from './region-state';
import { firstOf, shipSpool, type ShipHeartbeat, type ShipResult } from './ship';

export interface WalPlan {
  /** The source's region: one of its workers has the spool. */
  region: string;
  taskQueue: string;
  /** The queue only the worker on the spool's machine polls (lib/task-queues.ts spoolQueue). */
  spoolTaskQueue: string;
  taskQueuePrefix: string;
  regions: string[];
  intervalMs: number;
  roundsPerRun: number;
  gapGraceMs: number;
  heartbeatTimeoutMs: number;
  /** wal.workerTimeout: the wait for the spool's worker to take a round. */
  workerTimeoutMs: number;
}

export interface WalPruneInput {
  source: string;
  region: string;
  /** Backups retention keeps in the region. */
  keep: string[];
  dryRun: boolean;
}

/**
 * In a dry run `deleted` is null. `count` files go (or would); `files` names the first and `last`
 * the last of them: a history holds counts, never the list, which grows with the archive.
 */
export type WalPruneResult = Omit<WalPrunePlan, 'files'> & { files: string[]; count: number; last: string | null; deleted: number | null };

/** File names a prune result lists: enough to see which files, never the whole archive. */
export const LISTED_WAL_FILES = 20;

export function walConfigOf(deps: Deps, source: string): WalConfig {
  const config = deps.config.sources[source];
  if (!config) throw new LifeboatError('Config', `no source "${source}" in the worker's config`, `sources are: ${Object.keys(deps.config.sources).join(', ')}`);
  if (config.kind !== 'postgres' || !config.wal) {
    throw new LifeboatError('Config', `source ${source} does not archive WAL`, 'WAL archiving needs a postgres source with mode: physical and a wal block (wal.spool); see docs/wal.md');
  }
  return config.wal;
}

export function walActivities(deps: Deps) {
  const { config } = deps;

  async function planWal({ source }: { source: string }): Promise<WalPlan> {
    const wal = walConfigOf(deps, source);
    const region = config.sources[source]!.region;
    return {
      region,
      taskQueue: `${config.temporal.taskQueuePrefix}${region}`,
      spoolTaskQueue: spoolQueue(`${config.temporal.taskQueuePrefix}${region}`, source),
      taskQueuePrefix: config.temporal.taskQueuePrefix,
      regions: Object.keys(config.regions),
      intervalMs: parseDuration(wal.interval),
      roundsPerRun: wal.roundsPerRun,
      gapGraceMs: parseDuration(wal.gapGrace),
      heartbeatTimeoutMs: parseDuration(config.temporal.heartbeatTimeout),
      workerTimeoutMs: parseDuration(wal.workerTimeout),
    };
  }

  /**
   * Asked on the region queue when no worker took a round on the spool's queue: what this worker
   * (any of the region's) finds at the spool's path says whether the spool is missing or its
   * worker is.
   */
  async function spoolProblem({ source }: { source: string }): Promise<{ problem: string; hint: string }> {
    const { spool } = walConfigOf(deps, source);
    const host = hostIdOf(config);
    try {
      // Only the directory itself: a backlog of thousands of files would make a listing slow.
      await checkSpool(spool, source);
    } catch (error) {
      const found = error instanceof LifeboatError ? error.message : String(error);
      return { problem: `${found} on ${host}`, hint: `${error instanceof LifeboatError && error.hint ? `${error.hint}; ` : ''}then start (or restart) "lifeboat worker" there: a worker polls a spool only if the directory exists when it starts` };
    }
    return { problem: `the spool exists on ${host}, but its worker started before it did and does not poll it`, hint: `restart "lifeboat worker" on ${host}` };
  }

  /** One round of the shipper, on the spool's own queue: only the machine with the spool polls it. */
  async function shipWalFiles({ source }: { source: string }): Promise<ShipResult> {
    walConfigOf(deps, source);
    // Per file, and between files too: one upload to a slow region may outlast the heartbeat timeout.
    const first: ShipHeartbeat = { file: '', done: 0, of: 0 };
    return firstOf(await watched({ step: `WAL shipping of ${source}`, stallMs: stallTimeoutMs(config), details: { ...first } },
      () => shipSpool(config, source, deps, (next) => advance({ ...next }))));
  }

  /** On the region's own queue, which holds its storage credentials. */
  async function walRegionStatus({ source, region }: { source: string; region: string }): Promise<WalRegionState> {
    return walRegionState(deps.storage(region), deps.trusted, source, region);
  }

  /** Heartbeats while it lists and deletes: an archive of 100,000 files takes minutes. A retry plans again (what is gone is not listed). */
  async function pruneWal({ source, region, keep, dryRun }: WalPruneInput): Promise<WalPruneResult> {
    return watched({ step: `WAL prune of ${source} in ${region}`, stallMs: stallTimeoutMs(config), details: { source, region } }, async () => {
      const storage = deps.storage(region);
      const beat = (progress: { listed?: number; deleted?: number }) => advance({ source, region, ...progress });
      const plan = await planWalPrune(storage, deps.trusted, source, keep, (listed) => beat({ listed }));
      const result = { keepFrom: plan.keepFrom, files: plan.files.slice(0, LISTED_WAL_FILES), count: plan.files.length, last: plan.files.at(-1) ?? null };
      if (dryRun) return { ...result, deleted: null };
      return { ...result, deleted: await deleteWalFiles(storage, source, plan.files, (deleted) => beat({ deleted })) };
    });
  }

  return { planWal, spoolProblem, shipWalFiles, walRegionStatus, pruneWal };
}
