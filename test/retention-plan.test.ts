import { describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../lib/config/load';
import type { RetentionConfig } from '../lib/config/schema';
import { LifeboatError } from '../lib/errors';
import { periodOf } from '../lib/retention/periods';
import { planRetention, type BackupRef, type PlanInput, type SourcePlan } from '../lib/retention/plan';
import { DAY, daysFromCivil, expectedKept, HOUR, stockholmOffset } from './support/calendar';

// Expected sets come from test/support/calendar.ts: hand-rolled calendar arithmetic, not Intl or Date.

function idAt(ms: number, tail = 'a1b2c3d4e5f6'): string {
  return `${new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${tail}`;
}
function backup(ms: number, parent: string | null = null): BackupRef {
  return { id: idAt(ms), finishedAt: new Date(ms).toISOString(), parent };
}
const at = (iso: string) => Date.parse(iso);

function plan(input: Partial<PlanInput> & { retention: RetentionConfig; regions: PlanInput['regions'] }): SourcePlan {
  return planRetention({ source: 'app-db', timezone: 'UTC', now: '2026-11-20T23:00:00.000Z', minCopies: 1, ...input });
}
const kept = (p: SourcePlan, region = 'stockholm') => p.regions.find((r) => r.region === region)!.decisions.filter((d) => d.action === 'keep').map((d) => d.id).sort();
const deleted = (p: SourcePlan, region = 'stockholm') => p.regions.find((r) => r.region === region)!.decisions.filter((d) => d.action === 'delete').map((d) => d.id).sort();
const reasonsOf = (p: SourcePlan, id: string, region = 'stockholm') => p.regions.find((r) => r.region === region)!.decisions.find((d) => d.id === id)!.reasons;

describe('the retention planner over thirteen months of backups every six hours', () => {
  // 04:30, 10:30, 16:30 and 22:30 UTC: in Stockholm 22:30 UTC is 23:30 the same day in winter but
  // 00:30 the next day in summer, so the day (and week, month, year) a backup belongs to moves with DST.
  const backups: BackupRef[] = [];
  for (let day = daysFromCivil(2025, 10, 20); day <= daysFromCivil(2026, 11, 20); day += 1) {
    for (const hour of [4, 10, 16, 22]) backups.push(backup(day * DAY + hour * HOUR + 30 * 60_000));
  }
  const rules = { daily: 40, weekly: 10, monthly: 13, yearly: 3 };
  const run = (timezone: string) => plan({ timezone, retention: rules, regions: [{ region: 'stockholm', backups, verified: [] }] });

  it('keeps exactly the newest backup of each of the last N days, ISO weeks, months and years in UTC', () => {
    const result = run('UTC');
    expect(kept(result)).toEqual(expectedKept(backups, rules, () => 0));
    expect(kept(result).length + deleted(result).length).toBe(backups.length);
    expect(deleted(result).length).toBeGreaterThan(1500);
  });

  it('keeps exactly the GFS set counted on Stockholm\'s wall clock, across both DST changes', () => {
    const result = run('Europe/Stockholm');
    const expected = expectedKept(backups, rules, stockholmOffset);
    expect(kept(result)).toEqual(expected);
    expect(expected).not.toEqual(expectedKept(backups, rules, () => 0));
    // July is summer time: 22:30 UTC on the 31st is already August in Stockholm.
    expect(kept(result)).toContain(idAt(at('2026-07-31T16:30:00Z')));
    expect(kept(result)).not.toContain(idAt(at('2026-07-31T22:30:00Z')));
    // January is winter time: 22:30 UTC on the 31st is still January in Stockholm.
    expect(kept(result)).toContain(idAt(at('2026-01-31T22:30:00Z')));
    // The autumn change, 25 October 2026, is within the 40 days: the days either side end at different UTC hours.
    expect(kept(result)).toContain(idAt(at('2026-10-24T16:30:00Z')));
    expect(kept(result)).toContain(idAt(at('2026-10-25T22:30:00Z')));
  });

  it('names every period a backup stays for, and why the others go', () => {
    const result = run('Europe/Stockholm');
    expect(reasonsOf(result, idAt(at('2026-11-20T22:30:00Z')))).toEqual(['daily 2026-11-20', 'weekly 2026-W47', 'monthly 2026-11', 'yearly 2026', 'newest']);
    expect(reasonsOf(result, idAt(at('2025-12-31T22:30:00Z')))).toEqual(['monthly 2025-12', 'yearly 2025']);
    expect(reasonsOf(result, idAt(at('2026-02-10T04:30:00Z')))).toEqual(['kept by no rule (daily 40, weekly 10, monthly 13, yearly 3)']);
  });

  it('asks the time zone for each backup\'s calendar date once, however many granularities count it', () => {
    // Intl's time-zone arithmetic was most of a plan's time: four granularities asked it four times a backup.
    const asked = vi.spyOn(Intl.DateTimeFormat.prototype, 'formatToParts');
    try {
      const result = plan({ timezone: 'Europe/Stockholm', retention: { daily: 2000, weekly: 1000, monthly: 100, yearly: 10 }, regions: [{ region: 'stockholm', backups, verified: [] }] });
      expect(kept(result).length).toBeGreaterThan(390);
      expect(asked.mock.calls.length).toBe(backups.length);
    } finally {
      asked.mockRestore();
    }
  });
});

describe('retention rules', () => {
  const daily = Array.from({ length: 20 }, (_, i) => backup(at('2026-11-01T03:00:00Z') + i * DAY));

  it('treats maxAgeDays as a hard cap on what the other rules keep', () => {
    const result = plan({ retention: { daily: 30, maxAgeDays: 7 }, regions: [{ region: 'stockholm', backups: daily, verified: [] }] });
    expect(kept(result)).toEqual(daily.filter((b) => at('2026-11-20T23:00:00Z') - Date.parse(b.finishedAt) <= 7 * DAY).map((b) => b.id).sort());
    expect(reasonsOf(result, daily[0]!.id)).toEqual(['older than maxAgeDays 7 (19 days)']);
  });

  it('keeps everything younger than maxAgeDays when it is the only rule', () => {
    const result = plan({ retention: { maxAgeDays: 5 }, regions: [{ region: 'stockholm', backups: daily, verified: [] }] });
    expect(kept(result)).toHaveLength(5);
    expect(reasonsOf(result, daily[17]!.id)).toEqual(['within maxAgeDays 5']);
  });

  it('keeps the N newest with keepLast', () => {
    const result = plan({ retention: { keepLast: 3 }, regions: [{ region: 'stockholm', backups: daily, verified: [] }] });
    expect(kept(result)).toEqual(daily.slice(-3).map((b) => b.id));
    expect(reasonsOf(result, daily[18]!.id)).toEqual(['keepLast 3']);
  });

  it('applies a region\'s override instead of the source\'s rules, whole', () => {
    const result = plan({
      retention: { daily: 10, regions: { gothenburg: { keepLast: 2 } } },
      regions: [{ region: 'stockholm', backups: daily, verified: [] }, { region: 'gothenburg', backups: daily, verified: [] }],
    });
    expect(kept(result)).toHaveLength(10);
    expect(kept(result, 'gothenburg')).toEqual(daily.slice(-2).map((b) => b.id));
    expect(result.regions.map((r) => r.rules)).toEqual(['daily 10', 'keepLast 2']);
  });

  it('refuses an empty or all-zero policy with a Config error', () => {
    const empty = () => plan({ retention: { daily: 0, keepLast: 0 }, regions: [{ region: 'stockholm', backups: daily, verified: [] }] });
    expect(empty).toThrow(LifeboatError);
    expect(empty).toThrow(/retention of app-db in stockholm keeps nothing: expected at least one of daily/);
    const yaml = (retention: string) => `
primaryRegion: stockholm
regions: { stockholm: { storage: { type: local, path: /tmp/x } } }
encryption: { recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p] }
catalog: { trustedKeys: [MCowBQYDK2VwAyEAFG/YD/PCU6ibMaIW4yUreQbD7pURy+K18RbgMe289C4=] }
sources: { app-db: { kind: redis, region: stockholm, url: "redis://127.0.0.1:6379", retention: ${retention} } }
`;
    expect(() => parseConfig(yaml('{}'))).toThrow(/sources\.app-db\.retention: expected at least one of daily, weekly, monthly, yearly, keepLast, maxAgeDays above 0/);
    expect(() => parseConfig(yaml('{ daily: 0, maxAgeDays: 0 }'))).toThrow(/a policy that keeps nothing is refused/);
    expect(() => parseConfig(yaml('{ daily: 7, regions: { stockholm: { weekly: 0 } } }'))).toThrow(/sources\.app-db\.retention\.regions\.stockholm: expected at least one/);
    expect(parseConfig(yaml('{ regions: { stockholm: { weekly: 2 } } }')).sources['app-db']!.retention).toEqual({ regions: { stockholm: { weekly: 2 } } });
  });
});

describe('retention interlocks', () => {
  const now = at('2026-11-20T23:00:00Z');
  const daysAgo = (n: number, parent: string | null = null) => backup(now - n * DAY, parent);

  it('never deletes the newest backup, even when every rule would', () => {
    const backups = [daysAgo(5), daysAgo(4), daysAgo(3)];
    const result = plan({ retention: { maxAgeDays: 1 }, regions: [{ region: 'stockholm', backups, verified: [] }] });
    expect(kept(result)).toEqual([backups[2]!.id]);
    expect(reasonsOf(result, backups[2]!.id)).toEqual(['newest']);
    expect(deleted(result)).toEqual([backups[0]!.id, backups[1]!.id]);
  });

  it('never deletes the newest backup that passed verification', () => {
    const backups = [daysAgo(4), daysAgo(3), daysAgo(2), daysAgo(1)];
    const unverified = plan({ retention: { keepLast: 1 }, regions: [{ region: 'stockholm', backups, verified: [] }] });
    expect(deleted(unverified)).toContain(backups[1]!.id);
    const result = plan({ retention: { keepLast: 1 }, regions: [{ region: 'stockholm', backups, verified: [backups[0]!.id, backups[1]!.id] }] });
    expect(kept(result)).toEqual([backups[1]!.id, backups[3]!.id]);
    expect(reasonsOf(result, backups[1]!.id)).toEqual(['newest verified']);
  });

  it('never deletes a backup that a kept increment depends on, down to its full backup', () => {
    const old = daysAgo(9);
    const full = daysAgo(8);
    const one = daysAgo(7, full.id);
    const two = daysAgo(6, one.id);
    const result = plan({ retention: { keepLast: 1 }, regions: [{ region: 'stockholm', backups: [old, full, one, two], verified: [] }] });
    expect(kept(result)).toEqual([full.id, one.id, two.id]);
    expect(reasonsOf(result, one.id)).toEqual([`parent of ${two.id}`]);
    expect(reasonsOf(result, full.id)).toEqual([`parent of ${one.id}`]);
    expect(deleted(result)).toEqual([old.id]);
  });

  it('keeps the chain of an increment that only the verify interlock keeps', () => {
    const full = daysAgo(8);
    const one = daysAgo(7, full.id);
    const later = daysAgo(1);
    const result = plan({ retention: { keepLast: 1 }, regions: [{ region: 'stockholm', backups: [full, one, later], verified: [one.id] }] });
    expect(kept(result)).toEqual([full.id, one.id, later.id]);
  });

  it('never leaves fewer than minCopies copies of a backup that another region keeps', () => {
    const backups = [daysAgo(4), daysAgo(3), daysAgo(2), daysAgo(1)];
    const input = {
      retention: { keepLast: 1, regions: { gothenburg: { keepLast: 10 } } },
      regions: [{ region: 'stockholm', backups, verified: [] }, { region: 'gothenburg', backups, verified: [] }],
    };
    expect(deleted(plan({ ...input, minCopies: 1 }))).toHaveLength(3);
    const result = plan({ ...input, minCopies: 2 });
    expect(deleted(result)).toEqual([]);
    expect(reasonsOf(result, backups[0]!.id)).toEqual(['minCopies 2: else only 1 copy (gothenburg)']);
  });

  it('counts the other regions\' deletions of the same run against minCopies', () => {
    const backups = [daysAgo(3), daysAgo(1)];
    const result = plan({
      minCopies: 2,
      retention: { keepLast: 1, regions: { stockholm: { keepLast: 5 } } },
      regions: ['stockholm', 'gothenburg', 'malmo'].map((region) => ({ region, backups, verified: [] })),
    });
    // Stockholm keeps the older backup; one more copy must stay, so only one of the other two goes.
    expect(kept(result, 'gothenburg')).toEqual(backups.map((b) => b.id));
    expect(deleted(result, 'malmo')).toEqual([backups[0]!.id]);
  });

  it('deletes from every region a backup that no region keeps', () => {
    const backups = [daysAgo(3), daysAgo(1)];
    const result = plan({ minCopies: 2, retention: { keepLast: 1 }, regions: ['stockholm', 'gothenburg'].map((region) => ({ region, backups, verified: [] })) });
    expect(deleted(result)).toEqual([backups[0]!.id]);
    expect(deleted(result, 'gothenburg')).toEqual([backups[0]!.id]);
  });

  it('deletes nothing while the newest backup is older than the RPO objective', () => {
    const backups = [daysAgo(9), daysAgo(8), daysAgo(2)];
    const input = { retention: { keepLast: 1 }, regions: [{ region: 'stockholm', backups, verified: [] }] };
    expect(deleted(plan({ ...input, rpoMs: 3 * DAY }))).toHaveLength(2);
    const result = plan({ ...input, rpoMs: 6 * HOUR });
    expect(deleted(result)).toEqual([]);
    expect(result.blocked).toMatch(/is 2d old, older than the RPO objective \(6h\)/);
    expect(reasonsOf(result, backups[0]!.id)).toEqual(['RPO interlock (else: kept by no rule (keepLast 1))']);
  });
});

describe('GFS period labels', () => {
  it('numbers ISO weeks across year boundaries, in the configured zone', () => {
    const week = (iso: string, zone = 'UTC') => periodOf(new Date(iso), zone, 'weekly');
    expect(week('2020-12-31T12:00:00Z')).toBe('2020-W53');
    expect(week('2021-01-03T12:00:00Z')).toBe('2020-W53');
    expect(week('2021-01-04T12:00:00Z')).toBe('2021-W01');
    expect(week('2024-12-30T12:00:00Z')).toBe('2025-W01');
    expect(week('2026-12-31T12:00:00Z')).toBe('2026-W53');
    // Sunday 23:30 UTC is Monday in Stockholm: the next ISO week, and here the next year.
    expect(week('2027-01-03T23:30:00Z')).toBe('2026-W53');
    expect(week('2027-01-03T23:30:00Z', 'Europe/Stockholm')).toBe('2027-W01');
    expect(periodOf(new Date('2026-12-31T23:30:00Z'), 'Europe/Stockholm', 'yearly')).toBe('2027');
    expect(periodOf(new Date('2026-03-29T22:30:00Z'), 'Europe/Stockholm', 'daily')).toBe('2026-03-30');
    expect(periodOf(new Date('2026-03-28T22:30:00Z'), 'Europe/Stockholm', 'daily')).toBe('2026-03-28');
  });
});
