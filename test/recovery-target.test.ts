import { describe, expect, it } from 'vitest';
import { LifeboatError } from '../lib/errors';
import { checkRecoveryTarget, parseLsn, parseRecoveryTime } from '../lib/recovery-target';
import { requireSafePath, unsafePathProblem } from '../lib/safe-path';

function usageError(run: () => unknown): LifeboatError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(LifeboatError);
    expect((error as LifeboatError).type).toBe('Usage');
    expect((error as LifeboatError).retryable).toBe(false);
    expect((error as LifeboatError).hint).toBeTruthy();
    return error as LifeboatError;
  }
  throw new Error('expected a Usage error');
}

describe('recovery targets and data directories are checked before they reach postgresql.auto.conf or /bin/sh', () => {
  it('accepts LSNs as PostgreSQL prints them and upper-cases them', () => {
    expect(parseLsn('0/3000148')).toBe('0/3000148');
    expect(parseLsn('1a/ff')).toBe('1A/FF');
  });

  it('refuses an LSN that carries anything else, such as a quote and a second setting', () => {
    for (const lsn of ["0/3000148'\nrestore_command = 'touch /tmp/x'", '0/', 'x/1', '123456789/1', '0/1 ']) {
      expect(usageError(() => parseLsn(lsn)).message).toMatch(/is not an LSN/);
    }
  });

  it('normalises a time with a zone to UTC', () => {
    expect(parseRecoveryTime('2026-11-24T16:30:00Z')).toBe('2026-11-24T16:30:00.000Z');
    expect(parseRecoveryTime('2026-11-24 17:30:00+01')).toBe('2026-11-24T16:30:00.000Z');
    expect(parseRecoveryTime('2026-11-24T11:00:00.250-05:30')).toBe('2026-11-24T16:30:00.250Z');
  });

  it('refuses what Date.parse would take but is no moment: a bare year, a number, no zone, a day that does not exist, trailing text', () => {
    for (const time of ['2026', '1', '2026-11-24T16:30:00', '2026-02-30T00:00:00Z', '2026-11-24T24:30:00Z', "2026-11-24T16:30:00Z'; select 1", 'yesterday']) {
      expect(usageError(() => parseRecoveryTime(time)).message).toMatch(/is not a date and time with a zone/);
    }
  });

  it('refuses a recovery target with both a time and an LSN', () => {
    usageError(() => checkRecoveryTarget({ time: '2026-11-24T16:30:00Z', lsn: '0/1' }));
    expect(checkRecoveryTarget({ lsn: '0/a' })).toEqual({ lsn: '0/A' });
  });

  it('accepts ordinary data directories', () => {
    for (const path of ['/var/lib/postgresql/15/restored', '/srv/pg-dr_1/data.new', '/tmp/lifeboat-x/cluster']) expect(unsafePathProblem(path)).toBeUndefined();
  });

  it('refuses data directories with shell, quoting or list characters, and relative ones', () => {
    for (const path of ['/srv/x"; touch /tmp/pwned; "', "/srv/it's", '/srv/$(id)', '/srv/a b', '/srv/a,b', '/srv/100%', '/srv/a\nb', 'relative/dir', '/srv/`id`']) {
      expect(usageError(() => requireSafePath(path, 'the data directory')).message).toMatch(/^the data directory must be an absolute path of letters/);
    }
  });
});
