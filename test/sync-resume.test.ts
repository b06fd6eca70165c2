import { putSignedJson } from './support/signing';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Client, Connection } from '@temporalio/client';
import { fromRawPayload } from '../client/raw-payload';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps } from '../activities/deps';
import type { CopyHeartbeat, CopyObjectResult } from '../activities/sync';
import { digestStored } from '../activities/sync-copy';
import { keys, MANIFEST_FORMAT, type Manifest } from '../lib/manifest';
import { syncWorkflowId } from '../lib/workflow-ids';
import type { SyncResult } from '../workflows/sync-regions';
import { makeFixture, type Fixture } from './support/fixture';
import { extendFixture, incompleteIn, startS3Proxy, type S3Proxy } from './support/sync';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';
import { dataConverterOf } from '../lib/codec/data-converter';

const servers = inject('servers');
const MiB = 1024 * 1024;
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

/** A backup of random bytes written straight to storage: the sync only needs objects and a manifest. */
async function plantBackup(fixture: Fixture, source: string, size: number, id = '20260101T000000Z-000000000001'): Promise<Manifest> {
  const key = keys.object(source, id, 'dump.pgcustom.zst.age');
  const hash = createHash('sha256');
  const chunks = Readable.from((function* () {
    for (let left = size; left > 0; left -= MiB) {
      const chunk = randomBytes(Math.min(MiB, left));
      hash.update(chunk);
      yield chunk;
    }
  })());
  const storage = createDeps(fixture.config).storage('stockholm');
  await storage.putStream(key, chunks);
  const manifest: Manifest = {
    format: MANIFEST_FORMAT, id, source, kind: 'postgres', region: 'stockholm',
    startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:01:00.000Z', workflow: { workflowId: 'planted', runId: 'planted' },
    objects: [{ key, role: 'data', content: 'random bytes', size, sha256: hash.digest('hex') }],
    compression: { algorithm: 'zstd', level: 1 }, encryption: { algorithm: 'age-x25519', recipients: [fixture.key.recipient] }, tools: {},
    description: { kind: 'postgres', serverVersion: '15', database: 'planted', sizeBytes: size, tables: [], options: { schemaOnly: false, dataOnly: false, includeTables: [], excludeTables: [] } },
    parent: null, previousManifestSha256: null, retentionTags: [], restoreWith: 'age -d -i KEY | zstd -d | pg_restore',
  };
  await putSignedJson(storage, keys.manifest(source, id), manifest);
  return manifest;
}

describe('a worker killed in the middle of copying a large object to a throttling S3', () => {
  let fixture: Fixture;
  let proxy: S3Proxy;
  let client: Client;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    const base = await makeFixture(servers, (ctx) => ({ 'resume-db': ctx.postgres('resume_never_read') }));
    // Parts to gothenburg take a second each and the first three are refused with SlowDown.
    proxy = await startS3Proxy(servers.s3.gothenburg!.endpoint, { partDelayMs: 1000, slowDowns: 3 });
    fixture = extendFixture(base, {
      regions: { gothenburg: { storage: { ...base.config.regions.gothenburg!.storage, endpoint: proxy.endpoint } } },
      temporal: { ...base.config.temporal, heartbeatTimeout: '2s' },
      sync: { afterBackup: false },
    });
    client = new Client({ connection: await Connection.connect({ address: servers.temporal.address }), dataConverter: dataConverterOf(fixture.config) });
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await client?.connection.close();
    await proxy?.close();
    fixture?.cleanup();
  });

  it('resumes the multipart upload after its stored parts, slows down on SlowDown, and verifies the whole copy', async () => {
    const manifest = await plantBackup(fixture, 'resume-db', 72 * MiB);
    const object = manifest.objects[0]!;
    const first = startWorkerProcess(fixture.configFile, fixture.env);
    workers.push(first);
    const handle = await client.workflow.start('syncRegions', {
      args: [{ source: 'resume-db' }], workflowId: syncWorkflowId(fixture.config.temporal.taskQueuePrefix, 'resume-db'), taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });

    let beat: CopyHeartbeat | undefined;
    await expect.poll(async () => {
      const description = await handle.describe();
      const payload = description.raw.pendingActivities?.find((a) => a.activityType?.name === 'copyObject')?.heartbeatDetails?.payloads?.[0];
      beat = payload ? await fromRawPayload<CopyHeartbeat>(client.workflow, payload) : undefined;
      return beat?.bytes ?? 0;
    }, { timeout: 120_000, interval: 100 }).toBeGreaterThanOrEqual(3 * 8 * MiB);
    first.crash();
    const gothenburg = createDeps(fixture.config).storage('gothenburg');
    expect((await incompleteIn(gothenburg, 'resume-db/'))).toContain(object.key);

    workers.push(startWorkerProcess(fixture.configFile, fixture.env));
    const result = (await handle.result()) as SyncResult;
    expect(result.sources[0]!.regions[0]).toMatchObject({ region: 'gothenburg', copied: [manifest.id], failed: [] });
    expect(await digestStored(gothenburg, object.key)).toEqual({ sha256: object.sha256, size: object.size });
    expect(await incompleteIn(gothenburg, 'resume-db/')).toEqual([]);

    const history = await handle.fetchHistory();
    const results = history.events!.flatMap((e) => e.activityTaskCompletedEventAttributes?.result?.payloads?.slice(0, 1) ?? []);
    const copies = (await Promise.all(results.map((payload) => fromRawPayload<Partial<CopyObjectResult>>(client.workflow, payload))))
      .filter((value) => value?.key === object.key);
    expect(copies).toHaveLength(1);
    // Whole leading parts were kept; a restart would have sent all 9 parts again after the 3 seen stored.
    const resumedFrom = copies[0]!.resumedFrom ?? 0;
    expect(resumedFrom).toBeGreaterThanOrEqual(8 * MiB);
    expect(resumedFrom % (8 * MiB)).toBe(0);
    expect(proxy.parts()).toBeLessThan(9 + 3);
    expect(proxy.throttled()).toBe(3);
  }, 300_000);

  it('lifeboat sync --wait shows each copy in flight on stderr', async () => {
    const manifest = await plantBackup(fixture, 'resume-db', 40 * MiB, '20260102T000000Z-000000000002');
    const result = await execa(lifeboat, ['--config', fixture.configFile, 'sync', '--source', 'resume-db', '--wait'], { env: fixture.env, reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`copying ${manifest.objects[0]!.key} → gothenburg: [\\d.]+ (B|KiB|MiB)`));
    expect(result.stdout).toMatch(/resume-db +gothenburg +1 +1 +0 /);
  }, 120_000);
});
