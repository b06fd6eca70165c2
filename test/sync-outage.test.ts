import { trusted } from './support/signing';
import { join } from 'node:path';
import { fromRawPayload } from '../client/raw-payload';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import type { CopyHeartbeat } from '../activities/sync';
import { digestStored } from '../activities/sync-copy';
import { createNoiseDatabase } from '../scripts/sample-db';
import type { SyncResult } from '../workflows/sync-regions';
import { freePorts } from './harness/ports';
import { SEAWEED_PORT_COUNT, startSeaweedS3, type S3Server } from './harness/seaweedfs';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { extendFixture, incompleteIn, startS3Proxy, type S3Proxy } from './support/sync';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };

describe('a region stopped in the middle of a sync', () => {
  let fixture: Fixture;
  let harness: Harness;
  let uppsala: { s3: S3Server; stop(): Promise<void> } | undefined;
  let proxy: S3Proxy;
  let ports: number[];
  let dir: string;
  const ids: string[] = [];
  let idName: string;
  let secretName: string;

  /** Starts (or restarts, same ports and data) the extra region; it hands out new credentials each time. */
  async function startUppsala(): Promise<void> {
    uppsala = await startSeaweedS3({ region: 'uppsala', dir, ports, log: () => undefined });
    process.env[idName] = uppsala.s3.accessKeyId;
    process.env[secretName] = uppsala.s3.secretAccessKey;
  }

  const sync = (): Promise<SyncResult> => harness.client.workflow.execute('syncRegions', {
    args: [{ source: 'outage-db' }], workflowId: `test-sync-outage-${fixture.prefix}-${Date.now()}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
  });
  const regionOf = (result: SyncResult, region: string) => result.sources[0]!.regions.find((r) => r.region === region)!;

  beforeAll(async () => {
    // Random bytes do not compress: each backup is about 20 MiB, so a copy lasts long enough to be interrupted.
    await createNoiseDatabase(pg, 'outage_src', 20000);
    const base = await makeFixture(servers, (ctx) => ({ 'outage-db': ctx.postgres('outage_src') }), { compression: { level: 1 } });
    dir = join(base.dir, 'uppsala');
    ports = await freePorts(SEAWEED_PORT_COUNT);
    const tag = base.prefix.replace(/\W/g, '');
    idName = `UPPSALA_KEY_${tag}`;
    secretName = `UPPSALA_SECRET_${tag}`;
    await startUppsala();
    // Parts to uppsala take half a second each, so the stop surely falls inside its copies.
    proxy = await startS3Proxy(uppsala!.s3.endpoint, { partDelayMs: 500, slowDowns: 0 });
    fixture = extendFixture(base, {
      regions: {
        uppsala: { storage: { type: 's3', endpoint: proxy.endpoint, bucket: uppsala!.s3.bucket, region: 'uppsala', forcePathStyle: true, prefix: base.prefix, accessKeyIdEnv: idName, secretAccessKeyEnv: secretName } },
      },
      // One copy at a time, and no sync after each backup: the test decides when copies run.
      sync: { afterBackup: false, concurrency: 1 },
    });
    harness = await startHarness(fixture.config);
    for (let i = 0; i < 3; i += 1) ids.push((await runBackup(harness.client, fixture.config, 'outage-db')).backupId);
  }, 300_000);

  afterAll(async () => {
    await harness?.close();
    await uppsala?.stop();
    await proxy?.close();
    fixture?.cleanup();
  });

  it('copies to the other region, reports the stopped one, and catches it up once it is back', async () => {
    const handle = await harness.client.workflow.start('syncRegions', {
      args: [{ source: 'outage-db' }], workflowId: `test-sync-outage-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
    // Stop uppsala as a crash would, the moment a copy to it has started.
    await expect.poll(async () => {
      const description = await handle.describe();
      const payloads = (description.raw.pendingActivities ?? []).flatMap((activity) => activity.heartbeatDetails?.payloads?.slice(0, 1) ?? []);
      const beats = await Promise.all(payloads.map((payload) => fromRawPayload<CopyHeartbeat>(harness.client.workflow, payload)));
      return beats.some((beat) => beat.to === 'uppsala');
    }, { timeout: 120_000, interval: 50 }).toBe(true);
    process.kill(-uppsala!.s3.pid, 'SIGKILL');
    await uppsala!.stop();
    uppsala = undefined;

    const outage = (await handle.result()) as SyncResult;
    expect(regionOf(outage, 'gothenburg')).toMatchObject({ copied: expect.arrayContaining(ids), failed: [] });
    const down = regionOf(outage, 'uppsala');
    expect(down.failed.length).toBeGreaterThanOrEqual(1);
    expect(down.failed.every((f) => f.type === 'Storage')).toBe(true);
    expect(down.copied.length + down.failed.length).toBe(3);
    expect(down.copied.length).toBeLessThan(3);
    const gothenburg = await listBackups(createDeps(fixture.config).storage('gothenburg'), trusted, 'outage-db');
    expect(gothenburg.map((e) => e.manifest.id).sort()).toEqual([...ids].sort());

    // Back on the same ports and data; new workers read its new credentials.
    await startUppsala();
    await harness.close();
    harness = await startHarness(fixture.config);
    const caughtUp = await sync();
    expect(regionOf(caughtUp, 'uppsala')).toMatchObject({ failed: [], present: down.copied.length, lagSeconds: 0 });
    expect([...regionOf(caughtUp, 'uppsala').copied].sort()).toEqual(down.failed.map((f) => f.backupId).sort());
    expect(regionOf(caughtUp, 'gothenburg')).toMatchObject({ copied: [], present: 3 });

    const deps = createDeps(fixture.config);
    const home = await listBackups(deps.storage('stockholm'), trusted, 'outage-db');
    const copies = await listBackups(deps.storage('uppsala'), trusted, 'outage-db');
    expect(copies.map((e) => e.manifestSha256)).toEqual(home.map((e) => e.manifestSha256));
    for (const { manifest } of home) {
      for (const object of manifest.objects) expect(await digestStored(deps.storage('uppsala'), object.key)).toEqual({ sha256: object.sha256, size: object.size });
    }
    expect(await incompleteIn(deps.storage('uppsala'), 'outage-db/')).toEqual([]);

    const quiet = await sync();
    for (const region of quiet.sources[0]!.regions) expect(region.copied, region.region).toEqual([]);
  }, 300_000);

  it('continues as new once a run has started its share of copies, and reports every copy of every run', async () => {
    const gothenburg = createDeps(fixture.config).storage('gothenburg');
    for await (const object of gothenburg.list('outage-db/')) await gothenburg.remove(object.key);
    const handle = await harness.client.workflow.start('syncRegions', {
      args: [{ source: 'outage-db', copiesPerRun: 1 }], workflowId: `test-sync-batches-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
    const result = (await handle.result()) as SyncResult;
    expect([...regionOf(result, 'gothenburg').copied].sort()).toEqual([...ids].sort());
    expect(regionOf(result, 'gothenburg')).toMatchObject({ present: 0, failed: [], lagSeconds: 0 });
    expect(regionOf(result, 'uppsala')).toMatchObject({ copied: [], present: 3 });
    // One run per copy: the first, and two continued as new (visibility catches up a moment later).
    await expect.poll(async () => {
      const runs = [];
      for await (const run of harness.client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` })) runs.push(run.runId);
      return runs.length;
    }, { timeout: 15_000, interval: 500 }).toBe(3);
  }, 120_000);
});
