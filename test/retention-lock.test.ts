import { describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config/load';
import { lockAtWrite, lockForKeeper, regionLockPolicy, sourceOfKey } from '../lib/retention/lock';
import { planRetention } from '../lib/retention/plan';
import { testPublicKey } from './support/signing';

const DAY = 86_400_000;
const at = new Date('2026-11-20T12:00:00.000Z');
const days = (until: Date) => (until.getTime() - at.getTime()) / DAY;

describe('the retain-until date of an object written now', () => {
  it('is as long as the shortest-lived rule keeps a new backup', () => {
    expect(days(lockAtWrite({ daily: 14, weekly: 4, monthly: 12 }, at, 0))).toBe(14);
    expect(days(lockAtWrite({ weekly: 4, monthly: 12 }, at, 0))).toBe(28);
    expect(days(lockAtWrite({ monthly: 2 }, at, 0))).toBe(56);
    expect(days(lockAtWrite({ yearly: 1 }, at, 0))).toBe(365);
    expect(days(lockAtWrite({ daily: 30, maxAgeDays: 10 }, at, 0))).toBe(10);
  });

  it('is never below the minimum, and is the minimum when no rule keeps by time', () => {
    expect(days(lockAtWrite({ daily: 3 }, at, 7 * DAY))).toBe(7);
    expect(days(lockAtWrite({ keepLast: 5 }, at, 7 * DAY))).toBe(7);
    expect(days(lockAtWrite(undefined, at, 2 * DAY))).toBe(2);
  });
});

describe('the lock of a backup that retention keeps in a longer-lived tier', () => {
  const finishedAt = at.toISOString();

  it('lasts until the longest of its tiers releases it', () => {
    const rules = { daily: 7, weekly: 4, monthly: 12 };
    expect(days(lockForKeeper(rules, finishedAt, ['daily 2026-11-20', 'weekly 2026-W47'])!)).toBe(28);
    expect(days(lockForKeeper(rules, finishedAt, ['weekly 2026-W47', 'monthly 2026-11', 'newest'])!)).toBe(12 * 28);
  });

  it('is capped by maxAgeDays, and absent when no tier keeps it', () => {
    expect(days(lockForKeeper({ daily: 7, yearly: 5, maxAgeDays: 400 }, finishedAt, ['yearly 2026'])!)).toBe(400);
    expect(lockForKeeper({ daily: 7 }, finishedAt, ['newest', 'keepLast 3'])).toBeUndefined();
  });
});

describe('the lock policy of a region', () => {
  const config = parseConfig(`
primaryRegion: sto
regions:
  sto: { storage: { type: s3, bucket: locked, objectLock: { mode: compliance, minimum: 2d } } }
  got: { storage: { type: s3, bucket: plain } }
encryption: { recipients: [age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs7lxqgf] }
catalog: { trustedKeys: [${testPublicKey}] }
sources:
  app: { kind: redis, region: sto, url: redis://127.0.0.1:6379, retention: { daily: 5, regions: { sto: { weekly: 2 } } } }
`, 'lifeboat.yaml');

  it('locks a source\'s backup and WAL objects by that region\'s rules, and nothing else', () => {
    const policy = regionLockPolicy(config, 'sto')!;
    expect(days(policy('app/20261120T120000Z-0123456789ab/data.zst.age', at)!)).toBe(14);
    expect(days(policy('_wal/app/000000010000000000000003.zst.age', at)!)).toBe(14);
    // A verify record written three days later is locked until its backup's objects are, not beyond.
    const later = new Date(at.getTime() + 3 * DAY);
    expect(days(policy('app/20261120T120000Z-0123456789ab/verify/20261123T120000Z.json', later)!)).toBe(14);
    expect(policy('app/20261101T120000Z-0123456789ab/deleted.json', at)).toBeUndefined();
    expect(policy('.lifeboat-doctor/1-2', at)).toBeUndefined();
    expect(regionLockPolicy(config, 'got')).toBeUndefined();
    expect(sourceOfKey('manifest.json')).toBeUndefined();
  });
});

describe('the retention planner given backups under Object Lock', () => {
  const backups = [0, 1, 2, 3].map((n) => ({ id: `b${n}`, finishedAt: new Date(at.getTime() - (10 - n) * DAY).toISOString(), parent: null }));

  it('keeps a held backup it would delete, says why, and keeps no other copy for its sake', () => {
    const plan = planRetention({
      source: 'app', timezone: 'UTC', now: at.toISOString(), minCopies: 2, retention: { keepLast: 1 },
      regions: [
        { region: 'sto', backups, verified: [], held: { b0: 'held by legal hold', b1: 'held by Object Lock until 2026-12-01T00:00:00.000Z' } },
        { region: 'got', backups, verified: [] },
      ],
    });
    const sto = plan.regions[0]!.decisions;
    expect(sto.map((d) => d.action)).toEqual(['keep', 'keep', 'delete', 'keep']);
    expect(sto[0]!.reasons[0]).toMatch(/^held by legal hold \(else: kept by no rule/);
    expect(sto[1]!.reasons[0]).toMatch(/^held by Object Lock until 2026-12-01/);
    expect(plan.regions[1]!.decisions.map((d) => d.action)).toEqual(['delete', 'delete', 'delete', 'keep']);
  });
});
