import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps } from '../activities/deps';
import { verifyRecordKey } from '../activities/verify-records';
import type { CatalogRow } from '../client/commands/backups-list';
import { verifiedText } from '../client/commands/verified-text';
import { keys } from '../lib/manifest';
import { makeFixture, type Fixture } from './support/fixture';
import { plantManifest } from './support/signing';
import { plantRecord, verifyRecord } from './support/verify-records';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

describe('backups list with verification records in storage', () => {
  let fixture: Fixture;
  const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3600_000).toISOString();
  const backups = ['c1', 'c2', 'c3'];

  beforeAll(async () => {
    fixture = await makeFixture(servers, (ctx) => ({ 'listed-db': ctx.postgres('verify_catalog_never_read') }));
    const storage = (region: string) => createDeps(fixture.config).storage(region);
    for (const region of ['stockholm', 'gothenburg']) {
      for (const [i, id] of backups.entries()) {
        const finishedAt = hoursAgo(10 - i);
        const key = keys.object('listed-db', id, 'dump');
        await storage(region).put(key, Buffer.from('twelve bytes'));
        await plantManifest(storage(region), {
          id, source: 'listed-db', kind: 'postgres', region: 'stockholm', finishedAt,
          objects: [{ key, role: 'data', content: 'x', size: 12, sha256: '0'.repeat(64) }],
        });
      }
    }
    const base = { source: 'listed-db' } as const;
    // c1: an older failed integrity check, then a passed restore in stockholm; a passed integrity check in gothenburg.
    await plantRecord(storage('stockholm'), verifyRecord({ ...base, backupId: 'c1', region: 'stockholm', level: 'integrity', outcome: 'failed', finishedAt: hoursAgo(5) }));
    await plantRecord(storage('stockholm'), verifyRecord({ ...base, backupId: 'c1', region: 'stockholm', level: 'restore', outcome: 'passed', finishedAt: hoursAgo(3), restoreMs: 41_000 }));
    await plantRecord(storage('gothenburg'), verifyRecord({ ...base, backupId: 'c1', region: 'gothenburg', level: 'integrity', outcome: 'passed', finishedAt: hoursAgo(2) }));
    await plantRecord(storage('stockholm'), verifyRecord({ ...base, backupId: 'c2', region: 'stockholm', level: 'restore', outcome: 'failed', finishedAt: hoursAgo(1) }));
    // A damaged record proves nothing and must not hide the backup.
    await storage('stockholm').put(verifyRecordKey('listed-db', 'c3', '20260101T000000Z'), Buffer.from('{ not json'));
  });

  afterAll(() => fixture?.cleanup());

  it('gives each copy the newest verification in its own region in --json, null when never verified', async () => {
    const result = await execa(lifeboat, ['--config', fixture.configFile, '--json', 'backups', 'list'], { env: fixture.env, reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    const rows = JSON.parse(result.stdout) as CatalogRow[];
    const verified = Object.fromEntries(rows.map((r) => [`${r.id} ${r.region}`, r.verified]));
    expect(verified).toEqual({
      'c1 stockholm': { level: 'restore', outcome: 'passed', at: expect.any(String) as string, restoreMs: 41_000 },
      'c2 stockholm': { level: 'restore', outcome: 'failed', at: expect.any(String) as string, restoreMs: null },
      'c3 stockholm': null,
      'c1 gothenburg': { level: 'integrity', outcome: 'passed', at: expect.any(String) as string, restoreMs: null },
      'c2 gothenburg': null,
      'c3 gothenburg': null,
    });
    expect(rows.map((r) => r.id)).toEqual(['c1', 'c2', 'c3', 'c1', 'c2', 'c3']);
  });

  it('says in the VERIFIED column how long ago, at which level, with the restore time or FAILED', async () => {
    const result = await execa(lifeboat, ['--config', fixture.configFile, 'backups', 'list', '--region', 'stockholm'], { env: fixture.env, reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/VERIFIED$/);
    expect(lines.find((l) => l.startsWith('c1'))).toMatch(/verified 3\.0h ago \(restore 41 s\)$/);
    expect(lines.find((l) => l.startsWith('c2'))).toMatch(/FAILED 1\.0h ago \(restore\)$/);
    expect(lines.find((l) => l.startsWith('c3'))).toMatch(/never$/);
  });
});

describe('the VERIFIED text', () => {
  const now = Date.parse('2026-11-24T12:00:00Z');

  it('says integrity for a passed integrity check and gives long restores in minutes', () => {
    expect(verifiedText({ level: 'integrity', outcome: 'passed', at: '2026-11-24T10:00:00Z', restoreMs: null }, now)).toBe('integrity 2.0h ago');
    expect(verifiedText({ level: 'restore', outcome: 'passed', at: '2026-11-24T11:59:00Z', restoreMs: 754_000 }, now)).toBe('verified 1m ago (restore 13 min)');
    expect(verifiedText({ level: 'integrity', outcome: 'failed', at: '2026-11-24T11:00:00Z', restoreMs: null }, now)).toBe('FAILED 1.0h ago (integrity)');
    expect(verifiedText(null, now)).toBe('never');
  });
});
