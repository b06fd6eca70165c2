import { LifeboatError } from '../lib/errors';
import type { Decision } from '../lib/retention/plan';
import type { Deps } from './deps';
import { advance } from './progress';
import type { LockExtension, OrphanPlan, retentionActivities, SourceWork } from './retention';
import type { WalPruneInput, WalPruneResult } from './wal';
import { putSigned, readSigned, removeSigned } from './signed';
import { keys } from '../lib/manifest';
import { noteRemoved } from './catalog-journal';
import { refreshing } from './catalog';

// Retention over a catalog of any size (issue 13, item 3): what was decided for a source in a
// region is stored, signed, in that region's storage, and the history holds its key, its counts
// and the first few items. The deletions run in pages read back from it.

/** Items of each kind a plan names in the history; the rest are counted. */
export const LISTED = 20;
/** Kept backups listed: rules keep a bounded set (7 daily, 4 weekly, …), and the report should show all of a usual one. */
export const LISTED_KEPT = 100;

export type RetentionItem = Pick<Decision, 'id' | 'finishedAt' | 'reasons'>;

/** What one region's stored plan holds: the work of one source there. */
export interface StoredRegionPlan {
  source: string;
  region: string;
  decisions: Decision[];
  orphans: OrphanPlan[];
  extendLocks: LockExtension[];
}

export interface RegionPlanSummary {
  region: string;
  rules: string;
  /** `_retention/<source>/<run id>-<region>.json` in the region's own storage, signed. */
  key: string;
  counts: { kept: number; deleted: number; orphans: number; orphansToRemove: number; locks: number };
  /** Deletions, orphan removals and lock extensions, in the order the pages run them. */
  tasks: number;
  kept: RetentionItem[];
  deleted: RetentionItem[];
  orphans: OrphanPlan[];
  locks: LockExtension[];
}

export interface SourcePlanSummary {
  source: string;
  kind: string;
  home: string;
  wal: boolean;
  blocked: string | null;
  newestAt: string | null;
  regions: RegionPlanSummary[];
}

export interface StoredRetentionWork {
  dryRun: boolean;
  plans: SourcePlanSummary[];
  unmanaged: string[];
  /** The first LISTED untrusted objects of each source, and how many there are. */
  untrusted: Array<{ source: string; region: string; key: string; reason: string }>;
  untrustedCounts: Record<string, number>;
  taskQueues: Record<string, string>;
}

export interface PlanStoredInput {
  source?: string;
  dryRun: boolean;
  now: string;
  runId: string;
}

export interface RetentionPageInput {
  source: string;
  region: string;
  key: string;
  offset: number;
  limit: number;
}

export interface RetentionPageResult {
  deleted: number;
  orphansRemoved: number;
  locksExtended: number;
  /** Objects removed or locked, per item of the page: the workflow keeps those of the items it lists. */
  items: Array<{ kind: 'delete' | 'orphan' | 'lock'; id: string; objects: number | null; skipped?: string; error?: string; finishedAt?: string; reasons?: string[] }>;
}

export const retentionPlanKey = (source: string, runId: string, region: string) => `_retention/${source}/${runId}-${region}.json`;

/**
 * Deletions at once per page. Each is about ten requests in a row (pins, locks, tombstone, the
 * objects), so latency, not the server, bounds a page: 16 keep a 20,000-backup prune to minutes,
 * and stay far below S3's request rates per prefix (3,500 writes a second).
 */
const AT_ONCE = 16;

type Task = { kind: 'delete'; id: string; decision: Decision } | { kind: 'orphan'; orphan: OrphanPlan } | { kind: 'lock'; extension: LockExtension };

function tasksOf(plan: StoredRegionPlan): Task[] {
  return [
    ...plan.decisions.filter((d) => d.action === 'delete').map((d): Task => ({ kind: 'delete', id: d.id, decision: d })),
    ...plan.orphans.filter((o) => o.action === 'remove').map((orphan): Task => ({ kind: 'orphan', orphan })),
    ...plan.extendLocks.map((extension): Task => ({ kind: 'lock', extension })),
  ];
}

const item = ({ id, finishedAt, reasons }: Decision): RetentionItem => ({ id, finishedAt, reasons });

