import { Context } from '@temporalio/activity';
import { parseDuration } from '../lib/config/duration';
import { LifeboatError } from '../lib/errors';
import { keys, type StoredObject } from '../lib/manifest';
import { listBackups, readManifest, refreshing, untrustedError } from './catalog';
import { readSigned } from './signed';
import { signatureKey } from '../lib/signing';
import type { Deps } from './deps';
import { advance, stallTimeoutMs, stopSignal, watched } from './progress';
import type { Digest } from './pipeline/digest';
import type { PutProgress, ResumeFrom } from './storage/backend';
import { readAll } from './storage/backend';
import { classify } from './sync-compare';
import type { BackupRef, BackupToCopy, DivergentCopy } from './sync-types';
import { copyVerified, digestStored, keepableParts } from './sync-copy';
import { heldOtherBytes, ownPrefix, refuseForeignKey, sha256Of, writeOnce } from './sync-guards';
import { noteManifest } from './catalog-journal';

export interface SyncPlan {
  sources: Array<{ source: string; kind: string; home: string; targets: string[] }>;
  primaryRegion: string;
  concurrency: number;
  lagThresholdMs: number;
  taskQueuePrefix: string;
  heartbeatTimeoutMs: number;
}

// In their own file so that sync-compare.ts, which sync.ts calls, need not import sync.ts for them.
export type { BackupRef, BackupToCopy, DivergentCopy } from './sync-types';

export interface CompareInput {
  source: string;
  from: string;
  to: string;
}

export interface RegionComparison {
  /** The worker's clock when the catalogs were read: workflows measure ages against it. */
  checkedAt: string;
  homeNewest: BackupRef | null;
  homeOldest: BackupRef | null;
  /** Backups whose manifest (the same bytes) and every object (by size) the destination already holds. */
  present: BackupRef[];
  /** Backups with no manifest at the destination, or the same manifest with an object missing or of another size. */
  missing: BackupToCopy[];
  /** Backups whose manifest at the destination differs from the home region's, or is not trusted. */
  divergent: DivergentCopy[];
}

export interface CopyObjectInput {
  source: string;
  backupId: string;
  from: string;
  to: string;
  object: StoredObject;
}

export interface CopyObjectResult extends Digest {
  key: string;
  /** false when the destination already held these exact bytes (an earlier attempt or sync). */
  copied: boolean;
  /** Bytes an interrupted attempt had stored and this one kept (0: copied from the start). */
  resumedFrom: number;
}

/** What copyObject heartbeats: upload progress and where to. */
export interface CopyHeartbeat extends PutProgress {
  to: string;
  key: string;
}

export interface PublishManifestInput {
  source: string;
  backupId: string;
  from: string;
  to: string;
  manifestSha256: string;
  /** What copyObject proved present at the destination, per key. */
  verified: Array<Digest & { key: string }>;
}

