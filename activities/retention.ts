import { Context } from '@temporalio/activity';
import { parseDuration } from '../lib/config/duration';
import { LifeboatError } from '../lib/errors';
import { planRetention as decide, type SourcePlan } from '../lib/retention/plan';
import type { Deps } from './deps';
import { countRetentionDeletion } from './metrics';
import { deleteBackupCopy, removeOrphan, scanRegion, type Orphan } from './prune';

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
    };
    for (const name of source !== undefined ? [source] : Object.keys(config.sources)) {
      const sourceConfig = config.sources[name]!;
      if (!sourceConfig.retention) {
        work.unmanaged.push(name);
        continue;
      }
      // The source's own region first, then the primary: where minCopies prefers to keep a copy.
      const regions = [...new Set([sourceConfig.region, config.primaryRegion, ...Object.keys(config.regions)])];
      const scans = [];
      for (const region of regions) {
        let manifests = 0;
        // Heartbeats are throttled by the SDK; a long history is read without the activity looking dead.
        scans.push({ region, ...(await scanRegion(deps.storage(region), deps.trusted, name, () => Context.current().heartbeat({ source: name, region, manifests: ++manifests }))) });
      }
      const untrusted = scans.flatMap(({ region, untrusted: items }) => items.map((item) => ({ source: name, region, ...item })));
      const plan = decide({
        source: name,
        regions: scans.map(({ region, backups, verified }) => ({ region, backups, verified })),
        retention: sourceConfig.retention,
        timezone: config.retention.timezone,
        now,
        minCopies: config.retention.minCopies,
        rpoMs: config.objectives ? parseDuration(config.objectives.rpo) : undefined,
        untrusted: untrusted.length > 0 ? `${untrusted.length} catalog object(s) are not trusted (${untrusted[0]!.region} ${untrusted[0]!.key}: ${untrusted[0]!.reason})` : undefined,
      });
      work.untrusted.push(...untrusted);
      work.plans.push({ ...plan, kind: sourceConfig.kind, home: sourceConfig.region, wal: sourceConfig.kind === 'postgres' && sourceConfig.mode === 'physical' });
      for (const { region, orphans } of scans) {
        for (const orphan of orphans) work.orphans.push({ ...orphan, source: name, region, ...orphanAction(orphan, plan.blocked, Date.parse(now)) });
      }
    }
    return work;
  }

  function orphanAction(orphan: Orphan, blocked: string | null, now: number): Pick<OrphanPlan, 'action' | 'reason'> {
    if (blocked) return { action: 'leave', reason: 'RPO interlock: nothing of the source is deleted' };
    if (orphan.unfinishedUploads > 0) return { action: 'leave', reason: `${orphan.unfinishedUploads} upload(s) still open: a backup may be running` };
    if (now - Date.parse(orphan.newest) < graceMs) return { action: 'leave', reason: `newest object younger than orphanGrace (${config.retention.orphanGrace}): a backup may be running` };
    return { action: 'remove', reason: `no manifest and nothing written for ${config.retention.orphanGrace}` };
  }

  /** Runs on the region's own queue: manifest first, then the data. */
  async function deleteBackup({ source, region, id }: CopyRef): Promise<{ objects: number }> {
    const result = await deleteBackupCopy(deps.storage(region), deps.signer(), source, id);
    if (result.manifestRemoved) countRetentionDeletion(source, region);
    return { objects: result.objects };
  }

  async function removeOrphanedData({ source, region, id }: CopyRef): Promise<{ objects: number; skipped?: string }> {
    return removeOrphan(deps.storage(region), source, id, Date.now(), graceMs);
  }

  return { planRetention, deleteBackup, removeOrphanedData };
}
