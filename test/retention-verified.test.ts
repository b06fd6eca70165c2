import { plantManifest, trusted } from './support/signing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import type { StorageBackend } from '../activities/storage/backend';
import { keys } from '../lib/manifest';
import type { RetentionReport } from '../workflows/apply-retention';
import { DAY } from './support/calendar';
import { makeFixture, type Fixture } from './support/fixture';
import { plantRecord, verifyRecord } from './support/verify-records';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const regions = ['stockholm', 'gothenburg'];

/** A back-dated redis backup written straight into storage: a data object, then its manifest. */
async function plant(storage: StorageBackend, region: string, id: string, finishedAt: string): Promise<void> {
  const key = keys.object('kept', id, 'dump.rdb.zst.age');
  await storage.put(key, Buffer.from('data'));
  await plantManifest(storage, { id, source: 'kept', kind: 'redis', region, finishedAt, objects: [{ key, role: 'data', content: 'planted', size: 4, sha256: '0'.repeat(64) }] });
}

describe('applyRetention after failed verifications, on the real Temporal server and S3 regions', () => {
  let fixture: Fixture;
  let harness: Harness;
  const storage = (region: string) => createDeps(fixture.config).storage(region);
  const now = Date.now();
  // Four daily backups, oldest first; only the oldest passed a restore test.
  const backups = [4, 3, 2, 1].map((days) => ({ id: `b${5 - days}`, finishedAt: new Date(now - days * DAY).toISOString() }));
  const [verified, failedOld, failedMiddle, newest] = backups as [typeof backups[number], typeof backups[number], typeof backups[number], typeof backups[number]];

  beforeAll(async () => {
    fixture = await makeFixture(servers, () => ({ kept: { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${servers.redis.port}`, retention: { keepLast: 1 } } }), {
      retention: { minCopies: 2 },
    });
    for (const region of regions) for (const backup of backups) await plant(storage(region), region, backup.id, backup.finishedAt);
    const record = { source: 'kept', region: 'stockholm', kind: 'redis' } as const;
    await plantRecord(storage('stockholm'), verifyRecord({ ...record, backupId: verified.id, level: 'restore', outcome: 'passed', finishedAt: new Date(now - 3.5 * DAY).toISOString(), restoreMs: 900 }));
    // Every newer backup failed its verification, the newest most recently.
    for (const [i, backup] of [failedOld, failedMiddle, newest].entries()) {
      await plantRecord(storage('stockholm'), verifyRecord({ ...record, backupId: backup.id, level: i === 1 ? 'integrity' : 'restore', outcome: 'failed', finishedAt: new Date(now - (2.5 - i) * DAY).toISOString() }));
    }
    harness = await startHarness(fixture.config);
  }, 600_000);

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
  });

  it('retention after a failed verification keeps the newest verified backup', async () => {
    const report: RetentionReport = await harness.client.workflow.execute('applyRetention', {
      args: [{ source: 'kept' }], workflowId: `test-retention-verified-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
    const stockholm = report.sources[0]!.regions.find((r) => r.region === 'stockholm')!;
    expect(stockholm.kept.find((k) => k.id === verified.id)?.reasons).toEqual(['newest verified']);
    expect(stockholm.kept.find((k) => k.id === newest.id)?.reasons).toContain('newest');
    expect(stockholm.deleted.map((d) => d.id).sort()).toEqual([failedOld.id, failedMiddle.id]);
    for (const region of regions) {
      // gothenburg has no record of its own; it keeps the verified backup so two copies remain.
      expect((await listBackups(storage(region), trusted, 'kept')).map((e) => e.manifest.id), region).toEqual([verified.id, newest.id]);
    }
  });
});