export function retentionPageActivities(deps: Deps, retention: ReturnType<typeof retentionActivities>, pruneWal: (input: WalPruneInput) => Promise<WalPruneResult>) {
  const { config } = deps;

  /** Plans every source (or one), stores each region's part in that region, returns what the history may hold. */
  async function planRetentionStored({ source, dryRun, now, runId }: PlanStoredInput): Promise<StoredRetentionWork> {
    if (source !== undefined && !(source in config.sources)) {
      throw new LifeboatError('Usage', `no source "${source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ')}`);
    }
    const work: StoredRetentionWork = {
      dryRun: dryRun || config.retention.dryRun,
      plans: [],
      unmanaged: [],
      untrusted: [],
      untrustedCounts: {},
      taskQueues: Object.fromEntries(Object.keys(config.regions).map((region) => [region, `${config.temporal.taskQueuePrefix}${region}`])),
    };
    // A dry run writes nothing, not even the catalog index; a real one leaves it current.
    const catalog = work.dryRun ? {} : refreshing(deps);
    for (const name of source !== undefined ? [source] : Object.keys(config.sources)) {
      const planned = await retention.planSource(name, now, catalog);
      if (!planned) {
        work.unmanaged.push(name);
        continue;
      }
      work.plans.push(await storeSourcePlan(planned, runId));
      work.untrusted.push(...planned.untrusted.slice(0, LISTED));
      if (planned.untrusted.length > 0) work.untrustedCounts[name] = planned.untrusted.length;
    }
    return work;
  }

  async function storeSourcePlan({ plan, orphans, extendLocks }: SourceWork, runId: string): Promise<SourcePlanSummary> {
    const regions: RegionPlanSummary[] = [];
    for (const region of plan.regions) {
      const stored: StoredRegionPlan = {
        source: plan.source,
        region: region.region,
        decisions: region.decisions,
        orphans: orphans.filter((o) => o.region === region.region),
        extendLocks: extendLocks.filter((e) => e.region === region.region),
      };
      const key = retentionPlanKey(plan.source, runId, region.region);
      advance({ source: plan.source, region: region.region, storing: key });
      await putSigned(deps.storage(region.region), key, Buffer.from(JSON.stringify(stored)), deps.signer());
      const kept = region.decisions.filter((d) => d.action === 'keep');
      const deleted = region.decisions.filter((d) => d.action === 'delete');
      regions.push({
        region: region.region,
        rules: region.rules,
        key,
        counts: { kept: kept.length, deleted: deleted.length, orphans: stored.orphans.length, orphansToRemove: stored.orphans.filter((o) => o.action === 'remove').length, locks: stored.extendLocks.length },
        tasks: plan.blocked ? 0 : tasksOf(stored).length,
        kept: kept.slice(-LISTED_KEPT).map(item),
        deleted: deleted.slice(0, LISTED).map(item),
        orphans: stored.orphans.slice(0, LISTED),
        locks: stored.extendLocks.slice(0, LISTED),
      });
    }
    return { source: plan.source, kind: plan.kind, home: plan.home, wal: plan.wal, blocked: plan.blocked, newestAt: plan.newestAt, regions };
  }

  async function readPlan(region: string, key: string): Promise<StoredRegionPlan> {
    const storage = deps.storage(region);
    const { bytes, verdict } = await readSigned(storage, key, deps.trusted);
    if (!verdict.trusted) {
      throw new LifeboatError('Untrusted', `${storage.location}: the retention plan ${key} is not trusted: ${verdict.reason}; nothing was deleted by this page`, 'run retention again: it plans afresh');
    }
    return JSON.parse(bytes.toString('utf8')) as StoredRegionPlan;
  }

  /**
   * One page of a region's stored plan, on that region's worker. A refusal that cannot heal (a pin,
   * a lock) is reported for its item; anything else fails the page after the rest of it ran, and
   * Temporal retries the page: every step is idempotent.
   */
  async function applyRetentionPage({ source, region, key, offset, limit }: RetentionPageInput): Promise<RetentionPageResult> {
    const plan = await readPlan(region, key);
    if (plan.source !== source || plan.region !== region) {
      throw new LifeboatError('Untrusted', `the retention plan ${key} is for ${plan.source} in ${plan.region}, not ${source} in ${region}`, 'run retention again: it plans afresh');
    }
    const page = tasksOf(plan).slice(offset, offset + limit);
    const result: RetentionPageResult = { deleted: 0, orphansRemoved: 0, locksExtended: 0, items: [] };
    let retryable: unknown;
    let done = 0;
    const deletedHere: string[] = [];
    for (let i = 0; i < page.length; i += AT_ONCE) {
      await Promise.all(page.slice(i, i + AT_ONCE).map(async (task) => {
        const id = task.kind === 'delete' ? task.id : task.kind === 'orphan' ? task.orphan.id : task.extension.id;
        try {
          if (task.kind === 'delete') {
            const { objects } = await retention.deleteBackup({ source, region, id }, false);
            deletedHere.push(keys.backupPrefix(source, id));
            result.deleted += 1;
            result.items.push({ kind: 'delete', id, objects });
          } else if (task.kind === 'orphan') {
            const { objects, skipped } = await retention.removeOrphanedData({ source, region, id });
            if (!skipped) result.orphansRemoved += 1;
            result.items.push({ kind: 'orphan', id, objects: skipped ? null : objects, ...(skipped ? { skipped } : {}) });
          } else {
            const { objects } = await retention.extendLock(task.extension);
            result.locksExtended += 1;
            result.items.push({ kind: 'lock', id, objects });
          }
        } catch (error) {
          if (!(error instanceof LifeboatError) || error.retryable) retryable ??= error;
          else result.items.push({ kind: task.kind, id, objects: null, error: (error as Error).message, ...(task.kind === 'delete' ? { finishedAt: task.decision.finishedAt, reasons: task.decision.reasons } : {}) });
        }
        advance({ source, region, offset, done: ++done });
      }));
    }
    // One signed change for the page's deletions, before a retryable failure sends the page round again.
    await noteRemoved(deps.storage(region), deps.signer(), source, deletedHere);
    if (retryable) throw retryable;
    return result;
  }

  /**
   * The archived WAL that no remaining backup of the stored plan needs: in a dry run, what the plan
   * keeps; otherwise every backup whose manifest is still there (a failed deletion may have left
   * a restorable backup, whose WAL stays too). The kept ids never pass through the history.
   */
  async function pruneWalByPlan({ source, region, key, dryRun }: { source: string; region: string; key: string; dryRun: boolean }): Promise<WalPruneResult> {
    const plan = await readPlan(region, key);
    const keep = plan.decisions.filter((d) => d.action === 'keep').map((d) => d.id);
    if (!dryRun) {
      const storage = deps.storage(region);
      for (const decision of plan.decisions.filter((d) => d.action === 'delete')) {
        if (await storage.stat(keys.manifest(plan.source, decision.id))) keep.push(decision.id);
      }
    }
    return pruneWal({ source, region, keep, dryRun });
  }

  /** The plan and its signature, once the run is done with it. */
  async function discardRetentionPlan({ region, key }: { region: string; key: string }): Promise<void> {
    await removeSigned(deps.storage(region), key);
  }

  return { planRetentionStored, applyRetentionPage, pruneWalByPlan, discardRetentionPlan };
}
