import { Context } from '@temporalio/activity';
import { parseDuration } from '../lib/config/duration';
import { LifeboatError } from '../lib/errors';
import { keys, MANIFEST_FORMAT, type Manifest, type SourceDescription, type StoredObject } from '../lib/manifest';
import { listBackups } from './catalog';
import type { Deps } from './deps';
import { DigestStream } from './pipeline/digest';
import { encodeSteps } from './pipeline/encode';
import { startPipeline } from './pipeline/processes';
import { toolVersion } from './pipeline/versions';
import type { PutProgress } from './storage/backend';

export interface BackupPlan {
  kind: string;
  region: string;
  taskQueue: string;
  /** Queue of any region: prefix + region name. */
  taskQueuePrefix: string;
  heartbeatTimeoutMs: number;
}

export interface SnapshotInput {
  source: string;
  backupId: string;
}

export interface SnapshotResult {
  object: StoredObject;
  description: SourceDescription;
  tools: Record<string, string>;
  startedAt: string;
  finishedAt: string;
}

/** What the snapshot activity heartbeats; a retried attempt reads it back. */
export interface SnapshotHeartbeat extends PutProgress {
  done?: SnapshotResult;
}

export interface ManifestInput extends SnapshotInput {
  snapshot: SnapshotResult;
  workflow: { workflowId: string; runId: string };
}

export function backupActivities(deps: Deps) {
  const { config } = deps;

  async function planBackup(source: string): Promise<BackupPlan> {
    const { config: sourceConfig } = deps.source(source);
    return {
      kind: sourceConfig.kind,
      region: sourceConfig.region,
      taskQueue: `${config.temporal.taskQueuePrefix}${sourceConfig.region}`,
      taskQueuePrefix: config.temporal.taskQueuePrefix,
      heartbeatTimeoutMs: parseDuration(config.temporal.heartbeatTimeout),
    };
  }

  /** Streams source → zstd → age → SHA-256 → storage, heartbeating { bytes, part, uploadId }. */
  async function snapshotToStorage({ source, backupId }: SnapshotInput): Promise<SnapshotResult> {
    const context = Context.current();
    const { config: sourceConfig, driver } = deps.source(source);
    const storage = deps.storage(sourceConfig.region);
    const key = keys.object(source, backupId, driver.fileName);
    const previous = context.info.heartbeatDetails as SnapshotHeartbeat | undefined;
    // An earlier attempt that finished its upload but died before returning: its object is whole.
    if (previous?.done) {
      const stored = await storage.stat(previous.done.object.key);
      if (stored?.size === previous.done.object.size) return previous.done;
    }
    // Otherwise the encrypted stream cannot be resumed byte for byte (age draws a new file key every
    // run), so discard whatever an earlier attempt left and start the upload again.
    await discardIncomplete(source, backupId);

    const startedAt = new Date().toISOString();
    const snapshot = await driver.snapshot();
    let progress: PutProgress = { bytes: 0, part: 0 };
    const beat = setInterval(() => context.heartbeat(progress), Math.max(1000, parseDuration(config.temporal.heartbeatTimeout) / 3));
    const pipeline = startPipeline([snapshot.producer, ...encodeSteps(config.compression, config.encryption.recipients, `backup of ${source}`)]);
    const onCancel = () => pipeline.kill();
    context.cancellationSignal.addEventListener('abort', onCancel);
    try {
      const digest = new DigestStream(pipeline.finished);
      const description = snapshot.describe();
      description.catch(() => pipeline.kill());
      const upload = storage.putStream(key, pipeline.output.pipe(digest), (update) => {
        progress = update;
        context.heartbeat(progress);
      });
      // Whichever fails first wins: a dead tool must not leave the upload waiting for bytes.
      await Promise.all([upload, pipeline.finished, description]);
      const { sha256, size } = digest.digest();
      const [tools, described] = await Promise.all([collectTools(driver.toolVersions()), description]);
      const result: SnapshotResult = {
        object: { key, content: driver.content, size, sha256 },
        description: described,
        tools,
        startedAt,
        finishedAt: new Date().toISOString(),
      };
      context.heartbeat({ ...progress, done: result } satisfies SnapshotHeartbeat);
      return result;
    } catch (error) {
      pipeline.kill();
      throw error;
    } finally {
      clearInterval(beat);
      context.cancellationSignal.removeEventListener('abort', onCancel);
      await snapshot.release();
    }
  }

  async function collectTools(sourceTools: Promise<Record<string, string>>): Promise<Record<string, string>> {
    const [own, zstd, age] = await Promise.all([sourceTools, toolVersion('zstd'), toolVersion('age')]);
    return { ...own, zstd, age };
  }

  /** Writes manifest.json last: from this moment the backup exists. Idempotent for one backup id. */
  async function writeManifest({ source, backupId, snapshot, workflow }: ManifestInput): Promise<Manifest> {
    const { config: sourceConfig } = deps.source(source);
    const storage = deps.storage(sourceConfig.region);
    const stored = await storage.stat(snapshot.object.key);
    if (stored?.size !== snapshot.object.size) {
      throw new LifeboatError('VerificationFailed', `refusing to write the manifest of ${source}/${backupId}: its data object is ${stored ? `${stored.size} bytes, expected ${snapshot.object.size}` : 'missing'}`, 'start a new backup');
    }
    const earlier = (await listBackups(storage, source)).filter((entry) => entry.manifest.id !== backupId);
    const previous = earlier.at(-1);
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      id: backupId,
      source,
      kind: sourceConfig.kind,
      region: sourceConfig.region,
      startedAt: snapshot.startedAt,
      finishedAt: snapshot.finishedAt,
      workflow,
      objects: [snapshot.object],
      compression: { algorithm: 'zstd', level: config.compression.level },
      encryption: { algorithm: 'age-x25519', recipients: config.encryption.recipients },
      tools: snapshot.tools,
      description: snapshot.description,
      parent: null,
      previousManifestSha256: previous?.manifestSha256 ?? null,
      retentionTags: [],
      restoreWith: `age -d -i KEYFILE ${snapshot.object.key.split('/').pop()} | zstd -d | pg_restore --dbname=URL`,
    };
    await storage.put(keys.manifest(source, backupId), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
    return manifest;
  }

  /** Removes what a failed backup left: unfinished uploads, and data that never got a manifest. */
  async function discardIncomplete(source: string, backupId: string): Promise<number> {
    const { config: sourceConfig } = deps.source(source);
    const storage = deps.storage(sourceConfig.region);
    const prefix = keys.backupPrefix(source, backupId);
    let removed = 0;
    for await (const upload of storage.listIncomplete(prefix)) {
      await storage.abortIncomplete(upload);
      removed += 1;
    }
    if (!(await storage.stat(keys.manifest(source, backupId)))) {
      for await (const object of storage.list(prefix)) {
        await storage.remove(object.key);
        removed += 1;
      }
    }
    return removed;
  }

  async function discardUnfinishedBackup({ source, backupId }: SnapshotInput): Promise<number> {
    return discardIncomplete(source, backupId);
  }

  return { planBackup, snapshotToStorage, writeManifest, discardUnfinishedBackup };
}
