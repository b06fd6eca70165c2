import { createHash } from 'node:crypto';
import { parseDuration } from '../config/duration';
import type { Config, ScheduleConfig } from '../config/schema';
import { anyRegionQueue } from '../any-region-queue';
import { failoverWorkflowId } from '../workflow-ids';

// What Temporal Schedules the config asks for, as plain data: no client, no server. The client
// turns each into ScheduleOptions (client/schedules/options.ts) and reconciles (reconcile.ts).

export type ScheduleKind = 'backup' | 'sync' | 'retention' | 'check-objectives' | 'verify' | 'failover-drill';

export type OverlapPolicy = ScheduleConfig['overlap'];

export interface DesiredSchedule {
  /** `<taskQueuePrefix><kind>[-<source>]`; also the base of the workflow ids it starts. */
  id: string;
  kind: ScheduleKind;
  /** The config key that declares it, for error messages: "sources.app-db.schedule". */
  configKey: string;
  workflowType: string;
  /** The workflow's input: names only, never a secret (it is stored in the schedule and in history). */
  args: [Record<string, unknown>];
  taskQueue: string;
  /**
   * Temporal appends the scheduled time ("…-2026-11-24T12:00:00Z"), so each run has its own id;
   * the overlap policy (SKIP by default) is what keeps two runs of one schedule apart.
   */
  workflowId: string;
  cron: string;
  timezone: string;
  jitterMs: number | undefined;
  catchupWindowMs: number;
  overlap: OverlapPolicy;
  /** LifeboatSource/Region/Kind, as backupSource sets them, where the schedule is about one source. */
  searchAttributes: { source: string; region: string; kind: string } | undefined;
  /** One line for the Temporal UI and `schedules list`. */
  summary: string;
  /** Changes whenever anything above changes: what `schedules apply` compares. */
  hash: string;
}

/** Bump when the meaning of a field changes, so every schedule is rewritten once. */
const hashVersion = 2;

/** Every run of a check older than the next one is worthless: catch up at most one interval. */
const objectivesCheck: ScheduleConfig = { cron: '*/15 * * * *', timezone: 'UTC', catchupWindow: '15m', overlap: 'SKIP' };

export function desiredSchedules(config: Config): DesiredSchedule[] {
  const prefix = config.temporal.taskQueuePrefix;
  // Not the primary region's queue: these must go on when that region is lost.
  const anyRegion = anyRegionQueue(prefix);
  const schedules: DesiredSchedule[] = [];
  for (const [source, src] of Object.entries(config.sources).sort(([a], [b]) => a.localeCompare(b))) {
    if (!src.schedule) continue;
    schedules.push(build(src.schedule, {
      id: `${prefix}backup-${source}`,
      kind: 'backup',
      configKey: `sources.${source}.schedule`,
      // scheduledBackup runs backupSource as a child under the source's own backup id, so a
      // scheduled and a manual backup of one source never run at once (workflows/scheduled-backup.ts).
      workflowType: 'scheduledBackup',
      workflowId: `${prefix}scheduled-backup-${source}`,
      args: [{ source }],
      taskQueue: `${prefix}${src.region}`,
      searchAttributes: { source, region: src.region, kind: src.kind },
      summary: `${src.kind} backup of ${source} in ${src.region}`,
    }));
  }
  if (config.sync.schedule) {
    schedules.push(build(config.sync.schedule, {
      id: `${prefix}sync`, kind: 'sync', configKey: 'sync.schedule', workflowType: 'syncRegions', args: [{}], taskQueue: anyRegion,
      searchAttributes: undefined, summary: 'copy missing backups to every region',
    }));
  }
  if (config.retention.schedule) {
    schedules.push(build(config.retention.schedule, {
      id: `${prefix}retention`, kind: 'retention', configKey: 'retention.schedule', workflowType: 'applyRetention', args: [{}], taskQueue: anyRegion,
      searchAttributes: undefined, summary: 'apply the retention rules in every region',
    }));
  }
  if (config.objectives) {
    schedules.push(build(objectivesCheck, {
      id: `${prefix}check-objectives`, kind: 'check-objectives', configKey: 'objectives', workflowType: 'checkObjectives', args: [{}], taskQueue: anyRegion,
      searchAttributes: undefined, summary: `alert when a source has no successful backup within ${config.objectives.rpo}`,
    }));
  }
  schedules.push(...verifySchedules(config));
  const drill = config.failover?.drill;
  if (drill) {
    // A drill approves itself ("schedule" in its record), restores into the region's targets, reports, tears down.
    schedules.push(build(drill.schedule, {
      // scheduledDrill runs drFailover as a child under the one drill id, so a manual drill and a scheduled one never overlap.
      id: failoverWorkflowId(prefix, true), kind: 'failover-drill', configKey: 'failover.drill.schedule', workflowType: 'scheduledDrill',
      workflowId: `${prefix}scheduled-failover-drill`,
      args: [{ targetRegion: drill.region, recoveryPoint: 'latest', ...(drill.sources ? { sources: drill.sources } : {}), drill: true, approval: 'auto', requestedBy: 'schedule' }],
      taskQueue: `${prefix}${drill.region}`,
      searchAttributes: { source: drill.sources?.join(',') ?? 'all', region: drill.region, kind: 'failover-drill' },
      summary: `failover drill to ${drill.region}: restore, verify, report RPO/RTO, tear down`,
    }));
  }
  return schedules;
}

