import { trusted } from './support/signing';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { verify } from '../activities/notify/signature';
import type { Alert } from '../lib/alerts';
import type { ObjectivesResult } from '../workflows/check-objectives';
import { makeFixture, type Fixture } from './support/fixture';
import { startReceiver, type ReceivedRequest, type Receiver } from './support/receiver';
import { runBackup } from './support/runs';
import { registerSecret } from './support/secret-scan';
import { failureOf, startHarness, type Harness } from './support/workers';

const servers = inject('servers');

// The paths stand for the token Slack puts in its webhook URLs: they must never leave the worker.
const slackPath = '/a/services/T000/B000/SLACKTOKENPATH';
const hookPath = '/a/hook/HOOKTOKENPATH';
const signingKey = `key-${randomBytes(8).toString('hex')}`;

const alertsIn = (requests: ReceivedRequest[], path: string) => requests.filter((r) => r.path === path);
const jsonAlerts = (requests: ReceivedRequest[]) => alertsIn(requests, hookPath).map((r) => JSON.parse(r.body) as Alert);

describe('alerts from backupSource and checkObjectives', () => {
  let receiver: Receiver;
  let fixture: Fixture;
  let harness: Harness;
  let tree: string;

  beforeAll(async () => {
    // The secret scan (test/zz-secret-scan.test.ts) looks for these in everything the run leaves.
    registerSecret(servers, 'webhook key', signingKey);
    registerSecret(servers, 'Slack webhook token', slackPath);
    receiver = await startReceiver();
    tree = mkdtempSync(join(tmpdir(), 'lifeboat-alerts-'));
    writeFileSync(join(tree, 'a.bin'), randomBytes(200_000));
    const tag = randomBytes(4).toString('hex');
    const env = { [`SLACK_URL_${tag}`]: `${receiver.url}${slackPath}`, [`HOOK_URL_${tag}`]: `${receiver.url}${hookPath}`, [`HOOK_KEY_${tag}`]: signingKey };
    Object.assign(process.env, env);
    fixture = await makeFixture(servers, (ctx) => ({
      'down-db': { ...ctx.postgres('nowhere'), url: 'postgres://nobody@127.0.0.1:1/nowhere' },
      docs: { kind: 'files', region: 'stockholm', path: tree, maxIncrements: 0 },
      fresh: { kind: 'files', region: 'stockholm', path: tree, maxIncrements: 0 },
      never: { kind: 'files', region: 'stockholm', path: '/nonexistent' },
    }), {
      alerts: {
        channels: [{ type: 'slack', urlEnv: `SLACK_URL_${tag}` }, { type: 'webhook', urlEnv: `HOOK_URL_${tag}`, secretEnv: `HOOK_KEY_${tag}` }],
        successDigest: true,
        sizeChangePercent: 50,
      },
      objectives: { rpo: '1h', rto: '4h' },
      sync: { afterBackup: false },
    });
    harness = await startHarness(fixture.config);
  });

  afterAll(async () => {
    await harness?.close();
    await receiver?.close();
    fixture?.cleanup();
    rmSync(tree, { recursive: true, force: true });
  });

  it('delivers backup-failed with the failure type to the Slack webhook and to the JSON webhook', async () => {
    const before = receiver.requests.length;
    const failure = await failureOf(runBackup(harness.client, fixture.config, 'down-db'));
    expect(failure.type).toBe('SourceUnreachable');
    const got = receiver.requests.slice(before);

    const slack = alertsIn(got, slackPath);
    expect(slack).toHaveLength(1);
    const message = JSON.parse(slack[0]!.body) as { text: string };
    expect(message.text).toContain('down-db: backup failed (SourceUnreachable)');

    const [alert, ...more] = jsonAlerts(got);
    expect(more).toEqual([]);
    expect(alert).toMatchObject({ kind: 'backup-failed', severity: 'critical', source: 'down-db', region: 'stockholm', details: { failureType: 'SourceUnreachable' } });
    expect(alert!.workflowId).toMatch(/^test-backup-down-db-/);
    expect(Date.parse(alert!.at)).toBeGreaterThan(Date.now() - 120_000);
  });

  it('signs the JSON webhook so that the signature verifies with the key and fails with another', () => {
    const request = alertsIn(receiver.requests, hookPath).at(-1)!;
    const headers = { timestamp: request.headers['x-lifeboat-timestamp'], signature: request.headers['x-lifeboat-signature'] };
    const now = Math.floor(Date.now() / 1000);
    expect(headers.signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verify(signingKey, headers, request.body, now)).toBe(true);
    expect(verify('another key', headers, request.body, now)).toBe(false);
    // A replay an hour later, or with the body changed, is refused.
    expect(verify(signingKey, headers, request.body, now + 3600)).toBe(false);
    expect(verify(signingKey, headers, request.body.replace('down-db', 'up-db'), now)).toBe(false);
    expect(alertsIn(receiver.requests, slackPath).at(-1)!.headers['x-lifeboat-signature']).toBeUndefined();
  });

  it('keeps webhook URLs and the signing key out of the workflow history', async () => {
    const runs = harness.client.workflow.list({ query: `WorkflowType = 'backupSource' AND TaskQueue = '${fixture.config.temporal.taskQueuePrefix}stockholm'` });
    let checked = 0;
    for await (const run of runs) {
      const history = JSON.stringify(await harness.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory());
      for (const secret of ['SLACKTOKENPATH', 'HOOKTOKENPATH', signingKey]) expect(history).not.toContain(secret);
      checked += 1;
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('reports each successful backup when successDigest is on', async () => {
    const before = receiver.requests.length;
    const summary = await runBackup(harness.client, fixture.config, 'docs');
    const got = receiver.requests.slice(before);
    expect(jsonAlerts(got).map((a) => a.kind)).toEqual(['backup-succeeded']);
    expect(jsonAlerts(got)[0]).toMatchObject({ source: 'docs', details: { backupId: summary.backupId, bytes: summary.bytes } });
    expect(alertsIn(got, slackPath)).toHaveLength(1);
  });

  it('warns when a backup is more than sizeChangePercent larger than the previous one', async () => {
    appendFileSync(join(tree, 'a.bin'), randomBytes(400_000));
    const before = receiver.requests.length;
    const summary = await runBackup(harness.client, fixture.config, 'docs');
    const change = jsonAlerts(receiver.requests.slice(before)).find((a) => a.kind === 'size-change');
    // Sizes are what the manifests record for all of a backup's objects.
    const manifests = (await listBackups(createDeps(fixture.config).storage('stockholm'), trusted, 'docs')).map((e) => e.manifest);
    const [previous, current] = manifests.slice(-2).map((m) => m.objects.reduce((sum, o) => sum + o.size, 0));
    expect(change).toMatchObject({ severity: 'warning', source: 'docs', details: { backupId: summary.backupId, bytes: current, previousBytes: previous } });
    expect(change!.details!.percent).toBe(Math.round(((current! - previous!) / previous!) * 1000) / 10);
    expect(change!.details!.percent as number).toBeGreaterThan(150);
  });

  it('does not warn about a size within the threshold', async () => {
    appendFileSync(join(tree, 'b.bin'), randomBytes(1000));
    const before = receiver.requests.length;
    await runBackup(harness.client, fixture.config, 'docs');
    expect(jsonAlerts(receiver.requests.slice(before)).map((a) => a.kind)).toEqual(['backup-succeeded']);
  });

  it('delivers exactly once to a receiver that answers 500 twice, then 200, retried by Temporal', async () => {
    receiver.answer(hookPath, 500, 500, 200);
    const before = receiver.requests.length;
    await runBackup(harness.client, fixture.config, 'fresh');
    const hook = alertsIn(receiver.requests.slice(before), hookPath);
    expect(hook.map((r) => r.status)).toEqual([500, 500, 200]);
    // The same delivery id on every attempt, so a receiver can tell a retry from a new alert.
    expect(new Set(hook.map((r) => r.headers['x-lifeboat-delivery'])).size).toBe(1);
    // The Slack channel took it the first time and is not sent to again.
    expect(alertsIn(receiver.requests.slice(before), slackPath).map((r) => r.status)).toEqual([200]);
  });

  it('does not retry an alert the receiver refuses with 400', async () => {
    receiver.answer(hookPath, 400);
    const before = receiver.requests.length;
    await runBackup(harness.client, fixture.config, 'fresh');
    expect(alertsIn(receiver.requests.slice(before), hookPath).map((r) => r.status)).toEqual([400]);
  });

  it('finishes the backup when no channel can take the alert', async () => {
    receiver.answer(hookPath, 503);
    receiver.answer(slackPath, 404);
    const before = receiver.requests.length;
    const summary = await runBackup(harness.client, fixture.config, 'fresh');
    expect(summary.bytes).toBeGreaterThan(0);
    const got = receiver.requests.slice(before);
    // 503 is retried up to the attempt limit, then given up; 404 is given up at once.
    expect(alertsIn(got, hookPath).map((r) => r.status)).toEqual([503, 503, 503, 503, 503]);
    expect(alertsIn(got, slackPath).map((r) => r.status)).toEqual([404]);
    receiver.answer(hookPath, 200);
    receiver.answer(slackPath, 200);
  }, 180_000);

  it('raises rpo-missed for sources with no backup within the RPO and not for a fresh one', async () => {
    const before = receiver.requests.length;
    const result: ObjectivesResult = await harness.client.workflow.execute('checkObjectives', {
      args: [{}], workflowId: `test-objectives-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
    expect(result.missed.sort()).toEqual(['down-db', 'never']);
    const alerts = jsonAlerts(receiver.requests.slice(before));
    expect(alerts.map((a) => `${a.kind} ${a.source}`).sort()).toEqual(['rpo-missed down-db', 'rpo-missed never']);
    expect(alerts[0]).toMatchObject({ severity: 'critical', details: { rpoSeconds: 3600, newestBackupId: null } });
  });
});

describe('alerts with successDigest off', () => {
  let receiver: Receiver;
  let fixture: Fixture;
  let harness: Harness;
  let tree: string;

  beforeAll(async () => {
    receiver = await startReceiver();
    tree = mkdtempSync(join(tmpdir(), 'lifeboat-alerts-'));
    writeFileSync(join(tree, 'a.txt'), 'hello');
    fixture = await makeFixture(servers, () => ({
      quiet: { kind: 'files', region: 'stockholm', path: tree },
      broken: { kind: 'files', region: 'stockholm', path: join(tree, 'gone') },
    }), {
      alerts: { channels: [{ type: 'webhook', url: `${receiver.url}/plain` }] },
      sync: { afterBackup: false },
    });
    harness = await startHarness(fixture.config);
  });

  afterAll(async () => {
    await harness?.close();
    await receiver?.close();
    fixture?.cleanup();
    rmSync(tree, { recursive: true, force: true });
  });

  it('sends nothing for a successful backup, and an unsigned alert for a failed one', async () => {
    await runBackup(harness.client, fixture.config, 'quiet');
    expect(receiver.requests).toEqual([]);
    await failureOf(runBackup(harness.client, fixture.config, 'broken'));
    expect(receiver.requests.map((r) => (JSON.parse(r.body) as Alert).kind)).toEqual(['backup-failed']);
    expect(receiver.requests[0]!.headers['x-lifeboat-signature']).toBeUndefined();
  });
});
