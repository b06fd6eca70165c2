import type { RetentionConfig, RetentionRules } from '../config/schema';
import { checkPolicy, describeRules, rulesFor } from './policy';
import { granularities, localDate, periodOfDate, type LocalDate } from './periods';

// The retention decision, as a pure function of the catalogs: no storage, no clock. Every backup
// that stays carries every reason it stays, so an operator can see which rule or interlock holds it.

export interface BackupRef {
  id: string;
  finishedAt: string;
  /** The backup an increment builds on (files sources); null for a full backup or a dump. */
  parent: string | null;
}

export interface RegionCatalog {
  region: string;
  /** Every backup of the source whose manifest this region holds. */
  backups: BackupRef[];
  /** Ids with a passed verify record in this region. */
  verified: string[];
  /** Ids whose objects S3 Object Lock protects now, and why ("held by legal hold"): never asked to be deleted. */
  held?: Record<string, string>;
  /** Ids a running failover plans to restore from this region, and whose pin says so (lib/pins.ts): kept with their parents. */
  pinned?: Record<string, string>;
}

export interface PlanInput {
  source: string;
  /** In order of preference for keeping a copy that minCopies holds: the source's own region first. */
  regions: RegionCatalog[];
  retention: RetentionConfig;
  timezone: string;
  /** ISO time the decision is made at. */
  now: string;
  minCopies: number;
  /** objectives.rpo in milliseconds; no RPO interlock without it. */
  rpoMs?: number;
  /** Set when a region holds catalog objects no trusted key signed: says which; blocks all deletion. */
  untrusted?: string;
}

export interface Decision {
  id: string;
  finishedAt: string;
  action: 'keep' | 'delete';
  /** keep: every reason it stays; delete: why it goes. */
  reasons: string[];
}

export interface RegionPlan {
  region: string;
  /** "daily 7, weekly 4, monthly 12" */
  rules: string;
  /** Oldest first, like the catalog. */
  decisions: Decision[];
}

export interface SourcePlan {
  source: string;
  /** Set when the RPO interlock holds everything: nothing of the source is deleted. */
  blocked: string | null;
  newestAt: string | null;
  regions: RegionPlan[];
}

const DAY_MS = 86_400_000;

export function planRetention(input: PlanInput): SourcePlan {
  const now = Date.parse(input.now);
  const regions = input.regions.map((catalog) => {
    const rules = rulesFor(input.retention, catalog.region);
    checkPolicy(input.source, catalog.region, rules);
    const backups = [...catalog.backups].sort((a, b) => a.finishedAt.localeCompare(b.finishedAt) || a.id.localeCompare(b.id));
    return { catalog, rules, backups, keep: ruleReasons(backups, rules, input.timezone, now), drop: new Map<string, string>() };
  });

  for (const region of regions) {
    for (const backup of region.backups) {
      if ((region.keep.get(backup.id) ?? []).length === 0) region.drop.set(backup.id, dropReason(backup, region.rules, now));
    }
    // The newest backup, and the newest that passed a restore test, stay whatever the rules say.
    const newest = region.backups.at(-1);
    if (newest) addReason(region.keep, newest.id, 'newest');
    const verified = new Set(region.catalog.verified);
    const newestVerified = region.backups.filter((backup) => verified.has(backup.id)).at(-1);
    if (newestVerified) addReason(region.keep, newestVerified.id, 'newest verified');
    // A reason like any rule's, unlike a lock: the increments it builds on must stay restorable too.
    for (const [id, reason] of Object.entries(region.catalog.pinned ?? {})) {
      if (region.backups.some((backup) => backup.id === id)) addReason(region.keep, id, reason);
    }
  }

  // Keeping a parent can never take a copy away and keeping a copy can add a parent: repeat until
  // neither interlock adds anything.
  let changed = true;
  while (changed) {
    changed = keepParents(regions);
    changed = keepCopies(regions, input.minCopies) || changed;
  }

  const newestAt = regions.flatMap((region) => region.backups.map((backup) => backup.finishedAt)).sort().at(-1) ?? null;
  const late = newestAt !== null && input.rpoMs !== undefined && now - Date.parse(newestAt) > input.rpoMs
    ? `the newest backup (${newestAt}) is ${age(now - Date.parse(newestAt))} old, older than the RPO objective (${age(input.rpoMs)}): backups are failing; nothing is deleted until one succeeds`
    : null;
  // A forged or damaged manifest may stand for a backup that is gone: copies cannot be counted with
  // confidence, so nothing is deleted until someone has looked.
  const distrust = input.untrusted
    ? `${input.untrusted}: nothing is deleted until they are explained (removed, or signed with "lifeboat catalog sign --trust-existing" if they are old unsigned backups)`
    : null;
  const blocked = late ?? distrust;
  const interlock = late ? 'RPO interlock' : 'untrusted-catalog interlock';

  return {
    source: input.source,
    blocked,
    newestAt,
    regions: regions.map((region) => ({
      region: region.catalog.region,
      rules: describeRules(region.rules),
      decisions: region.backups.map((backup): Decision => {
        const reasons = region.keep.get(backup.id) ?? [];
        if (blocked) return { id: backup.id, finishedAt: backup.finishedAt, action: 'keep', reasons: [...reasons, `${interlock}${reasons.length === 0 ? ` (else: ${region.drop.get(backup.id)})` : ''}`] };
        if (reasons.length > 0) return { id: backup.id, finishedAt: backup.finishedAt, action: 'keep', reasons };
        // A lock is not a reason to keep other copies or parents: it only stops this deletion.
        const held = region.catalog.held?.[backup.id];
        if (held) return { id: backup.id, finishedAt: backup.finishedAt, action: 'keep', reasons: [`${held} (else: ${region.drop.get(backup.id)})`] };
        return { id: backup.id, finishedAt: backup.finishedAt, action: 'delete', reasons: [region.drop.get(backup.id)!] };
      }),
    })),
  };
}

