import { testSigner, trusted } from './support/signing';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand, DeleteObjectCommand, GetObjectRetentionCommand, HeadObjectCommand, ListObjectVersionsCommand, PutObjectCommand, S3ServiceException, type S3Client,
} from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps } from '../activities/deps';
import { deleteBackupCopy } from '../activities/prune';
import { retentionActivities, type RetentionWork } from '../activities/retention';
import { findBackup } from '../activities/catalog';
import { readAll } from '../activities/storage/backend';
import type { RestoreResult } from '../activities/restore';
import { parseConfig } from '../lib/config/load';
import type { Config } from '../lib/config/schema';
import { keys } from '../lib/manifest';
import { backupStart } from '../lib/retention/lock';
import type { BackupSummary } from '../workflows/backup-source';
import type { RetentionReport } from '../workflows/apply-retention';
import type { VerifyResult } from '../workflows/verify-restore';
import { s3Client } from './harness/seaweedfs';
import { makeFixture, type Fixture } from './support/fixture';
import { startHarness, type Harness } from './support/workers';

// SeaweedFS (weed mini) enforces Object Lock: it refuses to delete a version under retention or
// legal hold and honours If-None-Match, so these tests use it, on a bucket made with Object Lock.

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));
const s3 = servers.s3.stockholm!;
/** Short, so a lock expires within the test; long enough to outlast two backups and a retention run. */
const MINIMUM_S = 30;

async function refusal(send: Promise<unknown>): Promise<string> {
  try {
    await send;
  } catch (error) {
    if (error instanceof S3ServiceException) return error.name;
    throw error;
  }
  throw new Error('the server accepted it');
}

/** The fixture's YAML with only stockholm, on `bucket`, plus `storage` merged in; written and parsed again. */
function rewriteConfig(fixture: Fixture, file: string, change: (doc: { regions: Record<string, { storage: Record<string, unknown> }> } & Record<string, unknown>) => void): Config {
  const doc = parse(readFileSync(fixture.configFile, 'utf8')) as { regions: Record<string, { storage: Record<string, unknown> }> } & Record<string, unknown>;
  change(doc);
  writeFileSync(file, stringify(doc));
  return parseConfig(readFileSync(file, 'utf8'), file);
}

