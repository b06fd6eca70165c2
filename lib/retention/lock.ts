import type { Config, RetentionRules } from '../config/schema';
import { parseDuration } from '../config/duration';
import { type Granularity, granularities } from './periods';
import { rulesFor } from './policy';

// How long S3 Object Lock keeps an object: as long as retention would keep it, no longer, so a lock
// never stops retention from deleting what it should, and never less than the region's minimum.
// Pure functions of the rules and the time: no storage, no clock.

const DAY_MS = 86_400_000;

/**
 * The shortest a tier's period can be. A keeper of a tier of count N stays while its period is one
 * of the newest N with a backup: at least N periods from its own backup, often a few days more.
 * Taking the lower bound, a lock expires at or before the day retention lets the backup go.
 */
const periodDays: Record<Granularity, number> = { daily: 1, weekly: 7, monthly: 28, yearly: 365 };

/**
 * The retain-until date of an object written at `at`: the time the shortest-lived rule that keeps a
 * new backup would keep it (daily N → N days, weekly N → N weeks, monthly N → N × 28 days, yearly N
 * → N × 365 days, maxAgeDays N → N days; keepLast keeps by count, not time, so gives none), never
 * less than `minimumMs`. No rules at all (a source retention never prunes): the minimum.
 */
export function lockAtWrite(rules: RetentionRules | undefined, at: Date, minimumMs: number): Date {
  const periods = granularities.map((g) => (rules?.[g] ?? 0) * periodDays[g]);
  periods.push(rules?.maxAgeDays ?? 0);
  const shortest = Math.min(...periods.filter((days) => days > 0).map((days) => days * DAY_MS));
  return new Date(at.getTime() + Math.max(Number.isFinite(shortest) ? shortest : 0, minimumMs));
}

/**
 * The retain-until date a backup kept by retention for `reasons` ("weekly 2026-W44", "monthly
 * 2026-11") deserves: when the longest-lived of those tiers would release it, capped by maxAgeDays
 * (a hard limit on age). Undefined when no tier reason holds it.
 */
export function lockForKeeper(rules: RetentionRules, finishedAt: string, reasons: string[]): Date | undefined {
  const start = Date.parse(finishedAt);
  let until: number | undefined;
  for (const reason of reasons) {
    const granularity = granularities.find((g) => reason.startsWith(`${g} `));
    const count = granularity ? (rules[granularity] ?? 0) : 0;
    if (!granularity || count === 0) continue;
    until = Math.max(until ?? 0, start + count * periodDays[granularity] * DAY_MS);
  }
  if (until === undefined) return undefined;
  if ((rules.maxAgeDays ?? 0) > 0) until = Math.min(until, start + rules.maxAgeDays! * DAY_MS);
  return new Date(until);
}

/** The source an object key belongs to: `<source>/<id>/...` or `_wal/<source>/...`. */
export function sourceOfKey(key: string): string | undefined {
  const parts = key.split('/');
  return parts[0] === '_wal' ? parts[1] : parts.length > 1 ? parts[0] : undefined;
}

/** When a backup started, from its id ("20261120T120000Z-0123456789ab"); undefined for anything else. */
export function backupStart(id: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-/.exec(id);
  return match ? new Date(Date.UTC(+match[1]!, +match[2]! - 1, +match[3]!, +match[4]!, +match[5]!, +match[6]!)) : undefined;
}

/**
 * For a region with storage.objectLock: the retain-until date of a key written at `now`, from the
 * retention of the source the key belongs to. Every object of one backup (data, manifest,
 * signatures, verify records) is locked until the same date, counted from the backup's start, so
 * a verify record written later never holds its backup longer than the rules do; one written
 * after that date (a tombstone) gets no lock. WAL is counted from its own write. Keys of no
 * configured source (doctor's write test, the conditional-write probe) get no lock either.
 */
export function regionLockPolicy(config: Config, region: string): ((key: string, now: Date) => Date | undefined) | undefined {
  const storage = config.regions[region]?.storage;
  if (storage?.type !== 's3' || !storage.objectLock) return undefined;
  const minimumMs = parseDuration(storage.objectLock.minimum);
  return (key, now) => {
    const source = sourceOfKey(key);
    const sourceConfig = source === undefined ? undefined : config.sources[source];
    if (!sourceConfig) return undefined;
    const rules = sourceConfig.retention ? rulesFor(sourceConfig.retention, region) : undefined;
    const started = key.startsWith('_wal/') ? undefined : backupStart(key.split('/')[1] ?? '');
    const until = lockAtWrite(rules, started ?? now, minimumMs);
    // S3 refuses a retain-until date in the past; a second of margin for the request's way there.
    return until.getTime() > now.getTime() + 1000 ? until : undefined;
  };
}