interface RegionState {
  catalog: RegionCatalog;
  rules: RetentionRules;
  backups: BackupRef[];
  keep: Map<string, string[]>;
  drop: Map<string, string>;
}

/** Reasons from the rules alone: GFS periods, keepLast, and maxAgeDays as a hard cap. */
function ruleReasons(backups: BackupRef[], rules: RetentionRules, timezone: string, now: number): Map<string, string[]> {
  const keep = new Map<string, string[]>();
  const newestFirst = [...backups].reverse();
  // Each backup's calendar date once, not once per granularity: Intl's time-zone arithmetic is most of a plan's time.
  const dates = new Map<string, LocalDate>();
  const dateOf = (backup: BackupRef) => {
    let date = dates.get(backup.finishedAt);
    if (!date) dates.set(backup.finishedAt, (date = localDate(new Date(backup.finishedAt), timezone)));
    return date;
  };
  for (const granularity of granularities) {
    const count = rules[granularity] ?? 0;
    const seen = new Set<string>();
    for (const backup of newestFirst) {
      if (seen.size >= count) break;
      const period = periodOfDate(dateOf(backup), granularity);
      if (seen.has(period)) continue;
      // Scanning newest first, the first backup met in a period is that period's newest.
      seen.add(period);
      addReason(keep, backup.id, `${granularity} ${period}`);
    }
  }
  const last = rules.keepLast ?? 0;
  for (const backup of newestFirst.slice(0, last)) addReason(keep, backup.id, `keepLast ${last}`);

  const maxAgeDays = rules.maxAgeDays ?? 0;
  if (maxAgeDays > 0) {
    const onlyAge = describeRules({ ...rules, maxAgeDays: 0 }) === '';
    for (const backup of backups) {
      if (expired(backup, maxAgeDays, now)) keep.delete(backup.id);
      else if (onlyAge) addReason(keep, backup.id, `within maxAgeDays ${maxAgeDays}`);
    }
  }
  return keep;
}

function expired(backup: BackupRef, maxAgeDays: number, now: number): boolean {
  return now - Date.parse(backup.finishedAt) > maxAgeDays * DAY_MS;
}

function dropReason(backup: BackupRef, rules: RetentionRules, now: number): string {
  const maxAgeDays = rules.maxAgeDays ?? 0;
  if (maxAgeDays > 0 && expired(backup, maxAgeDays, now)) {
    return `older than maxAgeDays ${maxAgeDays} (${Math.floor((now - Date.parse(backup.finishedAt)) / DAY_MS)} days)`;
  }
  return `kept by no rule (${describeRules(rules)})`;
}

/** A kept increment needs its whole chain: its parent, the parent's parent, down to the full backup. */
function keepParents(regions: RegionState[]): boolean {
  let changed = false;
  for (const region of regions) {
    const byId = new Map(region.backups.map((backup) => [backup.id, backup]));
    // Newest first, so a chain is walked once from its newest kept member.
    for (const backup of [...region.backups].reverse()) {
      if ((region.keep.get(backup.id) ?? []).length === 0 || !backup.parent || !byId.has(backup.parent)) continue;
      changed = addReason(region.keep, backup.parent, `parent of ${backup.id}`) || changed;
    }
  }
  return changed;
}

/**
 * A backup that some region keeps must keep at least minCopies copies (or every copy, when fewer
 * regions hold it). A backup that every region's rules drop goes everywhere: that is the policy.
 */
function keepCopies(regions: RegionState[], minCopies: number): boolean {
  let changed = false;
  const held = regions.map((region) => new Set(region.backups.map((backup) => backup.id)));
  const ids = new Set(held.flatMap((set) => [...set]));
  for (const id of ids) {
    const holders = regions.filter((_, index) => held[index]!.has(id));
    const keeping = holders.filter((region) => (region.keep.get(id) ?? []).length > 0);
    const needed = Math.min(minCopies, holders.length);
    if (keeping.length === 0 || keeping.length >= needed) continue;
    const where = keeping.map((region) => region.catalog.region).join(', ');
    for (const region of holders.filter((r) => !keeping.includes(r)).slice(0, needed - keeping.length)) {
      addReason(region.keep, id, `minCopies ${minCopies}: else only ${keeping.length} ${keeping.length === 1 ? 'copy' : 'copies'} (${where})`);
      changed = true;
    }
  }
  return changed;
}

function addReason(keep: Map<string, string[]>, id: string, reason: string): boolean {
  const reasons = keep.get(id) ?? [];
  if (reasons.includes(reason)) return false;
  keep.set(id, [...reasons, reason]);
  return true;
}

function age(ms: number): string {
  const hours = ms / 3_600_000;
  return hours >= 48 ? `${Math.floor(hours / 24)}d` : hours >= 1 ? `${Math.floor(hours)}h` : `${Math.floor(ms / 60_000)}m`;
}
