import type { BackupRef } from '../../lib/retention/plan';

// Expected retention sets for tests, from hand-rolled calendar arithmetic (days since the epoch, the EU
// summer-time rule), not from Intl or Date, so a mistake in the planner's calendar cannot hide.

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** Howard Hinnant's days_from_civil / civil_from_days. */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}
function civilFromDays(z0: number): { y: number; m: number; d: number } {
  const z = z0 + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return { y: yoe + era * 400 + (m <= 2 ? 1 : 0), m, d };
}
const weekday = (days: number) => (((days + 4) % 7) + 7) % 7; // 0 = Sunday; 1970-01-01 was a Thursday
function lastSunday(y: number, m: number): number {
  const lastDay = daysFromCivil(y, m + 1, 1) - 1;
  return lastDay - weekday(lastDay);
}
/** Europe/Stockholm: CET, CEST from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October. */
export function stockholmOffset(utcMs: number): number {
  const { y } = civilFromDays(Math.floor(utcMs / DAY));
  const start = lastSunday(y, 3) * DAY + HOUR;
  const end = lastSunday(y, 10) * DAY + HOUR;
  return utcMs >= start && utcMs < end ? 2 * HOUR : HOUR;
}

type Keys = { day: number; week: number; month: number; year: number };
function keysOf(utcMs: number, offset: (ms: number) => number): Keys {
  const localDays = Math.floor((utcMs + offset(utcMs)) / DAY);
  const { y, m } = civilFromDays(localDays);
  // 1970-01-05 was a Monday: whole weeks since then number the ISO weeks uniquely.
  return { day: localDays, week: Math.floor((localDays - 4) / 7), month: y * 12 + m, year: y };
}

export function expectedKept(backups: BackupRef[], rules: { daily: number; weekly: number; monthly: number; yearly: number }, offset: (ms: number) => number): string[] {
  const kept = new Set<string>();
  const newestFirst = [...backups].sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt));
  for (const [unit, count] of [['day', rules.daily], ['week', rules.weekly], ['month', rules.monthly], ['year', rules.yearly]] as const) {
    const periods: number[] = [];
    for (const backup of newestFirst) {
      const key = keysOf(Date.parse(backup.finishedAt), offset)[unit];
      if (periods.includes(key)) continue;
      if (periods.length === count) break;
      periods.push(key);
      kept.add(backup.id);
    }
  }
  return [...kept].sort();
}

