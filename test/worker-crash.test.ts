import { trusted } from './support/signing';
import { createHash } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { fromRawPayload } from '../client/raw-payload';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { SnapshotHeartbeat } from '../activities/backup';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import type { StorageBackend } from '../activities/storage/backend';
import { startBackup } from '../client/commands/backup';
import { createNoiseDatabase } from '../scripts/sample-db';
import { makeFixture, type Fixture } from './support/fixture';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';
import { dataConverterOf } from '../lib/codec/data-converter';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };

describe('a worker killed in the middle of a multipart upload', () => {
  let fixture: Fixture;
  let client: Client;
  let storage: StorageBackend;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    // Random bytes do not compress, and zstd -12 runs at about 14 MB/s: the upload runs for many parts and seconds.
    await createNoiseDatabase(pg, 'crash_src', 40000);
    fixture = await makeFixture(servers, (ctx) => ({ 'crash-db': ctx.postgres('crash_src') }), { compression: { level: 12, threads: 1 } });
    storage = createDeps(fixture.config).storage('stockholm');
    client = new Client({ connection: await Connection.connect({ address: servers.temporal.address }), dataConverter: dataConverterOf(fixture.config) });
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await client?.connection.close();
    fixture?.cleanup();
  });

  it('completes on a new worker with exactly one whole backup and no unfinished upload', async () => {
    const first = startWorkerProcess(fixture.configFile, fixture.env);
    workers.push(first);
    const handle = await startBackup(client, fixture.config, 'crash-db');

    let beat: SnapshotHeartbeat | undefined;
    await expect.poll(async () => {
      const description = await handle.describe();
      const payload = description.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0];
      beat = payload ? await fromRawPayload<SnapshotHeartbeat>(client.workflow, payload) : undefined;
      return beat?.part ?? 0;
    }, { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(2);
    first.crash();
    const crashedUpload = beat!.uploadId!;
    expect(crashedUpload).toBeTruthy();

    const unfinished = [];
    for await (const upload of storage.listIncomplete('crash-db/')) unfinished.push(upload.uploadId);
    expect(unfinished).toContain(crashedUpload);

    workers.push(startWorkerProcess(fixture.configFile, fixture.env));
    const summary = await handle.result();

    const backups = await listBackups(storage, trusted, 'crash-db');
    expect(backups.map((b) => b.manifest.id)).toEqual([summary.backupId]);
    const object = backups[0]!.manifest.objects[0]!;
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of await storage.get(object.key)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    expect({ sha256: hash.digest('hex'), size }).toEqual({ sha256: object.sha256, size: object.size });
    expect(size).toBeGreaterThan(40 * 1024 * 1024);

    const left = [];
    for await (const upload of storage.listIncomplete('crash-db/')) left.push(upload);
    expect(left).toEqual([]);
    const objects = [];
    for await (const o of storage.list('crash-db/')) objects.push(o.key);
    // The data, the description stored beside it (issue 13: it stays out of the history), the signed manifest.
    expect(objects.sort()).toEqual([object.key, `crash-db/${summary.backupId}/description.json`, `crash-db/${summary.backupId}/manifest.json`, `crash-db/${summary.backupId}/manifest.json.sig`].sort());

    const history = await handle.fetchHistory();
    const attempts = history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(Math.max(...attempts.map(Number))).toBeGreaterThanOrEqual(2);
  }, 300_000);
});
