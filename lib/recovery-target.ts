import { LifeboatError } from './errors';

// Recovery targets are written into postgresql.auto.conf. They arrive from the CLI and from any
// Temporal client that starts a restore or a failover, so they are checked at both ends.

const lsnPattern = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i;
const timePattern = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)$/i;

/** An LSN as PostgreSQL prints it (X/X, hexadecimal), upper-cased; else a Usage error. */
export function parseLsn(text: string, what = 'recovery target LSN'): string {
  if (!lsnPattern.test(text)) {
    throw new LifeboatError('Usage', `${what} ${JSON.stringify(text)} is not an LSN`, 'give it as PostgreSQL prints it, two hexadecimal numbers: e.g. 0/3000148 (SELECT pg_current_wal_lsn())');
  }
  return text.toUpperCase();
}

/**
 * An ISO 8601 date and time with a zone (Z or ±hh:mm), normalised to UTC ("2026-11-24T16:30:00.000Z");
 * else a Usage error. A time without a zone is refused: it would mean the worker's zone, not the operator's.
 */
export function parseRecoveryTime(text: string, what = 'recovery target time'): string {
  const match = timePattern.exec(text.trim());
  const ms = match ? Date.parse(canonical(match)) : Number.NaN;
  if (!match || Number.isNaN(ms) || !sameCalendarDay(match, ms)) {
    throw new LifeboatError('Usage', `${what} ${JSON.stringify(text)} is not a date and time with a zone`,
      'give an ISO 8601 time with a zone, e.g. 2026-11-24T16:30:00Z or 2026-11-24T17:30:00+01:00');
  }
  return new Date(ms).toISOString();
}

/** The matched parts as the one ISO form Date.parse reads everywhere: 2026-11-24T16:30:00.5+01:00. */
function canonical(match: RegExpExecArray): string {
  const [, year, month, day, hour, minute, second = '00', fraction, zone] = match;
  const offset = zone!.toUpperCase() === 'Z' ? 'Z' : `${zone!.slice(0, 3)}:${zone!.replace(':', '').slice(3, 5) || '00'}`;
  return `${year}-${month}-${day}T${hour}:${minute}:${second}${fraction ? `.${fraction.slice(0, 3)}` : ''}${offset}`;
}

/** Date.parse rolls 2026-02-30 over into March; the day written must be the day parsed (in its own zone). */
function sameCalendarDay(match: RegExpExecArray, ms: number): boolean {
  const zone = match[8]!.toUpperCase();
  const offsetMinutes = zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.replace(':', '').slice(3, 5) || 0));
  const local = new Date(ms + offsetMinutes * 60_000);
  return local.getUTCFullYear() === Number(match[1]) && local.getUTCMonth() + 1 === Number(match[2]) && local.getUTCDate() === Number(match[3])
    && local.getUTCHours() === Number(match[4]) && local.getUTCMinutes() === Number(match[5]);
}

/** The recovery target of a restore, each part checked and normalised; at most one of time and LSN. */
export function checkRecoveryTarget(target: { time?: string; lsn?: string }): { time?: string; lsn?: string } {
  if (target.time !== undefined && target.lsn !== undefined) {
    throw new LifeboatError('Usage', 'a recovery target names a time or an LSN, not both', 'give --at TIME or --lsn LSN');
  }
  return {
    ...(target.time !== undefined ? { time: parseRecoveryTime(target.time) } : {}),
    ...(target.lsn !== undefined ? { lsn: parseLsn(target.lsn) } : {}),
  };
}
