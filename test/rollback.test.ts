import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { readManifest } from '../activities/catalog';
import { createDeps, type Deps } from '../activities/deps';
import { scanHeads } from '../activities/heads';
import { checkSource, completedRuns, rollbackActivities, type RollbackReport } from '../activities/rollback';
import { putSigned } from '../activities/signed';
import { deleteBackupCopy } from '../activities/prune';
import type { StorageBackend } from '../activities/storage/backend';
import { doctorCommand } from '../client/commands/doctor';
import { statusCommand, statusText, type StatusReport } from '../client/commands/status';
import type { Output } from '../client/output';
import { connectClient } from '../client/temporal';
import { LifeboatError } from '../lib/errors';
import type { Alert } from '../lib/alerts';
import { HEAD_FORMAT, keys } from '../lib/manifest';
import { signatureKey, signerFromPem } from '../lib/signing';
import type { BackupSummary } from '../workflows/backup-source';
import type { ObjectivesResult } from '../workflows/check-objectives';
import { makeFixture, type Fixture } from './support/fixture';
import { startReceiver, type Receiver } from './support/receiver';
import { runBackup, runRestore } from './support/runs';
import { testSigner, trusted } from './support/signing';
import { keysIn } from './support/sync';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');

/** What a command printed with --json. */
async function captured<T>(command: (out: Output) => Promise<void>): Promise<T> {
  let value: unknown;
  await command({ json: true, result: (result) => { value = result; }, note: () => {} });
  return value as T;
}

// One fixture, one source per attack, so each test reads only what it changed. Backups are of a
// one-file tree: what is checked is the catalog, not the data.
const counts = { lost: 3, replayed: 2, forged: 1, pruned: 2 } as const;
type Name = keyof typeof counts;

