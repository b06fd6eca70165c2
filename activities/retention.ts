import { parseDuration } from '../lib/config/duration';
import { LifeboatError } from '../lib/errors';
import { keys } from '../lib/manifest';
import { lockAtWrite, lockForKeeper } from '../lib/retention/lock';
import { planRetention as decide, type PlanInput, type SourcePlan } from '../lib/retention/plan';
import { rulesFor } from '../lib/retention/policy';
import { extendBackupLock, heldReason } from './locks';
import { activePins } from './pins';
import type { Deps } from './deps';
import { advance } from './progress';
import { countRetentionDeletion } from './metrics';
import { deleteBackupCopy, removeOrphan, scanRegion, type Orphan } from './prune';
import { inBatches, refreshing } from './catalog';
import type { ReadCatalogOptions } from './catalog-index';
import { noteRemoved } from './catalog-journal';

export interface RetentionPlanInput {
  source?: string;
  dryRun: boolean;
  /** The workflow's clock, so the plan and the report agree on "now". */
  now: string;
}

export interface OrphanPlan extends Orphan {
  source: string;
  region: string;
  /** remove: clearly abandoned; leave: why it may still be a backup in progress (or the source is blocked). */
  action: 'remove' | 'leave';
  reason: string;
}

export interface RetentionWork {
  /** True when asked, or when the config says retention.dryRun. */
  dryRun: boolean;
  /** wal: a physical postgres source, whose archived WAL retention also prunes (activities/wal/prune.ts). */
  plans: Array<SourcePlan & { kind: string; home: string; wal: boolean }>;
  /** Sources without retention rules: never pruned. */
  unmanaged: string[];
  orphans: OrphanPlan[];
  /** Manifests no trusted key signed: never counted as copies, never deleted; reported and alerted as untrusted. */
  untrusted: Array<{ source: string; region: string; key: string; reason: string }>;
  /** Where each region's deletions run: that region's worker, which holds its storage credentials. */
  taskQueues: Record<string, string>;
  /** Kept backups in regions with Object Lock whose tier keeps them longer than their lock: extended when not a dry run. */
  extendLocks: LockExtension[];
}

/** What retention decided for one source, in every region. */
export interface SourceWork {
  plan: RetentionWork['plans'][number];
  extendLocks: LockExtension[];
  untrusted: RetentionWork['untrusted'];
  orphans: OrphanPlan[];
}

export interface LockExtension extends CopyRef {
  until: string;
}

export interface CopyRef {
  source: string;
  region: string;
  id: string;
}

