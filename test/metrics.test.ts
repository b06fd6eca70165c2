import { trusted } from './support/signing';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { freePorts } from './harness/ports';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { startReceiver, type Receiver } from './support/receiver';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';
import { failureOf } from './support/workers';
import { dataConverterOf } from '../lib/codec/data-converter';

const servers = inject('servers');

/** The value of one series in Prometheus text, matched on the labels given (others may be present). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** Scrapes until `ready` holds: the catalog gauges follow the catalogs every catalogInterval. */
async function scrapeUntil(url: string, ready: (text: string) => boolean, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    try {
      text = await scrape(url);
      if (ready(text)) return text;
    } catch {
      // the worker is still starting
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return text;
}

describe('the worker\'s /metrics endpoint', () => {
  let fixture: Fixture;
  let worker: WorkerProcess;
  let client: Client;
  let connection: Connection;
  let url: string;
  let tree: string;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    tree = mkdtempSync(join(tmpdir(), 'lifeboat-metrics-'));
    writeFileSync(join(tree, 'a.bin'), randomBytes(300_000));
    const [port] = await freePorts(1);
    url = `http://127.0.0.1:${port}/metrics`;
    fixture = await makeFixture(servers, (ctx) => ({
      docs: { kind: 'files', region: 'stockholm', path: tree },
      'down-db': { ...ctx.postgres('nowhere'), url: 'postgres://nobody@127.0.0.1:1/nowhere' },
    }), {
      metrics: { port, catalogInterval: '1s' },
      alerts: { channels: [{ type: 'webhook', url: `${receiver.url}/hook` }] },
      objectives: { rpo: '6h', rto: '4h' },
      sync: { afterBackup: false },
    });
    worker = startWorkerProcess(fixture.configFile, fixture.env);
    connection = await Connection.connect({ address: fixture.config.temporal.address });
    client = new Client({ connection, namespace: fixture.config.temporal.namespace, dataConverter: dataConverterOf(fixture.config) });
    const first = await scrapeUntil(url, (text) => text.includes('lifeboat_catalog_up'), 90_000);
    expect(first, worker.output()).toContain('lifeboat_catalog_up');
  });

  afterAll(async () => {
    await worker?.stop();
    await connection?.close();
    await receiver?.close();
    fixture?.cleanup();
    rmSync(tree, { recursive: true, force: true });
  });

  it('reports stored bytes, last success time and duration from the catalog after a backup', async () => {
    const summary = await runBackup(client, fixture.config, 'docs');
    const [entry] = await listBackups(createDeps(fixture.config).storage('stockholm'), trusted, 'docs');
    const manifest = entry!.manifest;
    expect(manifest.id).toBe(summary.backupId);
    const stored = manifest.objects.reduce((sum, o) => sum + o.size, 0);
    const labels = { source: 'docs', region: 'stockholm' };
    const text = await scrapeUntil(url, (t) => sample(t, 'lifeboat_backups', labels) === 1);
    expect(sample(text, 'lifeboat_backup_stored_bytes', labels)).toBe(stored);
    expect(sample(text, 'lifeboat_backup_last_size_bytes', labels)).toBe(stored);
    expect(sample(text, 'lifeboat_backup_last_success_timestamp_seconds', labels)).toBeCloseTo(Date.parse(manifest.finishedAt) / 1000, 3);
    expect(sample(text, 'lifeboat_backup_last_duration_seconds', labels)).toBeCloseTo((Date.parse(manifest.finishedAt) - Date.parse(manifest.startedAt)) / 1000, 3);
    // Not synced (sync.afterBackup is off): the other region is behind by the backup's age.
    expect(sample(text, 'lifeboat_backups', { source: 'docs', region: 'gothenburg' })).toBe(0);
    expect(sample(text, 'lifeboat_sync_lag_seconds', labels)).toBe(0);
    const lag = sample(text, 'lifeboat_sync_lag_seconds', { source: 'docs', region: 'gothenburg' });
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(120);
    expect(sample(text, 'lifeboat_objective_rpo_seconds')).toBe(21_600);
    expect(sample(text, 'lifeboat_catalog_up', { region: 'gothenburg' })).toBe(1);
    expect(sample(text, 'lifeboat_source_info', { source: 'down-db', kind: 'postgres', home_region: 'stockholm' })).toBe(1);
    expect(sample(text, 'lifeboat_backups', { source: 'down-db', region: 'stockholm' })).toBe(0);
  });

  it('serves the Temporal SDK\'s own metrics on the same endpoint', async () => {
    const text = await scrapeUntil(url, (t) => sample(t, 'temporal_workflow_completed', { workflow_type: 'backupSource' }) !== undefined);
    expect(sample(text, 'temporal_workflow_completed', { workflow_type: 'backupSource' })).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^temporal_activity_execution_latency/m);
  });

  it('counts failed activity attempts by failure type, and the alert sent about them', async () => {
    const failure = await failureOf(runBackup(client, fixture.config, 'down-db'));
    expect(failure.type).toBe('SourceUnreachable');
    const text = await scrape(url);
    // sourceAttempts is 2 in the fixture: one retried attempt, then one final.
    expect(sample(text, 'lifeboat_activity_failures_total', { type: 'SourceUnreachable', activity: 'snapshotToStorage', final: 'false' })).toBe(1);
    expect(sample(text, 'lifeboat_activity_failures_total', { type: 'SourceUnreachable', activity: 'snapshotToStorage', final: 'true' })).toBe(1);
    // And the alert about it, by kind, channel and result.
    expect(receiver.requests).toHaveLength(1);
    expect(sample(text, 'lifeboat_alerts_total', { kind: 'backup-failed', channel: '1-webhook', result: 'sent' })).toBe(1);
  });

  it('stops on SIGTERM, closing the endpoint and freeing its port', async () => {
    const started = Date.now();
    await worker.stop();
    expect(Date.now() - started, worker.output()).toBeLessThan(14_000);
    // Ended by itself (tsx reports the relayed SIGTERM as 143), not by the SIGKILL stop() falls back to.
    expect(worker.child.signalCode, worker.output()).not.toBe('SIGKILL');
    expect(worker.output()).toMatch(/state=STOPPED/);
    const port = Number(new URL(url).port);
    const again = createServer();
    await new Promise<void>((resolve, reject) => again.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    await new Promise((resolve) => again.close(resolve));
  });
});

describe('a worker whose metrics port is taken', () => {
  let holder: Server;
  let fixture: Fixture;

  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
    const { port } = holder.address() as { port: number };
    fixture = await makeFixture(servers, () => ({ docs: { kind: 'files', region: 'stockholm', path: '/srv/none' } }), { metrics: { port } });
  });

  afterAll(async () => {
    await new Promise((resolve) => holder?.close(resolve));
    fixture?.cleanup();
  });

  it('fails at start with the address and what to do', async () => {
    const worker = startWorkerProcess(fixture.configFile, fixture.env);
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => { worker.crash(); resolve(null); }, 60_000);
      worker.child.once('exit', (exitCode) => { clearTimeout(timer); resolve(exitCode); });
    });
    expect(code, worker.output()).toBe(2);
    expect(worker.output()).toMatch(/metrics endpoint: 127\.0\.0\.1:\d+ is already in use/);
    expect(worker.output()).toContain('metrics.port');
  });
});
