import { accessSync, constants } from 'node:fs';
import { Context } from '@temporalio/activity';
import { parseDuration } from '../lib/config/duration';
import { LifeboatError } from '../lib/errors';
import { brief, keys, MANIFEST_FORMAT, warningsOf, type Manifest, type SourceDescription, type StoredObject } from '../lib/manifest';
import { findBackup, listBackups, newestTrusted, readManifest } from './catalog';
import { putSigned } from './signed';
import type { Deps } from './deps';
import { advance, stallTimeoutMs, watched } from './progress';
import { decryptBuffer, encryptBuffer } from './pipeline/buffers';
import { snapshotStream, type SnapshotStream } from './pipeline/compose';
import { DigestStream, digestOf, type Digest } from './pipeline/digest';
import { encodeSteps } from './pipeline/encode';
import { toolVersion } from './pipeline/versions';
import type { SnapshotContext } from './sources/source';
import type { DescriptorWrite, PutProgress, StorageBackend } from './storage/backend';
import { readAll } from './storage/backend';
import { noteManifest } from './catalog-journal';

/** Beside the backup's objects: the snapshot's description, which writeManifest copies into the manifest. */
const DESCRIPTION_FILE = 'description.json';

export interface BackupPlan {
  kind: string;
  region: string;
  taskQueue: string;
  /** Queue of any region: prefix + region name. */
  taskQueuePrefix: string;
  heartbeatTimeoutMs: number;
  /** Start a sync of the new backup when it is done (sync.afterBackup, and more than one region). */
  syncAfterBackup: boolean;
}

export interface SnapshotInput {
  source: string;
  backupId: string;
  /** Asked for by the operator: no increment, whatever the chain's policy says. */
  full?: boolean;
}

export interface SnapshotResult {
  objects: StoredObject[];
  parent: string | null;
  /** Only in results recorded before descriptions were stored (a history being replayed); see descriptionKey. */
  description?: SourceDescription;
  /**
   * Where the snapshot's description (every table, every tar warning: it grows with the source) was
   * stored beside the backup, and the SHA-256 of its bytes: the history holds the key, never the list.
   */
  descriptionKey?: string;
  descriptionSha256?: string;
  /** What the workflow's summary needs of the description: "20000 tables", and tar's warning count. */
  contents?: string;
  warnings?: number;
  tools: Record<string, string>;
  startedAt: string;
  finishedAt: string;
}