export function syncActivities(deps: Deps) {
  const { config } = deps;

  async function planSync(source?: string): Promise<SyncPlan> {
    if (source !== undefined) deps.source(source);
    const names = source !== undefined ? [source] : Object.keys(config.sources);
    const regions = Object.keys(config.regions);
    return {
      sources: names.map((name) => {
        const sourceConfig = config.sources[name]!;
        return { source: name, kind: sourceConfig.kind, home: sourceConfig.region, targets: regions.filter((region) => region !== sourceConfig.region) };
      }),
      primaryRegion: config.primaryRegion,
      concurrency: config.sync.concurrency,
      lagThresholdMs: parseDuration(config.sync.lagThreshold),
      taskQueuePrefix: config.temporal.taskQueuePrefix,
      heartbeatTimeoutMs: parseDuration(config.temporal.heartbeatTimeout),
    };
  }

  /** Reads both catalogs: what the destination lacks of the home region's backups of one source, and where its copy differs. */
  async function compareRegions({ source, from, to }: CompareInput): Promise<RegionComparison> {
    const home = await listBackups(deps.storage(from), deps.trusted, source, refreshing(deps));
    const classified = await classify(home, deps.storage(to), deps.trusted, source, from, refreshing(deps));
    const ref = (entry: (typeof home)[number] | undefined) => (entry ? { id: entry.manifest.id, finishedAt: entry.manifest.finishedAt } : null);
    return { checkedAt: new Date().toISOString(), homeNewest: ref(home.at(-1)), homeOldest: ref(home[0]), ...classified };
  }

  /**
   * Copies one object, verified against the manifest's SHA-256 as it streams. Heartbeats
   * { bytes, part, uploadId }; a retry after a crash resumes the dead attempt's multipart upload
   * after its whole leading parts (S3), or discards it and starts again (local, or nothing kept).
   * An object already at the destination is never overwritten: the same bytes are kept, other
   * bytes fail the copy with AlreadyExists. A key outside `<source>/<id>/` is refused (Untrusted).
   */
  async function copyObject(input: CopyObjectInput): Promise<CopyObjectResult> {
    const context = Context.current();
    const previous = context.info.heartbeatDetails as CopyHeartbeat | undefined;
    // The first heartbeat keeps the upload a dead attempt left: if this one dies before deciding, the next still finds it.
    const details = { bytes: 0, part: 0, ...previous, to: input.to, key: input.object.key, phase: 'checking the destination' };
    // From the first line: re-hashing an object the destination already holds takes as long as copying it.
    return watched({ step: `copy of ${input.object.key} to ${input.to}`, stallMs: stallTimeoutMs(config), details }, () => copyWatched(input, previous));
  }

  async function copyWatched({ source: name, backupId, from, to, object }: CopyObjectInput, previous: CopyHeartbeat | undefined): Promise<CopyObjectResult> {
    refuseForeignKey(name, backupId, object.key);
    const context = Context.current();
    const source = deps.storage(from);
    const destination = deps.storage(to);

    // Already there (an earlier attempt finished, a sync died before the manifest, or another copy): prove it by hash.
    const stored = await destination.stat(object.key);
    if (stored) {
      if (previous?.uploadId) await destination.abortIncomplete({ key: object.key, uploadId: previous.uploadId });
      if (stored.size !== object.size) throw heldOtherBytes(destination, object.key, `${stored.size} bytes; the manifest says ${object.size}`);
      advance({ phase: 'hashing the copy already there', uploadId: undefined });
      const digest = await digestStored(destination, object.key);
      if (digest.sha256 !== object.sha256) throw heldOtherBytes(destination, object.key, `sha256 ${digest.sha256.slice(0, 16)}…; the manifest says ${object.sha256.slice(0, 16)}…`);
      return { key: object.key, ...digest, copied: false, resumedFrom: 0 };
    }
    // A dead attempt's upload: keep its whole leading parts and go on after them (S3), or discard it.
    let resume: ResumeFrom | undefined;
    if (previous?.uploadId) {
      const uploaded = await destination.listParts?.(object.key, previous.uploadId);
      const parts = keepableParts(uploaded ?? [], object.size);
      if (parts.length > 0) resume = { uploadId: previous.uploadId, parts };
      else await destination.abortIncomplete({ key: object.key, uploadId: previous.uploadId });
    }

    advance({ phase: 'copying' });
    const digest = await copyVerified(source, destination, object, (update) => advance({ ...update }), stopSignal() ?? context.cancellationSignal, resume);
    return { key: object.key, ...digest, copied: true };
  }

  /**
   * Writes the home region's manifest bytes, verbatim, last: from this moment the copy exists. A
   * destination that holds these bytes already (a repaired copy) keeps them; other bytes there are
   * never overwritten (AlreadyExists), nor is any object outside `<source>/<id>/` accepted.
   */
  async function publishManifest({ source, backupId, from, to, manifestSha256, verified }: PublishManifestInput): Promise<void> {
    const key = `${ownPrefix(source, backupId)}manifest.json`;
    const { bytes, verdict } = await readSigned(deps.storage(from), key, deps.trusted);
    const sha256 = sha256Of(bytes);
    if (sha256 !== manifestSha256) {
      throw new LifeboatError('ChecksumMismatch', `${deps.storage(from).location}: ${key} changed while it was being copied (SHA-256 ${sha256}, was ${manifestSha256})`,
        'manifests are immutable: find out who rewrote it before trusting this backup');
    }
    const { manifest } = await readManifest(deps.storage(from), deps.trusted, key);
    if (!verdict.trusted) throw untrustedError(deps.storage(from), { key, reason: verdict.reason });
    const destination = deps.storage(to);
    for (const object of manifest.objects) {
      refuseForeignKey(source, backupId, object.key);
      const proof = verified.find((digest) => digest.key === object.key);
      const stored = await destination.stat(object.key);
      if (proof?.sha256 !== object.sha256 || proof.size !== object.size || stored?.size !== object.size) {
        throw new LifeboatError('VerificationFailed', `refusing to write the manifest of ${source}/${backupId} in ${destination.location}: ${object.key} was not verified there`,
          'run the sync again');
      }
    }
    // Uploads an attempt that died before its first heartbeat could not name are found by prefix.
    for await (const upload of destination.listIncomplete(keys.backupPrefix(source, backupId))) await destination.abortIncomplete(upload);
    // The signature travels with the bytes it signs, and goes first, as putSigned writes it.
    await writeOnce(destination, signatureKey(key), await readAll(await deps.storage(from).get(signatureKey(key))));
    await writeOnce(destination, key, bytes);
    await noteManifest(destination, deps.signer(), source, key, bytes, verdict.keyId);
  }

  /** Removes what a failed copy left at the destination (objects without a manifest, unfinished uploads). */
  async function discardPartialCopy({ source, backupId, to }: { source: string; backupId: string; to: string }): Promise<number> {
    const destination = deps.storage(to);
    const prefix = ownPrefix(source, backupId);
    let removed = 0;
    for await (const upload of destination.listIncomplete(prefix)) {
      await destination.abortIncomplete(upload);
      removed += 1;
    }
    if (await destination.stat(keys.manifest(source, backupId))) return removed;
    for await (const object of destination.list(prefix)) {
      await destination.remove(object.key);
      removed += 1;
    }
    return removed;
  }

  // copyOne is copyObject without its own watch and resume: what copyBackups runs per object.
  const copyOne = (input: CopyObjectInput) => copyWatched(input, undefined);
  return { planSync, compareRegions, copyObject, copyOne, publishManifest, discardPartialCopy };
}
