import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../activities';
import { createDeps } from '../activities/deps';
import { readAll, type StorageBackend } from '../activities/storage/backend';
import { STATE_NAME } from '../activities/sources/files/source';
import type { Alert } from '../lib/alerts';
import { keys } from '../lib/manifest';
import type { backupSource, BackupSummary } from '../workflows/backup-source';
import { startWorkers } from '../worker/run';
import { makeFixture, type Fixture } from './support/fixture';
import { startReceiver, type Receiver } from './support/receiver';
import { startHarness, type Harness } from './support/workers';

// A cancelled backup leaves either a whole backup (manifest and every object) or nothing. The
// races are made certain by holding one storage write at a gate while the run is cancelled: the
// workers run the real activities against the real S3, only that one write waits.

const servers = inject('servers');
const source = 'cancel-files';
const hookPath = '/alerts';

interface Gate {
  /** Resolves once a write matching the gate is held. */
  reached: Promise<void>;
  release(): void;
}

function gateFor(match: (key: string) => boolean): Gate & { hold(key: string): Promise<void> } {
  let reach!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((resolve) => { reach = resolve; });
  const released = new Promise<void>((resolve) => { release = resolve; });
  let armed = true;
  return {
    reached,
    release,
    async hold(key) {
      if (!armed || !match(key)) return;
      armed = false;
      reach();
      await released;
    },
  };
}

describe('cancelling a backup', () => {
  let fixture: Fixture;
  let harness: Harness;
  let receiver: Receiver;
  let gate: ReturnType<typeof gateFor> | undefined;
  let runs = 0;

  /** The stockholm worker's storage, with writes passing the current gate first. */
  const gated = (storage: StorageBackend): StorageBackend => new Proxy(storage, {
    get(target, name, receiver) {
      if (name === 'put') return async (key: string, data: Buffer) => { await gate?.hold(key); return target.put(key, data); };
      return Reflect.get(target, name, receiver) as unknown;
    },
  });
  const storage = () => createDeps(fixture.config).storage('stockholm');
  const stored = async (backupId: string) => {
    const keysFound: string[] = [];
    for await (const object of storage().list(keys.backupPrefix(source, backupId))) keysFound.push(object.key);
    return keysFound.sort();
  };
  const alerts = () => receiver.requests.filter((r) => r.path === hookPath).map((r) => JSON.parse(r.body) as Alert);

  /** Starts a backup, waits until the gated write is held, cancels the run, then lets the write go on. */
  const cancelAt = async (match: (key: string) => boolean): Promise<{ handle: WorkflowHandle<typeof backupSource>; backupId: string }> => {
    gate = gateFor(match);
    const handle = await harness.client.workflow.start<typeof backupSource>('backupSource', {
      args: [{ source }], workflowId: `test-backup-cancel-${process.pid}-${runs++}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
    await gate.reached;
    const { backupId } = await handle.query<{ backupId?: string }>('phase');
    await handle.cancel();
    // Long enough for a workflow that does not wait for the held activity to run its cleanup meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    gate.release();
    return { handle, backupId: backupId! };
  };

  beforeAll(async () => {
    receiver = await startReceiver();
    const tree = join(servers.workDir, `cancel-tree-${randomBytes(4).toString('hex')}`);
    mkdirSync(join(tree, 'a'), { recursive: true });
    for (let i = 0; i < 20; i += 1) writeFileSync(join(tree, 'a', `f${i}.txt`), randomBytes(2048).toString('hex'));
    const hookEnv = `CANCEL_HOOK_${randomBytes(4).toString('hex')}`;
    process.env[hookEnv] = `${receiver.url}${hookPath}`;
    fixture = await makeFixture(servers, () => ({ [source]: { kind: 'files', region: 'stockholm', path: tree } }), {
      alerts: { channels: [{ type: 'webhook', urlEnv: hookEnv }] },
      sync: { afterBackup: false },
    });
    // gothenburg's worker as `lifeboat worker` runs it; stockholm's with the gate in its storage.
    harness = await startHarness({ ...fixture.config, regions: { gothenburg: fixture.config.regions.gothenburg! } });
    const deps = createDeps(fixture.config);
    const workers = await startWorkers(fixture.config, ['stockholm'], process.env, { activities: createActivities({ ...deps, storage: (region) => gated(deps.storage(region)) }) });
    stop = async () => {
      workers.shutdown();
      await workers.done;
    };
  });
  let stop: () => Promise<void> = async () => undefined;

  afterAll(async () => {
    gate?.release();
    await stop();
    await harness?.close();
    await receiver?.close();
    fixture?.cleanup();
  });

  it('during the snapshot (its state object still being written) leaves no object of the backup, and alerts that it was cancelled', async () => {
    const { handle, backupId } = await cancelAt((key) => key.startsWith(`${source}/`) && key.endsWith(`/${STATE_NAME}.zst.age`));
    const error = await handle.result().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    // Whatever the snapshot wrote after the cancellation was requested is gone too: it had stopped before the cleanup ran.
    expect(await stored(backupId)).toEqual([]);
    await expect.poll(() => alerts().filter((a) => a.kind === 'backup-failed' && a.source === source).map((a) => a.details), { timeout: 30_000 })
      .toEqual([expect.objectContaining({ failureType: 'Cancelled', phase: 'snapshot' })]);
  });

  it('during writeManifest completes the backup: the manifest and every object it names are there', async () => {
    const { handle, backupId } = await cancelAt((key) => key.endsWith('/manifest.json'));
    const summary: BackupSummary = await handle.result();
    expect(summary.backupId).toBe(backupId);
    const objects = await stored(backupId);
    expect(objects).toContain(`${source}/${backupId}/manifest.json`);
    const manifest = JSON.parse((await readAll(await storage().get(keys.manifest(source, backupId)))).toString('utf8')) as { objects: Array<{ key: string }> };
    for (const object of manifest.objects) expect(objects).toContain(object.key);
  });
});
