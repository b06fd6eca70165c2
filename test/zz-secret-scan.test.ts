import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createNoiseDatabase } from '../scripts/sample-db';
import { makeFixture, type Fixture } from './support/fixture';
import { startReceiver, type Receiver } from './support/receiver';
import { runBackup } from './support/runs';
import {
  historyText, knownSecrets, registerSecret, sampleProcesses, scanBuckets, scanFiles, scanTemporal, scanText, workerLogDir, type Finding, type ProcessSample,
} from './support/secret-scan';
import { failureOf, startHarness, type Harness } from './support/workers';
import { decrypted } from './support/codec';

// Runs after every other test file (test/harness/sequencer.ts): it reads what the whole run left.
// Run alone, it scans what it ran itself.

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

describe('the secret scan', () => {
  let fixture: Fixture;
  let harness: Harness;
  let receiver: Receiver;
  let samples: ProcessSample[] = [];
  const hookKey = `hook-key-${randomBytes(12).toString('hex')}`;
  const hookToken = `HOOKTOKEN${randomBytes(8).toString('hex')}`;
  const queryPassword = `query-password-${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    registerSecret(servers, 'webhook key', hookKey);
    registerSecret(servers, 'webhook URL token', hookToken);
    registerSecret(servers, '?password= value', queryPassword);
    receiver = await startReceiver();
    await createNoiseDatabase(pg, 'secret_scan', 10_000);
    const tag = randomBytes(4).toString('hex');
    Object.assign(process.env, { [`SCAN_HOOK_URL_${tag}`]: `${receiver.url}/hooks/${hookToken}`, [`SCAN_HOOK_KEY_${tag}`]: hookKey });
    fixture = await makeFixture(servers, (ctx) => ({
      'scan-db': ctx.postgres('secret_scan'),
      'scan-down': { ...ctx.postgres('nowhere'), url: `postgres://${servers.postgres.user}@127.0.0.1:1/nowhere` },
    }), {
      alerts: { channels: [{ type: 'webhook', urlEnv: `SCAN_HOOK_URL_${tag}`, secretEnv: `SCAN_HOOK_KEY_${tag}` }] },
      // Slow enough (level 12, one thread) that pg_dump, zstd and age are seen by the sampler many times.
      compression: { level: 12, threads: 1 },
    });
    harness = await startHarness(fixture.config);
  });

  afterAll(async () => {
    await harness?.close();
    await receiver?.close();
    fixture?.cleanup();
  });

  it('finds a secret deliberately leaked into a real workflow history, a log line and a manifest, and an age identity', async () => {
    const canary = `canary-${randomBytes(12).toString('hex')}`;
    const secrets = [{ label: 'canary', value: canary }];
    // No worker polls this queue: the started event alone holds the leaked input.
    const handle = await harness.client.workflow.start('backupSource', { args: [{ source: `postgres://u@h/db?password=${canary}` }], workflowId: `secret-scan-canary-${process.pid}-${Date.now()}`, taskQueue: `secret-scan-canary-${process.pid}` });
    try {
      const raw = await handle.fetchHistory();
      // Payload bytes are a Uint8Array: plain JSON.stringify writes them as numbers and would hide any leak.
      expect(JSON.stringify(raw)).not.toContain(`password=${canary}`);
      // Encrypted on the server; the scan reads histories as whoever holds the codec key would.
      expect(scanText('raw history', historyText(raw), secrets)).toEqual([]);
      expect(scanText('history', historyText(await decrypted(harness.client, raw)), secrets)).toEqual([
        expect.objectContaining({ where: 'history', secret: 'canary', context: expect.stringContaining('?password=<canary>') }),
      ]);
    } finally {
      await handle.terminate('secret scan canary');
    }
    expect(scanText('log', `2026-11-28 WARN Activity failed: cannot connect to postgres://u@h/db?password=${canary}`, secrets)).toHaveLength(1);
    expect(scanText('manifest', JSON.stringify({ description: { url: `x${canary}x` } }), secrets)).toHaveLength(1);
    expect(scanText('identity', readFileSync(fixture.key.identityFile, 'utf8'), knownSecrets(servers)).map((f) => f.secret)).toEqual(['age identity']);
    expect(scanText('clean', 'nothing to see here', [...secrets, ...knownSecrets(servers)])).toEqual([]);
  });

  it('takes a backup of a source with a password while sampling ps: no secret on any command line, no S3 key in any tool\'s environment', async () => {
    const sampler = sampleProcesses(100);
    let summary: Awaited<ReturnType<typeof runBackup>>;
    try {
      summary = await runBackup(harness.client, fixture.config, 'scan-db');
    } finally {
      samples = await sampler.stop();
    }
    expect(summary.bytes).toBeGreaterThan(5_000_000);
    const seen = new Set(samples.filter((s) => s.environ !== undefined).map((s) => s.command));
    // The sampler saw the tools it is meant to watch, so the findings below are not empty by accident.
    expect([...seen]).toEqual(expect.arrayContaining(['pg_dump', 'zstd', 'age']));
    const secrets = knownSecrets(servers);
    const argv = samples.flatMap((s) => scanText(`argv of ${s.command} (pid ${s.pid})`, s.args, secrets));
    expect(argv).toEqual([]);
    // pg_dump is given PGPASSWORD on purpose; nothing else may hold a secret.
    const environ = samples.filter((s) => s.environ !== undefined).flatMap((s) => scanText(`environment of ${s.command} (pid ${s.pid})`, s.environ!,
      s.command === 'pg_dump' ? secrets.filter((secret) => secret.label !== 'database password') : secrets));
    expect(environ).toEqual([]);
  });

  it('sends a signed alert when a backup fails, and refuses a ?password= URL at the CLI, so both secrets have passed through the run', async () => {
    const failure = await failureOf(runBackup(harness.client, fixture.config, 'scan-down'));
    expect(failure.type).toBe('SourceUnreachable');
    await expect.poll(() => receiver.requests.filter((r) => r.path === `/hooks/${hookToken}`).length, { timeout: 30_000 }).toBeGreaterThan(0);
    const refused = await execa(lifeboat, ['--config', fixture.configFile, 'restore', 'scan-db', '--latest', '--to', `postgres://postgres@127.0.0.1:${pg.port}/x?password=${queryPassword}`], { env: fixture.env, reject: false });
    expect(refused.exitCode).toBe(2);
    expect(`${refused.stdout}${refused.stderr}`).not.toContain(queryPassword);
  });

  it('finds none of the known secrets in any workflow history, worker log, manifest or process sample of the run', async () => {
    const secrets = knownSecrets(servers);
    expect(secrets.map((s) => s.label)).toEqual(expect.arrayContaining(['database password', 'S3 secret key of stockholm', 'age identity', 'webhook key', '?password= value', 'payload codec key']));
    const temporal = await scanTemporal(harness.client, secrets);
    const buckets = await scanBuckets(servers, secrets);
    const logs = scanFiles(workerLogDir(servers), secrets);
    const processes = samples.flatMap((s) => scanText(`argv of ${s.command} (pid ${s.pid})`, s.args, secrets));
    const findings: Finding[] = [...temporal.findings, ...buckets.findings, ...logs.findings, ...processes];
    console.log(`secret scan: ${temporal.executions} workflow histories, ${buckets.objects} JSON objects in ${Object.keys(servers.s3).length} buckets, ${logs.files} worker logs, ${samples.length} process samples; ${findings.length} findings`);
    expect(temporal.executions).toBeGreaterThan(2);
    expect(buckets.objects).toBeGreaterThan(0);
    expect(logs.files).toBeGreaterThan(0);
    expect(findings).toEqual([]);
  }, 600_000);
});
