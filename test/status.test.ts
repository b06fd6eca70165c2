import { plantManifest } from './support/signing';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps } from '../activities/deps';
import { colours, statusText, type StatusReport } from '../client/commands/status';
import { keys } from '../lib/manifest';
import { makeFixture, type Fixture } from './support/fixture';
import { extendFixture } from './support/sync';
import { plantRecord, verifyRecord } from './support/verify-records';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

describe('lifeboat status without Temporal and with a region it cannot read', () => {
  let fixture: Fixture;
  const finishedAt = new Date(Date.now() - 2 * 3600_000).toISOString();

  beforeAll(async () => {
    const base = await makeFixture(servers, (ctx) => ({ 'status-db': ctx.postgres('status_never_read') }));
    fixture = extendFixture(base, { objectives: { rpo: '1h', rto: '1h' } });
    // A backup two hours old, against a one-hour RPO: only its manifest and object are needed.
    const storage = createDeps(fixture.config).storage('stockholm');
    const key = keys.object('status-db', 'b1', 'dump');
    await storage.put(key, Buffer.from('twelve bytes'));
    await plantManifest(storage, {
      id: 'b1', source: 'status-db', kind: 'postgres', region: 'stockholm', finishedAt,
      objects: [{ key, role: 'data', content: 'x', size: 12, sha256: '0'.repeat(64) }],
    });
  });

  afterAll(() => fixture?.cleanup());

  it('reads the catalogs from storage, says LATE with exit code 25, shows the unreadable region, and notes that failures are unknown', async () => {
    const secretEnv = Object.keys(fixture.env).find((k) => k.startsWith('GOTHENBURG_SECRET_'))!;
    const result = await execa(lifeboat, ['--config', fixture.configFile, '--json', 'status'], {
      env: { ...fixture.env, [secretEnv]: 'wrong', TEMPORAL_ADDRESS: '127.0.0.1:1' }, reject: false,
    });
    // A monitoring check's answer: the report on stdout, the exit code and the reason on stderr.
    expect(result.exitCode, result.stderr).toBe(25);
    expect(result.stderr).toMatch(/lifeboat: 1 source needs a backup: status-db \(newest \d+\.\dh old, RPO 1\.0h\)/);
    expect(result.stderr).toMatch(/last failures unknown: cannot connect to Temporal at 127\.0\.0\.1:1/);
    const report = JSON.parse(result.stdout) as StatusReport;
    expect(report.temporal).toMatch(/cannot connect to Temporal/);
    const [source] = report.sources;
    expect(source).toMatchObject({
      source: 'status-db', newest: { id: 'b1', finishedAt, bytes: 12 }, rpo: { objectiveSeconds: 3600, status: 'LATE' }, lastFailure: null,
      copies: { stockholm: { backups: 1, newest: 'b1', hasNewest: true, lagSeconds: 0 }, gothenburg: { backups: null, hasNewest: false } },
    });
    expect(source!.newest!.ageSeconds).toBeGreaterThanOrEqual(7200);
    expect(source!.copies.gothenburg!.error).toMatch(/gothenburg|lb-gothenburg/);
    expect(source!.rollback).toMatchObject({ status: 'UNCHECKED', error: 'Temporal is not reachable' });
  });

  it('paints status only when asked: OK green, LATE red, regions without the newest backup yellow', () => {
    const report: StatusReport = {
      at: '2026-01-01T00:00:00Z', temporal: 'ok', sources: [{
        source: 'x', kind: 'redis', region: 'stockholm', newest: { id: 'b', finishedAt: '2025-12-31T00:00:00Z', ageSeconds: 86_400, bytes: 10 },
        rpo: { objectiveSeconds: 3600, status: 'LATE' }, lastFailure: null,
        verified: { newest: null, status: 'NEVER' }, rto: { objectiveSeconds: 3600, measured: null, status: 'UNMEASURED' },
        copies: { stockholm: { backups: 1, newest: 'b', hasNewest: true, lagSeconds: 0 }, gothenburg: { backups: 0, newest: null, hasNewest: false, lagSeconds: null } },
      }],
    };
    expect(statusText(report, colours(true))).toMatch(/\x1b\[31mLATE *\x1b\[0m {2}\x1b\[33mstockholm 1, gothenburg 0 \(no newest\)/);
    expect(statusText({ ...report, sources: [{ ...report.sources[0]!, rpo: { objectiveSeconds: 3600, status: 'OK' } }] }, colours(true))).toContain('\x1b[32mOK');
    expect(statusText(report, colours(false))).not.toContain('\x1b[');
  });
});

describe('lifeboat status with verification records in storage', () => {
  let fixture: Fixture;
  const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3600_000).toISOString();
  const older = { id: 'v1', finishedAt: hoursAgo(3) };
  const newer = { id: 'v2', finishedAt: hoursAgo(0.25) };

  beforeAll(async () => {
    const base = await makeFixture(servers, (ctx) => ({ 'verified-db': ctx.postgres('status_verified_never_read') }));
    fixture = extendFixture(base, { objectives: { rpo: '1h', rto: '30s' } });
    const storage = createDeps(fixture.config).storage('stockholm');
    for (const backup of [older, newer]) {
      const key = keys.object('verified-db', backup.id, 'dump');
      await storage.put(key, Buffer.from('twelve bytes'));
      await plantManifest(storage, {
        id: backup.id, source: 'verified-db', kind: 'postgres', region: 'stockholm', finishedAt: backup.finishedAt,
        objects: [{ key, role: 'data', content: 'x', size: 12, sha256: '0'.repeat(64) }],
      });
    }
    const record = { source: 'verified-db', region: 'stockholm', level: 'restore' } as const;
    await plantRecord(storage, verifyRecord({ ...record, backupId: older.id, outcome: 'passed', finishedAt: hoursAgo(2), restoreMs: 41_000 }));
    await plantRecord(storage, verifyRecord({ ...record, backupId: newer.id, outcome: 'failed', finishedAt: hoursAgo(0.1) }));
  });

  afterAll(() => fixture?.cleanup());

  it('holds the newest verified backup\'s age to the RPO and the newest passed restore\'s duration to the RTO', async () => {
    const result = await execa(lifeboat, ['--config', fixture.configFile, '--json', 'status'], { env: { ...fixture.env, TEMPORAL_ADDRESS: '127.0.0.1:1' }, reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    const [source] = (JSON.parse(result.stdout) as StatusReport).sources;
    // The newer backup is within the RPO, but its verification failed: the verified one is three hours old.
    expect(source).toMatchObject({
      newest: { id: newer.id }, rpo: { status: 'OK' },
      verified: { newest: { id: older.id, region: 'stockholm', level: 'restore' }, status: 'LATE' },
      rto: { objectiveSeconds: 30, measured: { seconds: 41, id: older.id, region: 'stockholm' }, status: 'SLOW' },
    });
    expect(source!.verified.newest!.ageSeconds).toBeGreaterThanOrEqual(3 * 3600);
  });

  it('shows the verified backup\'s age and the measured RTO against the objective in the text', async () => {
    const result = await execa(lifeboat, ['--config', fixture.configFile, 'status'], { env: { ...fixture.env, TEMPORAL_ADDRESS: '127.0.0.1:1' }, reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    const [header, row] = result.stdout.split('\n');
    expect(header).toMatch(/SIZE +VERIFIED +RTO +LAST FAILURE +CATALOG/);
    // CATALOG is "?": without Temporal the rollback cross-check cannot run.
    expect(row).toMatch(/ 3\.0h ago +41 s of 30s +- +\?$/);
  });

  it('paints a slow RTO red and an unmeasured one yellow', () => {
    const base: StatusReport['sources'][number] = {
      source: 'x', kind: 'redis', region: 'stockholm', newest: null, rpo: { objectiveSeconds: 60, status: 'NEVER' }, lastFailure: null, copies: {},
      verified: { newest: null, status: 'NEVER' }, rto: { objectiveSeconds: 60, measured: { seconds: 90, id: 'b', region: 'stockholm', verifiedAt: '2026-01-01T00:00:00Z' }, status: 'SLOW' },
    };
    const report: StatusReport = { at: '2026-01-01T00:00:00Z', temporal: 'ok', sources: [base] };
    expect(statusText(report, colours(true))).toContain('\x1b[31m90 s of 1m');
    expect(statusText({ ...report, sources: [{ ...base, rto: { objectiveSeconds: 60, measured: null, status: 'UNMEASURED' } }] }, colours(true))).toContain('\x1b[33munmeasured');
  });
});
