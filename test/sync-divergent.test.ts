import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps } from '../activities/deps';
import { readAll } from '../activities/storage/backend';
import { syncActivities } from '../activities/sync';
import { syncText } from '../client/commands/sync';
import { keys, type Manifest } from '../lib/manifest';
import { signatureKey } from '../lib/signing';
import { syncWorkflowId } from '../lib/workflow-ids';
import type { BackupSummary } from '../workflows/backup-source';
import type { RegionSyncResult, SyncResult } from '../workflows/sync-regions';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { putSignedJson } from './support/signing';
import { extendFixture, keysIn, startAlertSink, type AlertSink } from './support/sync';
import { verifyRecords } from './support/verify';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const source = 'dv-files';

describe('a sync that finds copies unlike the home region\'s', () => {
  let fixture: Fixture;
  let harness: Harness;
  let sink: AlertSink;
  // a: a validly signed other manifest in gothenburg; b: an unsigned one; c: one object gone, one
  // of other bytes of the same size; d: one object of another size.
  let a: BackupSummary, b: BackupSummary, c: BackupSummary, d: BackupSummary;
  let before: Map<string, string>;
  let result: RegionSyncResult;
  const foreign = { victim: 'dv-victim/20260101T000000Z-0000/data.tar.zst.age', wal: `_wal/${source}/000000010000000000000001.zst.age` };
  const foreignIds = ['20991231T000000Z-aaaa', '20991231T000000Z-bbbb'];
  const storage = (region: string) => createDeps(fixture.config).storage(region);
  const manifestOf = async (region: string, id: string) => JSON.parse((await readAll(await storage(region).get(keys.manifest(source, id)))).toString('utf8')) as Manifest;
  const sync = async (): Promise<SyncResult> => harness.client.workflow.execute('syncRegions', {
    args: [{ source }], workflowId: syncWorkflowId(fixture.config.temporal.taskQueuePrefix, source), taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
  });
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

  /** The SHA-256 of every object under the prefixes, by key. */
  async function snapshot(region: string, prefixes: string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (const prefix of prefixes) {
      for (const key of await keysIn(storage(region), prefix)) found.set(key, sha256(await readAll(await storage(region).get(key))));
    }
    return found;
  }

  beforeAll(async () => {
    sink = await startAlertSink();
    const base = await makeFixture(servers, () => ({}));
    const tree = join(base.dir, 'tree');
    mkdirSync(tree);
    fixture = extendFixture(base, {
      sync: { afterBackup: false },
      alerts: { channels: [{ type: 'webhook', url: sink.url }] },
      sources: { [source]: { kind: 'files', region: 'stockholm', path: tree } },
    });
    harness = await startHarness(fixture.config);
    const backups: BackupSummary[] = [];
    for (const n of [1, 2, 3, 4]) {
      writeFileSync(join(tree, `f${n}.txt`), `file ${n}\n`.repeat(n * 100));
      backups.push(await runBackup(harness.client, fixture.config, source));
    }
    [a, b, c, d] = backups as [BackupSummary, BackupSummary, BackupSummary, BackupSummary];
    const first = (await sync()).sources[0]!.regions[0]!;
    expect(first.copied.sort()).toEqual(backups.map((x) => x.backupId).sort());

    const got = storage('gothenburg');
    const sto = storage('stockholm');
    // a: the same id, signed by the trusted key, one field changed.
    const forged = { ...(await manifestOf('gothenburg', a.backupId)), retentionTags: ['planted'] };
    await got.remove(keys.manifest(source, a.backupId));
    await got.remove(signatureKey(keys.manifest(source, a.backupId)));
    await putSignedJson(got, keys.manifest(source, a.backupId), forged);
    // b: the home region's manifest with its signature gone, and one byte of whitespace more.
    const bManifest = await manifestOf('gothenburg', b.backupId);
    await got.remove(signatureKey(keys.manifest(source, b.backupId)));
    await got.remove(keys.manifest(source, b.backupId));
    await got.put(keys.manifest(source, b.backupId), Buffer.from(`${JSON.stringify(bManifest)} `));
    // c: the state object gone (so the backup is repaired), the data object same-size other bytes.
    const cManifest = await manifestOf('stockholm', c.backupId);
    const cData = cManifest.objects.find((o) => o.role === 'data')!;
    await got.remove(cManifest.objects.find((o) => o.role === 'state')!.key);
    await got.remove(cData.key);
    await got.put(cData.key, Buffer.alloc(cData.size, 7));
    // d: the data object of another size.
    const dData = (await manifestOf('stockholm', d.backupId)).objects.find((o) => o.role === 'data')!;
    await got.remove(dData.key);
    await got.put(dData.key, Buffer.from('not the backup'));
    // Two manifests in the home region, signed by the trusted key, that name another source's
    // object and a WAL segment; gothenburg holds other bytes under both keys.
    const template = await manifestOf('stockholm', a.backupId);
    for (const [index, key] of [foreign.victim, foreign.wal].entries()) {
      const bytes = Buffer.from(`planted ${index}`);
      await sto.put(key, bytes);
      await got.put(key, Buffer.from(`the region's own ${index}`));
      const id = foreignIds[index]!;
      await putSignedJson(sto, keys.manifest(source, id), {
        ...template, id, finishedAt: new Date().toISOString(), objects: [{ ...template.objects[0]!, key, size: bytes.length, sha256: sha256(bytes) }],
      });
    }

    before = await snapshot('gothenburg', [`${source}/`, '_wal/', 'dv-victim/']);
    const run = await sync();
    result = run.sources[0]!.regions.find((r) => r.region === 'gothenburg')!;
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
    await sink?.close();
    fixture?.cleanup();
  });

  it('overwrites nothing the destination holds: every manifest, signature and object keeps its bytes', async () => {
    const after = await snapshot('gothenburg', [`${source}/`, '_wal/', 'dv-victim/']);
    for (const [key, hash] of before) expect(after.get(key), key).toBe(hash);
    // What is new there: the state object that was absent, and verify records.
    const added = [...after.keys()].filter((key) => !before.has(key));
    const cState = (await manifestOf('stockholm', c.backupId)).objects.find((o) => o.role === 'state')!;
    expect(added.filter((key) => !key.includes('/verify/'))).toEqual([cState.key]);
    expect(after.get(cState.key)).toBe(cState.sha256);
  });

  it('reports a validly signed manifest that differs from the home one as divergent, and verifies both copies', async () => {
    const divergent = result.divergent.find((x) => x.backupId === a.backupId)!;
    expect(divergent.reason).toMatch(/differs from the one in stockholm/);
    expect(divergent.verified).toEqual([
      expect.objectContaining({ region: 'stockholm', outcome: 'passed' }),
      expect.objectContaining({ region: 'gothenburg', outcome: 'passed' }),
    ]);
    for (const region of ['stockholm', 'gothenburg']) {
      const records = await verifyRecords(storage(region), source, a.backupId);
      expect(records.map((r) => [r.level, r.outcome]), region).toEqual([['integrity', 'passed']]);
      expect(divergent.verified.find((v) => v.region === region)!.recordKey).toMatch(new RegExp(`^${source}/${a.backupId}/verify/`));
    }
    expect(result.present).toBe(0);
    expect(result.copied).not.toContain(a.backupId);
  });

  it('reports an unsigned destination manifest as divergent, never present, and verifies the home copy', async () => {
    const divergent = result.divergent.find((x) => x.backupId === b.backupId)!;
    expect(divergent.reason).toMatch(/not trusted: it has no signature/);
    expect(divergent.verified).toEqual([
      expect.objectContaining({ region: 'stockholm', outcome: 'passed' }),
      expect.objectContaining({ region: 'gothenburg', outcome: 'untrusted' }),
    ]);
    expect(await verifyRecords(storage('gothenburg'), source, b.backupId)).toEqual([]);
  });

  it('raises one critical sync-divergent alert for the region, naming the newest divergent backup and both verifications', async () => {
    await expect.poll(() => sink.received.filter((alert) => alert.kind === 'sync-divergent').length, { timeout: 20_000 }).toBe(1);
    expect(sink.received.find((alert) => alert.kind === 'sync-divergent')).toMatchObject({
      severity: 'critical', source, region: 'gothenburg',
      details: { divergent: 2, backupId: b.backupId, homeVerified: 'passed', regionVerified: 'untrusted' },
    });
  });

  it('copies again only the absent object of a damaged copy and reports an object of other bytes, of the same size or another, as AlreadyExists', () => {
    expect(result.failed).toEqual(expect.arrayContaining([
      expect.objectContaining({ backupId: c.backupId, type: 'AlreadyExists', message: expect.stringMatching(/refusing to overwrite .*files\.tar\.zst\.age: it holds other bytes \(sha256/) }),
      expect.objectContaining({ backupId: d.backupId, type: 'AlreadyExists', message: expect.stringMatching(/refusing to overwrite .*files\.tar\.zst\.age: it holds other bytes \(14 bytes; the manifest says/) }),
    ]));
    expect(result.failed).toHaveLength(2);
    expect(sink.received.find((alert) => alert.kind === 'sync-failed')).toMatchObject({
      severity: 'critical', text: expect.stringContaining('Nothing was overwritten'), details: expect.objectContaining({ type: 'AlreadyExists' }),
    });
  });

  it('lifeboat sync prints the divergent copies after the failures, with each copy\'s verification', () => {
    const text = syncText({ checkedAt: null, lagThresholdSeconds: 3600, sources: [{ source, home: 'stockholm', homeNewest: null, homeAgeSeconds: null, regions: [result] }] });
    const lines = text.split('\n');
    const from = lines.indexOf('divergent (left as they are):');
    expect(from).toBeGreaterThan(lines.indexOf('failed:'));
    expect(lines.slice(from + 1)).toEqual([
      expect.stringMatching(new RegExp(`^  ${source} → gothenburg ${b.backupId}: its manifest there is not trusted: it has no signature; verified: stockholm passed, gothenburg untrusted \\(`)),
      `  ${source} → gothenburg ${a.backupId}: ${result.divergent[1]!.reason}; verified: stockholm passed, gothenburg passed`,
    ]);
  });

  it('never copies a home manifest that names another source\'s object or a WAL segment', async () => {
    for (const id of foreignIds) expect(await keysIn(storage('gothenburg'), keys.backupPrefix(source, id))).toEqual([]);
    expect(result.copied.filter((id) => foreignIds.includes(id))).toEqual([]);
  });

  it('copyObject and publishManifest refuse a key outside the backup\'s own prefix, whatever the manifest says', async () => {
    const activities = syncActivities(createDeps(fixture.config));
    // Another source's object, a WAL segment, and a catalog object of the backup itself.
    const attempts: Array<[string, string]> = [[foreignIds[0]!, foreign.victim], [foreignIds[1]!, foreign.wal], [a.backupId, keys.manifest(source, a.backupId)]];
    for (const [backupId, key] of attempts) {
      const bytes = await readAll(await storage('stockholm').get(key));
      const object = { key, role: 'data' as const, content: 'planted', size: bytes.length, sha256: sha256(bytes) };
      const copy = new MockActivityEnvironment().run(activities.copyObject, { source, backupId, from: 'stockholm', to: 'gothenburg', object });
      await expect(copy, key).rejects.toMatchObject({ type: 'Untrusted', message: expect.stringContaining(key) });
    }
    await expect(new MockActivityEnvironment().run(activities.publishManifest, {
      source: 'dv-victim', backupId: '..', from: 'stockholm', to: 'gothenburg', manifestSha256: '0'.repeat(64), verified: [],
    })).rejects.toMatchObject({ type: 'Untrusted' });
    const after = await snapshot('gothenburg', ['_wal/', 'dv-victim/', `${source}/${a.backupId}/manifest.json`]);
    for (const [key, hash] of after) expect(hash, key).toBe(before.get(key));
  });
});