/**
 * Scheduled restore verification (issue 5): one `verifyRestore` schedule per level a source asks
 * for. Integrity is cheap and restore is not, so they get their own crons (daily and weekly, say);
 * the workflow itself picks the regions, so one schedule covers every copy.
 */
function verifySchedules(config: Config): DesiredSchedule[] {
  const prefix = config.temporal.taskQueuePrefix;
  const schedules: DesiredSchedule[] = [];
  for (const [source, src] of Object.entries(config.sources).sort(([a], [b]) => a.localeCompare(b))) {
    for (const level of ['integrity', 'restore'] as const) {
      const schedule = src.verify?.[level];
      if (!schedule) continue;
      schedules.push(build(schedule, {
        id: `${prefix}verify-${level}-${source}`,
        kind: 'verify',
        configKey: `sources.${source}.verify.${level}`,
        workflowType: 'verifyRestore',
        args: [{ source, level }],
        taskQueue: `${prefix}${src.region}`,
        searchAttributes: { source, region: src.region, kind: src.kind },
        summary: `${level} verification of ${source}'s backups`,
      }));
    }
  }
  return schedules;
}

type Identity = Omit<DesiredSchedule, 'workflowId' | 'cron' | 'timezone' | 'jitterMs' | 'catchupWindowMs' | 'overlap' | 'hash'> & { workflowId?: string };

function build(schedule: ScheduleConfig, identity: Identity): DesiredSchedule {
  const unhashed: Omit<DesiredSchedule, 'hash'> = {
    ...identity,
    workflowId: identity.workflowId ?? identity.id,
    cron: schedule.cron.trim(),
    timezone: schedule.timezone,
    jitterMs: schedule.jitter === undefined ? undefined : parseDuration(schedule.jitter),
    catchupWindowMs: parseDuration(schedule.catchupWindow),
    overlap: schedule.overlap,
  };
  return { ...unhashed, hash: specHash(unhashed) };
}

function specHash(schedule: Omit<DesiredSchedule, 'hash'>): string {
  // configKey only names where the schedule came from: moving it in the file changes nothing on the server.
  return createHash('sha256').update(canonicalJson({ v: hashVersion, ...schedule, configKey: undefined })).digest('hex').slice(0, 16);
}

/** JSON with object keys sorted, so the hash does not depend on the order fields were written in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