export function retentionActivities(deps: Deps) {
  const { config } = deps;
  const graceMs = parseDuration(config.retention.orphanGrace);

  /** Reads every region's catalog of each source and decides; deletes nothing. */
  async function planRetention({ source, dryRun, now }: RetentionPlanInput): Promise<RetentionWork> {
    if (source !== undefined && !(source in config.sources)) {
      throw new LifeboatError('Usage', `no source "${source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ')}`);
    }
    const work: RetentionWork = {
      dryRun: dryRun || config.retention.dryRun,
      plans: [],
      unmanaged: [],
      orphans: [],
      untrusted: [],
      taskQueues: Object.fromEntries(Object.keys(config.regions).map((region) => [region, `${config.temporal.taskQueuePrefix}${region}`])),
      extendLocks: [],
    };
    // A dry run writes nothing, not even the catalog index.
    const catalog = work.dryRun ? {} : refreshing(deps);
    const names = source !== undefined ? [source] : Object.keys(config.sources);
    const plans = await inBatches(names, (name) => planSource(name, now, catalog), 4);
    for (const [index, name] of names.entries()) {
      const planned = plans[index];
      if (!planned) {
        work.unmanaged.push(name);
        continue;
      }
      work.extendLocks.push(...planned.extendLocks);
      work.untrusted.push(...planned.untrusted);
      work.plans.push(planned.plan);
      work.orphans.push(...planned.orphans);
    }
    return work;
  }

  /**
   * One source: reads every region's catalog, decides, and asks Object Lock about what it would
   * delete. Undefined for a source without retention rules.
   */
  async function planSource(name: string, now: string, catalog: ReadCatalogOptions = {}): Promise<SourceWork | undefined> {
    const sourceConfig = config.sources[name]!;
    if (!sourceConfig.retention) return undefined;
    // The source's own region first, then the primary: where minCopies prefers to keep a copy.
    const regions = [...new Set([sourceConfig.region, config.primaryRegion, ...Object.keys(config.regions)])];
    // Every region at once: a far region costs its own round trips, not the sum of them all.
    const scans = await Promise.all(regions.map(async (region) => {
      let manifests = 0;
      // Heartbeats are throttled by the SDK; a long history is read without the activity looking dead.
      return { region, ...(await scanRegion(deps.storage(region), deps.trusted, name, () => advance({ source: name, region, manifests: ++manifests }), catalog)) };
    }));
    const untrusted = scans.flatMap(({ region, untrusted: items }) => items.map((item) => ({ source: name, region, ...item })));
    const pins = await Promise.all(scans.map(({ region }) => activePins(deps.storage(region), name, Date.parse(now))));
    const input: PlanInput = {
      source: name,
      regions: scans.map(({ region, backups, verified }, index) => ({ region, backups, verified, ...(pins[index]!.size > 0 ? { pinned: Object.fromEntries(pins[index]!) } : {}) })),
      retention: sourceConfig.retention,
      timezone: config.retention.timezone,
      now,
      minCopies: config.retention.minCopies,
      rpoMs: config.objectives ? parseDuration(config.objectives.rpo) : undefined,
      untrusted: untrusted.length > 0 ? `${untrusted.length} catalog object(s) are not trusted (${untrusted[0]!.region} ${untrusted[0]!.key}: ${untrusted[0]!.reason})` : undefined,
    };
    // Object Lock refuses early deletes: ask the storage about what the rules would delete, then plan around it.
    let plan = decide(input);
    let held = false;
    for (const [index, region] of plan.regions.entries()) {
      const storage = deps.storage(region.region);
      const found: Record<string, string> = {};
      for (const decision of region.decisions.filter((d) => d.action === 'delete')) {
        const reason = await heldReason(storage, keys.backupPrefix(name, decision.id), Date.parse(now), [keys.tombstone(name, decision.id)]);
        if (reason) found[decision.id] = reason;
      }
      if (Object.keys(found).length > 0) {
        input.regions[index]!.held = found;
        held = true;
      }
    }
    if (held) plan = decide(input);
    return {
      plan: { ...plan, kind: sourceConfig.kind, home: sourceConfig.region, wal: sourceConfig.kind === 'postgres' && sourceConfig.mode === 'physical' },
      extendLocks: lockExtensions(name, sourceConfig.retention, plan, Date.parse(now)),
      untrusted,
      orphans: scans.flatMap(({ region, orphans }) => orphans.map((orphan) => ({ ...orphan, source: name, region, ...orphanAction(orphan, plan.blocked, Date.parse(now)) }))),
    };
  }

  /** A kept backup whose tier holds it longer than the lock it was written with: its lock goes as far as that tier. */
  function lockExtensions(source: string, retention: NonNullable<(typeof config.sources)[string]['retention']>, plan: SourcePlan, now: number): LockExtension[] {
    const extensions: LockExtension[] = [];
    for (const region of plan.regions) {
      const storage = config.regions[region.region]?.storage;
      if (storage?.type !== 's3' || !storage.objectLock || plan.blocked) continue;
      const rules = rulesFor(retention, region.region);
      for (const decision of region.decisions.filter((d) => d.action === 'keep')) {
        const until = lockForKeeper(rules, decision.finishedAt, decision.reasons);
        const written = lockAtWrite(rules, new Date(decision.finishedAt), parseDuration(storage.objectLock.minimum));
        // S3 refuses a retain-until date in the past: a tier whose time is up (calendar months outlast 28 days) has nothing to extend.
        if (until && until.getTime() > Math.max(written.getTime(), now)) extensions.push({ source, region: region.region, id: decision.id, until: until.toISOString() });
      }
    }
    return extensions;
  }

  function orphanAction(orphan: Orphan, blocked: string | null, now: number): Pick<OrphanPlan, 'action' | 'reason'> {
    if (blocked) return { action: 'leave', reason: 'RPO interlock: nothing of the source is deleted' };
    if (orphan.unfinishedUploads > 0) return { action: 'leave', reason: `${orphan.unfinishedUploads} upload(s) still open: a backup may be running` };
    if (now - Date.parse(orphan.newest) < graceMs) return { action: 'leave', reason: `newest object younger than orphanGrace (${config.retention.orphanGrace}): a backup may be running` };
    return { action: 'remove', reason: `no manifest and nothing written for ${config.retention.orphanGrace}` };
  }

  /**
   * Runs on the region's own queue: manifest first, then the data. A page of retention notes its
   * deletions in the catalog journal at once (note = false here); the activity notes its own.
   */
  async function deleteBackup({ source, region, id }: CopyRef, note = true): Promise<{ objects: number }> {
    const storage = deps.storage(region);
    // A failover may have planned this backup since retention read the pins: refuse before anything changes.
    const pinned = (await activePins(storage, source, Date.now())).get(id);
    if (pinned) throw new LifeboatError('Locked', `${storage.location}: backup ${source}/${id} is ${pinned}; nothing of it was deleted`, 'retention deletes it once the failover has ended');
    const result = await deleteBackupCopy(storage, deps.signer(), source, id);
    if (result.manifestRemoved) countRetentionDeletion(source, region);
    if (note) await noteRemoved(storage, deps.signer(), source, [keys.backupPrefix(source, id)]);
    return { objects: result.objects };
  }

  async function removeOrphanedData({ source, region, id }: CopyRef): Promise<{ objects: number; skipped?: string }> {
    return removeOrphan(deps.storage(region), source, id, Date.now(), graceMs);
  }

  /** Runs on the region's own queue: every object of the backup locked until `until` (never shortened). */
  async function extendLock({ source, region, id, until }: LockExtension): Promise<{ objects: number }> {
    return { objects: await extendBackupLock(deps.storage(region), source, id, new Date(until)) };
  }

  return { planRetention, planSource, deleteBackup, removeOrphanedData, extendLock };
}
