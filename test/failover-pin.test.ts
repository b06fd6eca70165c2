import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps } from '../activities/deps';
import { retentionActivities } from '../activities/retention';
import { keys, type FilesDescription } from '../lib/manifest';
import { pinKeys } from '../lib/pins';
import type { RetentionReport } from '../workflows/apply-retention';
import { abortUpdate } from '../workflows/failover-status';
import { makeFixture, type Fixture } from './support/fixture';
import { startFailover, waitForStatus, type FailoverWorld } from './support/failover';
import { plantManifest } from './support/signing';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const DAY = 86_400_000;

describe('a failover awaiting approval pins the backup its plan restores', () => {
  let dir: string;
  let fixture: Fixture;
  let harness: Harness;
  const storage = (region: string) => createDeps(fixture.config).storage(region);
  let run = 0;
  const applyRetention = (): Promise<RetentionReport> => harness.client.workflow.execute('applyRetention', {
    args: [{ source: 'docs' }], workflowId: `test-pin-retention-${fixture.prefix}${run++}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
  });
  const pinsIn = async (region: string) => {
    const found: string[] = [];
    for await (const object of storage(region).list(pinKeys.prefix('docs'))) found.push(object.key);
    return found;
  };
  // Two full backups in both regions: keepLast 1 deletes the older, which a failover to a point between them restores.
  const now = Date.now();
  const older = { id: `${new Date(now - 2 * DAY).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-0123456789ab`, finishedAt: new Date(now - 2 * DAY).toISOString() };
  const newer = { id: `${new Date(now - DAY).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-ba9876543210`, finishedAt: new Date(now - DAY).toISOString() };
  const between = new Date(now - 1.5 * DAY).toISOString();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-pin-'));
    fixture = await makeFixture(servers, () => ({
      docs: { kind: 'files', region: 'stockholm', path: '/nonexistent', retention: { keepLast: 1 } },
    }), {
      sync: { afterBackup: false },
      retention: { minCopies: 1 },
      failover: { approval: { remindEvery: '1h', deadline: '2h' }, workerTimeout: '20s' },
    }, { failover: { targets: { docs: { directory: join(dir, 'dr') } } } });
    const description: FilesDescription = { kind: 'files', root: '/nonexistent', level: 0, include: [], exclude: [], files: 1, directories: 0, symlinks: 0, bytes: 4, warnings: [] };
    for (const region of ['stockholm', 'gothenburg']) {
      for (const backup of [older, newer]) {
        await plantManifest(storage(region), {
          ...backup, source: 'docs', kind: 'files', region, description,
          objects: [{ key: keys.object('docs', backup.id, 'data.tar.zst.age'), role: 'data', content: 'planted', size: 4, sha256: '0'.repeat(64) }],
        });
      }
    }
    harness = await startHarness(fixture.config);
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('retention keeps it, reported as pinned, deletes it elsewhere, and may delete it once the failover has ended', async () => {
    const world = { fixture } as FailoverWorld;
    const handle = await startFailover(harness.client, world, { recoveryPoint: between, drill: true });
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting-approval');
    expect(waiting.plan!.sources).toMatchObject([{ source: 'docs', backupId: older.id, warnings: [expect.stringContaining('no passed restore-level verification')] }]);
    expect(await pinsIn('gothenburg')).toEqual([expect.stringMatching(new RegExp(`^_pins/docs/${older.id}/[0-9a-f-]+\\.json$`))]);

    const report = await applyRetention();
    const [source] = report.sources;
    const region = (name: string) => source!.regions.find((r) => r.region === name)!;
    expect(region('gothenburg').kept.find((k) => k.id === older.id)!.reasons).toEqual([
      expect.stringMatching(new RegExp(`^pinned by failover drill ${handle.workflowId} \\(plan ${waiting.plan!.planHash}\\) until \\d{4}-`)),
    ]);
    expect(region('gothenburg').deleted).toEqual([]);
    expect(region('stockholm').deleted.map((d) => d.id)).toEqual([older.id]);
    expect(await storage('gothenburg').stat(keys.manifest('docs', older.id))).toBeDefined();
    expect(await storage('stockholm').stat(keys.manifest('docs', older.id))).toBeUndefined();

    // A retention run that planned before the pin was written still finds it at the deletion.
    await expect(retentionActivities(createDeps(fixture.config)).deleteBackup({ source: 'docs', region: 'gothenburg', id: older.id }))
      .rejects.toMatchObject({ type: 'Locked', message: expect.stringContaining(`backup docs/${older.id} is pinned by failover drill ${handle.workflowId}`) });
    expect(await storage('gothenburg').stat(keys.manifest('docs', older.id))).toBeDefined();

    await handle.executeUpdate(abortUpdate, { args: [{ by: 'test', reason: 'not needed' }] });
    expect(await handle.result()).toMatchObject({ state: 'aborted' });
    expect(await pinsIn('gothenburg')).toEqual([]);
    const after = await applyRetention();
    expect(after.sources[0]!.regions.find((r) => r.region === 'gothenburg')!.deleted.map((d) => d.id)).toEqual([older.id]);
    expect(await storage('gothenburg').stat(keys.manifest('docs', older.id))).toBeUndefined();
  });
});