/** What writeManifest returns: counts and keys, not the manifest (whose description grows with the source). */
export interface ManifestWritten {
  key: string;
  parent: string | null;
  contents: string;
  warnings: number;
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
      syncAfterBackup: config.sync.afterBackup && Object.keys(config.regions).length > 1,
    };
  }

  /** Streams source → zstd → age → SHA-256 → storage, heartbeating { bytes, part, uploadId }. */
  async function snapshotToStorage(input: SnapshotInput): Promise<SnapshotResult> {
    // From the first line: discarding an earlier attempt, reading the catalog and walking a files
    // tree all come before the first byte, and each can outlast a heartbeat timeout on a large source.
    return watched({ step: `backup of ${input.source}`, stallMs: stallTimeoutMs(config), details: { phase: 'preparing', bytes: 0, part: 0 } }, () => snapshotWatched(input));
  }

  async function snapshotWatched({ source, backupId, full }: SnapshotInput): Promise<SnapshotResult> {
    const context = Context.current();
    const { config: sourceConfig, driver } = deps.source(source);
    const storage = deps.storage(sourceConfig.region);
    const key = keys.object(source, backupId, driver.fileName);
    const previous = context.info.heartbeatDetails as SnapshotHeartbeat | undefined;
    // An earlier attempt that finished its upload but died before returning: its objects are whole.
    if (previous?.done) {
      const stats = await Promise.all(previous.done.objects.map((object) => storage.stat(object.key)));
      if (stats.every((stat, index) => stat?.size === previous.done!.objects[index]!.size)) return previous.done;
    }
    // Otherwise the encrypted stream cannot be resumed byte for byte (age draws a new file key every
    // run), so discard whatever an earlier attempt left and start the upload again.
    advance({ phase: 'discarding what an earlier attempt left' });
    await discardIncomplete(source, backupId);

    const startedAt = new Date().toISOString();
    advance({ phase: 'starting the snapshot' });
    const snapshot = await driver.snapshot(await snapshotContext(source, backupId, full === true));
    advance({ phase: 'streaming' });
    const onProgress = (update: PutProgress) => advance({ ...update });
    let direct: DescriptorWrite | undefined;
    let stream: SnapshotStream;
    try {
      // A local region takes the last tool's output by descriptor: its bytes never pass through this thread.
      direct = await storage.openDescriptorWrite?.(key, onProgress);
      stream = await snapshotStream(snapshot, encodeSteps(config.compression, config.encryption.recipients, `backup of ${source}`), direct?.input);
    } catch (error) {
      await direct?.commit(Promise.reject(error as Error)).catch(() => undefined);
      await snapshot.release();
      throw error;
    }
    let upload: Promise<Digest> | undefined;
    try {
      upload = direct ? direct.commit(stream.finished) : putDigested(storage, key, stream, onProgress);
      // Neither waits for the other to fail: a dead tool must not leave the upload waiting for bytes.
      // The write's own failure (a full disk) is named over the tool's that only saw its pipe break.
      const [written, warnings] = await Promise.all([upload, stream.finished]).catch(async (error: unknown) => {
        throw await upload!.then(() => error, (failed: unknown) => failed);
      });
      advance({ phase: 'describing' });
      const data: StoredObject = { key, role: 'data', content: snapshot.content ?? driver.content, sha256: written.sha256, size: written.size };
      const extras = await storeExtras(source, backupId, (await snapshot.extras?.()) ?? []);
      const description = await snapshot.describe({ raw: stream.raw(), warnings, checks: stream.checks() });
      const stored = await storeDescription(source, backupId, description);
      const result: SnapshotResult = {
        objects: [data, ...extras],
        parent: snapshot.parent,
        ...stored,
        contents: brief(description),
        warnings: warningsOf(description),
        tools: await collectTools(driver.toolVersions()),
        startedAt,
        finishedAt: new Date().toISOString(),
      };
      advance({ phase: 'done', done: result } satisfies Partial<SnapshotHeartbeat> & { phase: string });
      return result;
    } catch (error) {
      stream.kill();
      // Not before the write has let go of its temp file: what a failed attempt leaves is then only what a crash would.
      await upload?.catch(() => undefined);
      throw error;
    } finally {
      await snapshot.release();
    }
  }

  async function snapshotContext(source: string, backupId: string, full: boolean): Promise<SnapshotContext> {
    const storage = deps.storage(deps.source(source).config.region);
    return {
      backupId,
      full,
      async earlier() {
        const all = (await listBackups(storage, deps.trusted, source)).filter((entry) => entry.manifest.id !== backupId);
        return all.map(({ manifest }) => ({ id: manifest.id, parent: manifest.parent, finishedAt: manifest.finishedAt }));
      },
      async loadState(id, name) {
        const identityFile = config.encryption.identityFile;
        if (!identityFile || !readable(identityFile)) {
          return { unavailable: 'the identity file is not readable on the backup worker, so the previous tar state could not be decrypted' };
        }
        const { manifest } = await findBackup(storage, deps.trusted, source, id);
        const object = manifest.objects.find((o) => o.role === 'state' && o.key.endsWith(`/${name}.zst.age`));
        if (!object) return { unavailable: `backup ${id} has no ${name} state` };
        const stored = await readAll(await storage.get(object.key));
        // The state decides which files the increment skips: a replaced one could make backups silently miss changes.
        if (digestOf(stored).sha256 !== object.sha256) return { unavailable: `${object.key} does not match its manifest's SHA-256` };
        return { data: await decryptBuffer(stored, identityFile, `${name} of backup ${id}`) };
      },
    };
  }

  async function storeExtras(source: string, backupId: string, extras: Array<{ name: string; content: string; data: Buffer }>): Promise<StoredObject[]> {
    const storage = deps.storage(deps.source(source).config.region);
    const stored: StoredObject[] = [];
    for (const extra of extras) {
      const encrypted = await encryptBuffer(extra.data, config.compression, config.encryption.recipients, `${extra.name} of ${source}`);
      const key = keys.object(source, backupId, `${extra.name}.zst.age`);
      await storage.put(key, encrypted);
      stored.push({ key, role: 'state', content: `${extra.content}, zstd, age`, ...digestOf(encrypted) });
    }
    return stored;
  }

  async function storeDescription(source: string, backupId: string, description: SourceDescription): Promise<Pick<SnapshotResult, 'descriptionKey' | 'descriptionSha256'>> {
    const storage = deps.storage(deps.source(source).config.region);
    const bytes = Buffer.from(JSON.stringify(description));
    const key = keys.object(source, backupId, DESCRIPTION_FILE);
    await storage.put(key, bytes);
    return { descriptionKey: key, descriptionSha256: digestOf(bytes).sha256 };
  }

  /** The description the snapshot stored, checked against the hash its result carried. */
  async function loadDescription(source: string, backupId: string, snapshot: SnapshotResult): Promise<SourceDescription> {
    if (snapshot.description) return snapshot.description;
    const key = snapshot.descriptionKey ?? '';
    if (key !== keys.object(source, backupId, DESCRIPTION_FILE)) {
      throw new LifeboatError('VerificationFailed', `refusing to write the manifest of ${source}/${backupId}: its description is not at ${keys.object(source, backupId, DESCRIPTION_FILE)} (${key || 'no key'})`,
        'this is a bug: report it');
    }
    const bytes = await readAll(await deps.storage(deps.source(source).config.region).get(key));
    if (digestOf(bytes).sha256 !== snapshot.descriptionSha256) {
      throw new LifeboatError('VerificationFailed', `refusing to write the manifest of ${source}/${backupId}: ${key} does not match the SHA-256 the snapshot recorded`,
        'someone or something rewrote it in the bucket: start a new backup, and find out who can write there');
    }
    return JSON.parse(bytes.toString('utf8')) as SourceDescription;
  }

  async function collectTools(sourceTools: Promise<Record<string, string>>): Promise<Record<string, string>> {
    const [own, zstd, age] = await Promise.all([sourceTools, toolVersion('zstd'), toolVersion('age')]);
    return { ...own, zstd, age };
  }

  /** Writes manifest.json last: from this moment the backup exists. Idempotent for one backup id. */
  async function writeManifest({ source, backupId, snapshot, workflow }: ManifestInput): Promise<ManifestWritten> {
    const { config: sourceConfig, driver } = deps.source(source);
    const storage = deps.storage(sourceConfig.region);
    for (const object of snapshot.objects) {
      const stored = await storage.stat(object.key);
      if (stored?.size !== object.size) {
        throw new LifeboatError('VerificationFailed', `refusing to write the manifest of ${source}/${backupId}: ${object.key} is ${stored ? `${stored.size} bytes, expected ${object.size}` : 'missing'}`,
          'start a new backup');
      }
    }
    const description = await loadDescription(source, backupId, snapshot);
    // Two reads however long the catalog: this id's own manifest (a retry after it was written) and the newest before it.
    const existing = (await storage.stat(keys.manifest(source, backupId)))
      ? await readManifest(storage, deps.trusted, keys.manifest(source, backupId)).catch(() => undefined)
      : undefined;
    if (existing && existing.manifest.workflow.runId !== workflow.runId) {
      throw new LifeboatError('VerificationFailed', `backup id ${backupId} of ${source} already belongs to run ${existing.manifest.workflow.runId}; refusing to replace it`,
        'this is a bug: report it');
    }
    const previous = (await newestTrusted(storage, deps.trusted, source, backupId)).entry;
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      id: backupId,
      source,
      kind: sourceConfig.kind,
      region: sourceConfig.region,
      startedAt: snapshot.startedAt,
      finishedAt: snapshot.finishedAt,
      workflow,
      objects: snapshot.objects,
      compression: { algorithm: 'zstd', level: config.compression.level },
      encryption: { algorithm: 'age-x25519', recipients: config.encryption.recipients },
      tools: snapshot.tools,
      description,
      parent: snapshot.parent,
      previousManifestSha256: previous?.manifestSha256 ?? null,
      retentionTags: [],
      restoreWith: driver.restoreWith(driver.fileName),
    };
    const bytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    await putSigned(storage, keys.manifest(source, backupId), bytes, deps.signer());
    // For the readers that take the index on trust (catalog-journal.ts).
    await noteManifest(storage, deps.signer(), source, keys.manifest(source, backupId), bytes, deps.signer().keyId);
    return { key: keys.manifest(source, backupId), parent: manifest.parent, contents: brief(description), warnings: warningsOf(description) };
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

/** Streams the encrypted bytes through Node into storage, hashing them on the way; rejects unless every tool succeeded. */
async function putDigested(storage: StorageBackend, key: string, stream: SnapshotStream, onProgress: (progress: PutProgress) => void): Promise<Digest> {
  const digest = new DigestStream(stream.finished);
  await storage.putStream(key, stream.output.pipe(digest), onProgress);
  return digest.digest();
}

function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