describe('rollback and deletion detection against Temporal\'s completed backups', () => {
  let receiver: Receiver;
  let fixture: Fixture;
  let harness: Harness;
  let deps: Deps;
  let storage: StorageBackend;
  let tree: string;
  const backups = {} as Record<Name, BackupSummary[]>;

  const backUp = async (source: Name) => {
    const summary = await runBackup(harness.client, fixture.config, source);
    backups[source].push(summary);
    return summary;
  };
  /** The cross-check once Temporal's visibility store lists every completed run (it lags a moment behind). */
  const check = (source: Name, runs: number) => vi.waitFor(async () => {
    const report = await checkSource(harness.client, deps, source);
    expect(report.runs).toBe(runs);
    return report;
  }, { timeout: 20_000, interval: 250 });
  const alerts = (from: number) => receiver.requests.slice(from).map((r) => JSON.parse(r.body) as Alert);
  const checkObjectives = (): Promise<ObjectivesResult> => harness.client.workflow.execute('checkObjectives', {
    args: [{}], workflowId: `test-rollback-objectives-${Date.now()}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
  });

  beforeAll(async () => {
    receiver = await startReceiver();
    tree = mkdtempSync(join(tmpdir(), 'lifeboat-rollback-'));
    writeFileSync(join(tree, 'a.txt'), 'one small file\n');
    const files = { kind: 'files', region: 'stockholm', path: tree, maxIncrements: 0 };
    fixture = await makeFixture(servers, () => Object.fromEntries(Object.keys(counts).map((name) => [name, files])), {
      alerts: { channels: [{ type: 'webhook', url: `${receiver.url}/hook` }] },
      objectives: { rpo: '1h', rto: '4h' },
      sync: { afterBackup: false },
    });
    deps = createDeps(fixture.config);
    storage = deps.storage('stockholm');
    harness = await startHarness(fixture.config);
    await Promise.all((Object.entries(counts) as Array<[Name, number]>).map(async ([source, count]) => {
      backups[source] = [];
      for (let i = 0; i < count; i += 1) await backUp(source);
    }));
  }, 180_000);

  afterAll(async () => {
    await harness?.close();
    await receiver?.close();
    fixture?.cleanup();
    rmSync(tree, { recursive: true, force: true });
  });

  it('records a signed head per backup, numbered from 1 and chained, whose sequence the run\'s result and memo carry', async () => {
    expect(backups.lost.map((b) => b.headSequence)).toEqual([1, 2, 3]);
    const { heads, untrusted } = await scanHeads(storage, trusted, 'lost', 10);
    expect(untrusted).toEqual([]);
    expect(heads.map(({ head }) => [head.sequence, head.backupId])).toEqual(backups.lost.map((b, i) => [i + 1, b.backupId]));
    expect(heads[1]!.head.previousHeadSha256).toBe(heads[0]!.sha256);
    const newest = await readManifest(storage, trusted, keys.manifest('lost', backups.lost[2]!.backupId));
    expect(heads[2]!.head).toMatchObject({ format: HEAD_FORMAT, source: 'lost', manifestSha256: newest.manifestSha256, finishedAt: newest.manifest.finishedAt });
    await vi.waitFor(async () => {
      expect((await completedRuns(harness.client, fixture.config, 'lost')).map((r) => [r.backupId, r.headSequence]).sort())
        .toEqual(backups.lost.map((b) => [b.backupId, b.headSequence]));
    }, { timeout: 20_000, interval: 250 });
  });

  it('writes no second head when the activity is retried for the same backup', async () => {
    const before = await keysIn(storage, keys.headPrefix('lost'));
    const again = await rollbackActivities(deps).writeHead({ source: 'lost', backupId: backups.lost[2]!.backupId });
    expect(again).toEqual({ sequence: 3, key: keys.head('lost', 3) });
    expect(await keysIn(storage, keys.headPrefix('lost'))).toEqual(before);
  });

  it('a deleted newest backup shows in status and doctor, raises one catalog-rollback alert, and restore --latest takes the older one', async () => {
    const [, second, third] = backups.lost as [BackupSummary, BackupSummary, BackupSummary];
    await check('lost', 3);
    // What someone with delete rights on the bucket does: manifest, signature and data, no tombstone.
    for (const key of await keysIn(storage, keys.backupPrefix('lost', third.backupId))) await storage.remove(key);

    // In process, as the CLI runs them: a second tsx start costs more than the check itself.
    const report = await captured<StatusReport>((out) => statusCommand(fixture.config, () => connectClient(fixture.config), out));
    const lost = report.sources.find((s) => s.source === 'lost')!;
    expect(lost.newest?.id).toBe(second.backupId);
    expect(lost.rollback).toMatchObject({ status: 'ROLLBACK', runs: 3, heads: 3, newestHead: 3 });
    expect(lost.rollback!.findings).toEqual([
      expect.objectContaining({ kind: 'backup-missing', backupId: third.backupId, newest: true }),
      { kind: 'head-names-missing-backup', sequence: 3, backupId: third.backupId },
    ]);
    expect(report.sources.find((s) => s.source === 'forged')!.rollback!.status).toBe('ok');
    expect(statusText(report)).toMatch(new RegExp(`ROLLBACK[^\\n]*\\n {2}lost {2}newest backup missing: ${third.backupId}`));

    let failure: unknown;
    const { checks } = await captured<{ checks: Array<{ check: string; ok: boolean; detail: string }> }>((out) => doctorCommand(fixture.config, fixture.configFile, out).catch((error: unknown) => {
      failure = error;
    }));
    expect(checks.find((c) => c.check === 'catalog lost')).toMatchObject({ ok: false, detail: expect.stringContaining(`newest backup missing: ${third.backupId}`) });
    expect(checks.find((c) => c.check === 'catalog forged')).toMatchObject({ ok: true, detail: expect.stringMatching(/^1 completed backup run\(s\) and 1 head record\(s\) agree/) });
    expect(failure).toBeInstanceOf(LifeboatError);
    expect((failure as LifeboatError).message).toContain('catalog lost');

    const before = receiver.requests.length;
    expect((await checkObjectives()).rollback).toContain('lost');
    const raised = alerts(before).filter((a) => a.kind === 'catalog-rollback' && a.source === 'lost');
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({
      severity: 'critical', region: 'stockholm', title: expect.stringMatching(new RegExp(`^lost: newest backup missing: ${third.backupId} \\(run `)) as string,
      details: { missingBackupId: third.backupId, newestHead: 3 },
    });

    // Restore still works from what is left; the alert and status are what say it is not the newest.
    const target = join(fixture.dir, 'restored-lost');
    expect((await runRestore(harness.client, fixture.config, { source: 'lost', target })).backupId).toBe(second.backupId);
    expect(readFileSync(join(target, 'a.txt'), 'utf8')).toBe('one small file\n');
  }, 120_000);

  it('a replayed old head (the newest head deleted) is a head gone backwards, and stays visible after the next backup', async () => {
    expect(backups.replayed.map((b) => b.headSequence)).toEqual([1, 2]);
    for (const key of [keys.head('replayed', 2), signatureKey(keys.head('replayed', 2))]) await storage.remove(key);
    const report: RollbackReport = await check('replayed', 2);
    expect(report.findings).toEqual([{ kind: 'head-backwards', temporalSequence: 2, bucketSequence: 1, runId: expect.any(String) as string }]);
    // The next backup numbers from what the bucket holds; Temporal has now seen sequence 2 twice.
    expect((await backUp('replayed')).headSequence).toBe(2);
    const after = await check('replayed', 3);
    expect(after.findings).toEqual([expect.objectContaining({ kind: 'head-reused', sequence: 2 })]);
  }, 60_000);

  it('ignores forged heads (unsigned, signed by an unknown key, or stored under another sequence) and alerts them as untrusted', async () => {
    const forged = (sequence: number) => Buffer.from(JSON.stringify({
      format: HEAD_FORMAT, source: 'forged', sequence, backupId: 'planted', manifestSha256: '0'.repeat(64), finishedAt: new Date().toISOString(), previousHeadSha256: null,
    }));
    const stranger = signerFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'a stranger\'s key');
    await storage.put(keys.head('forged', 2), forged(2));
    await putSigned(storage, keys.head('forged', 3), forged(4), testSigner);
    await putSigned(storage, keys.head('forged', 5), forged(5), stranger);
    const report = await check('forged', 1);
    expect(report).toMatchObject({ heads: 1, newestHead: 1, findings: [] });
    expect(report.untrustedHeads.map((item) => item.key)).toEqual([5, 3, 2].map((n) => keys.head('forged', n)));
    expect(report.untrustedHeads[1]!.reason).toBe(`it says it is head 4 of forged but is stored at ${keys.head('forged', 3)}`);

    const before = receiver.requests.length;
    const result = await checkObjectives();
    expect(result.rollback).not.toContain('forged');
    const untrusted = alerts(before).filter((a) => a.kind === 'untrusted' && a.source === 'forged');
    expect(untrusted).toHaveLength(1);
    expect(untrusted[0]!.text).toContain(keys.head('forged', 5));
  }, 60_000);

  it('does not take a backup retention deleted (its tombstone signed) for a rollback', async () => {
    await deleteBackupCopy(storage, testSigner, 'pruned', backups.pruned[0]!.backupId);
    const report = await check('pruned', 2);
    expect(report).toMatchObject({ heads: 2, newestHead: 2, findings: [] });
  });
});