describe('backups on a bucket with S3 Object Lock', () => {
  let fixture: Fixture;
  let harness: Harness;
  let config: Config;
  let configFile: string;
  let client: S3Client;
  let tree: string;
  const bucket = `lb-lock-${Date.now().toString(36)}`;
  const backups: BackupSummary[] = [];
  let run = 0;
  const queue = () => `${config.temporal.taskQueuePrefix}stockholm`;
  const fullKey = (key: string) => `${fixture.prefix}${key}`;
  const applyRetention = (): Promise<RetentionReport> =>
    harness.client.workflow.execute('applyRetention', { args: [{ source: 'docs' }], workflowId: `test-lock-retention-${fixture.prefix}${run++}`, taskQueue: queue() });
  const cli = (...args: string[]) => execa(lifeboat, ['--config', configFile, '--json', ...args], { reject: false, env: fixture.env });
  const versionsUnder = async (prefix: string) => {
    const page = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: fullKey(prefix) }));
    return [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => v.Key!.slice(fixture.prefix.length));
  };

  beforeAll(async () => {
    client = s3Client(s3);
    await client.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    fixture = await makeFixture(servers, () => ({}));
    tree = join(fixture.dir, 'tree');
    mkdirSync(tree);
    writeFileSync(join(tree, 'a.txt'), 'first file\n');
    configFile = join(fixture.dir, 'locked.yaml');
    config = rewriteConfig(fixture, configFile, (doc) => {
      delete doc.regions.gothenburg;
      doc.regions.stockholm!.storage = { ...doc.regions.stockholm!.storage, bucket, objectLock: { mode: 'governance', minimum: `${MINIMUM_S}s` } };
      // keepLast gives no time: every object is locked for the minimum.
      doc.sources = { docs: { kind: 'files', region: 'stockholm', path: tree, maxIncrements: 0, retention: { keepLast: 1 } } };
    });
    harness = await startHarness(config);
    for (const n of [1, 2]) {
      backups.push(await harness.client.workflow.execute('backupSource', { args: [{ source: 'docs' }], workflowId: `test-lock-backup-${fixture.prefix}${n}`, taskQueue: queue() }));
    }
  });

  afterAll(async () => {
    await harness?.close();
    client?.destroy();
    fixture?.cleanup();
  });

  it('locks every object of a backup taken by the worker until its start plus the computed period', async () => {
    const [first] = backups;
    const storage = createDeps(config).storage('stockholm');
    const objects: string[] = [];
    for await (const object of storage.list(keys.backupPrefix('docs', first!.backupId))) objects.push(object.key);
    expect(objects).toContain(keys.manifest('docs', first!.backupId));
    expect(objects).toContain(first!.key);
    const expected = new Date(backupStart(first!.backupId)!.getTime() + MINIMUM_S * 1000).toISOString();
    for (const key of objects) {
      const { Retention } = await client.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: fullKey(key) }));
      expect({ key, mode: Retention?.Mode, until: Retention?.RetainUntilDate?.toISOString() }).toEqual({ key, mode: 'GOVERNANCE', until: expected });
    }
    expect(await storage.features()).toEqual({ versioning: true, objectLock: true, conditionalWrites: true });
  });

  it('is refused by the server when anyone deletes a locked version or overwrites a locked object', async () => {
    const key = fullKey(backups[0]!.key);
    const { VersionId } = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect(await refusal(client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId })))).toBe('AccessDenied');
    expect(await refusal(client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'forged', IfNoneMatch: '*' })))).toBe('PreconditionFailed');
    const storage = createDeps(config).storage('stockholm');
    await expect(storage.remove(backups[0]!.key)).rejects.toMatchObject({ type: 'Locked', retryable: false });
    await expect(storage.put(backups[0]!.key, Buffer.from('forged'))).rejects.toMatchObject({ type: 'AlreadyExists' });
    expect((await readAll(await storage.get(backups[0]!.key))).length).toBe(backups[0]!.bytes);
  });

  it('retention keeps a backup it would prune while its lock lasts, says so, and fails nothing', async () => {
    const report = await applyRetention();
    const region = report.sources[0]!.regions[0]!;
    expect(report.totals).toMatchObject({ deleted: 0, failed: 0 });
    const held = region.kept.find((item) => item.id === backups[0]!.backupId)!;
    expect(held.reasons.join('; ')).toMatch(/^held by Object Lock until \S+ \(else: kept by no rule \(keepLast 1\)\)$/);
    expect(await createDeps(config).storage('stockholm').stat(keys.manifest('docs', backups[0]!.backupId))).toBeDefined();
  });

  it('refuses a deletion that races a lock with Locked, before anything of the backup changes', async () => {
    const id = backups[0]!.backupId;
    const storage = createDeps(config).storage('stockholm');
    await expect(deleteBackupCopy(storage, testSigner, 'docs', id)).rejects.toMatchObject({ type: 'Locked', retryable: false, message: expect.stringContaining('held by Object Lock until') });
    expect(await storage.stat(keys.manifest('docs', id))).toBeDefined();
    expect(await storage.stat(keys.tombstone('docs', id))).toBeUndefined();
  });

  it('verifies and restores a backup on the locked bucket', async () => {
    const verified: VerifyResult = await harness.client.workflow.execute('verifyRestore', {
      args: [{ source: 'docs', level: 'integrity', backupId: backups[1]!.backupId }], workflowId: `test-lock-verify-${fixture.prefix}`, taskQueue: queue(),
    });
    expect(verified.outcome).toBe('passed');
    const target = mkdtempSync(join(tmpdir(), 'lifeboat-lock-restore-'));
    try {
      const restored: RestoreResult = await harness.client.workflow.execute('restoreBackup', {
        args: [{ source: 'docs', region: 'stockholm', backupId: 'latest', target, clean: false, noOwner: false }], workflowId: `test-lock-restore-${fixture.prefix}`, taskQueue: queue(),
      });
      expect(restored.backupId).toBe(backups[1]!.backupId);
      expect(readFileSync(join(target, 'a.txt'), 'utf8')).toBe('first file\n');
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  });

  it('a legal hold keeps a backup after its lock expires, and once released retention deletes every version of it', async () => {
    const id = backups[0]!.backupId;
    const hold = await cli('backups', 'hold', id);
    expect(hold.exitCode, hold.stderr).toBe(0);
    expect(JSON.parse(hold.stdout)).toEqual([{ region: 'stockholm', source: 'docs', objects: expect.any(Number) }]);
    // Past the retain-until date only the legal hold is left.
    const expires = backupStart(id)!.getTime() + MINIMUM_S * 1000 + 1500;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expires - Date.now())));
    const heldReport = await applyRetention();
    expect(heldReport.totals).toMatchObject({ deleted: 0, failed: 0 });
    expect(heldReport.sources[0]!.regions[0]!.kept.find((item) => item.id === id)!.reasons[0]).toMatch(/^held by legal hold \(else:/);

    const release = await cli('backups', 'hold', id, '--release');
    expect(release.exitCode, release.stderr).toBe(0);
    const report = await applyRetention();
    expect(report.totals).toMatchObject({ deleted: 1, failed: 0 });
    // A delete marker would free nothing: only the tombstone retention writes (and its signature) is left.
    expect((await versionsUnder(keys.backupPrefix('docs', id))).sort()).toEqual([keys.tombstone('docs', id), `${keys.tombstone('docs', id)}.sig`]);
    expect(await versionsUnder(keys.backupPrefix('docs', backups[1]!.backupId))).toContain(keys.manifest('docs', backups[1]!.backupId));
  }, 60_000);

  it('retention extends the lock of a backup a longer-lived tier keeps, to when that tier releases it', async () => {
    // The same bucket under weekly rules: the newest backup is the week's keeper for 2 weeks.
    const weekly = rewriteConfig(fixture, join(fixture.dir, 'weekly.yaml'), (doc) => {
      delete doc.regions.gothenburg;
      doc.regions.stockholm!.storage = { ...doc.regions.stockholm!.storage, bucket, objectLock: { mode: 'governance', minimum: `${MINIMUM_S}s` } };
      doc.sources = { docs: { kind: 'files', region: 'stockholm', path: tree, maxIncrements: 0, retention: { daily: 1, weekly: 2 } } };
    });
    const activities = retentionActivities(createDeps(weekly));
    const work = await new MockActivityEnvironment().run(activities.planRetention, { source: 'docs', dryRun: false, now: new Date().toISOString() }) as RetentionWork;
    const newest = backups[1]!;
    const { manifest } = await findBackup(createDeps(weekly).storage('stockholm'), trusted, 'docs', newest.backupId);
    const until = new Date(Date.parse(manifest.finishedAt) + 14 * 86_400_000).toISOString();
    expect(work.extendLocks).toEqual([{ source: 'docs', region: 'stockholm', id: newest.backupId, until }]);
    const { objects } = await activities.extendLock(work.extendLocks[0]!);
    const storage = createDeps(weekly).storage('stockholm');
    const keysOfNewest: string[] = [];
    for await (const object of storage.list(keys.backupPrefix('docs', newest.backupId))) keysOfNewest.push(object.key);
    expect(objects).toBe(keysOfNewest.length);
    for (const key of keysOfNewest) {
      const { Retention } = await client.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: fullKey(key) }));
      // S3 keeps the date to the second.
      expect({ key, off: Math.abs(Retention!.RetainUntilDate!.getTime() - Date.parse(until)) < 1000 }).toEqual({ key, off: true });
    }
  });

  it('doctor passes the locked bucket, fails a bucket without Object Lock, and warns where no lock is configured', async () => {
    const doctorFile = join(fixture.dir, 'doctor.yaml');
    rewriteConfig(fixture, doctorFile, (doc) => {
      doc.regions.stockholm!.storage = { ...doc.regions.stockholm!.storage, bucket, objectLock: { mode: 'compliance' } };
      doc.regions.gothenburg!.storage = { ...doc.regions.gothenburg!.storage, objectLock: { mode: 'governance' } };
      doc.regions.malmo = { storage: { ...doc.regions.stockholm!.storage, bucket: s3.bucket, objectLock: undefined } };
      doc.sources = {};
    });
    const { stdout, exitCode } = await execa(lifeboat, ['--config', doctorFile, '--json', 'doctor'], { reject: false, env: fixture.env });
    expect(exitCode).not.toBe(0);
    const checks = (JSON.parse(stdout) as { checks: Array<{ check: string; ok: boolean; warn?: boolean; detail: string }> }).checks;
    const check = (name: string) => checks.find((c) => c.check === name)!;
    expect(check('immutability stockholm')).toMatchObject({ ok: true, detail: expect.stringContaining('Object Lock and versioning enabled') });
    expect(check('immutability gothenburg')).toMatchObject({ ok: false, detail: expect.stringContaining('--object-lock-enabled-for-bucket') });
    expect(check('immutability malmo')).toMatchObject({ ok: true, warn: true, detail: expect.stringContaining('anyone with the bucket\'s write credentials can delete backups') });
  });
});
