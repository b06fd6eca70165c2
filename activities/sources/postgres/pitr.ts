import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LifeboatError } from '../../../lib/errors';
import { checkRecoveryTarget } from '../../../lib/recovery-target';
import { requireSafePath } from '../../../lib/safe-path';
import { isPhysical, type Manifest, type PostgresPhysicalDescription } from '../../../lib/manifest';
import { findBackup, listBackups } from '../../catalog';
import type { TrustedKey } from '../../../lib/signing';
import type { StorageBackend } from '../../storage/backend';
import { majorOf } from './binaries';
import { portInUse } from '../../ports';
import { advance, watched } from '../../progress';
import { removeTree } from '../../remove-tree';
import { clusterUser, postmasterPid, restartCluster, stopCluster } from './cluster';
import { planTablespaces, removeDataDir, restoreCluster, socketDirOf, workDirOf, type RecoveredCluster } from './restore-cluster';

export interface ClusterTarget {
  dataDir: string;
  port: number;
  osUser?: string;
  /** Tablespace name → the directory it is restored into (absent or empty); unmapped ones stay in the data directory. */
  tablespaces?: Record<string, string>;
}
export interface RecoveryTarget { time?: string; lsn?: string }
export interface PitrResult {
  baseBackupId: string;
  recoveredTo: string | null;
  recoveredLsn: string;
  timeline: number;
  walFiles: number;
  walBytes: number;
  /** From starting PostgreSQL in recovery to its promotion (archived WAL is fetched meanwhile). */
  replayMs: number;
  restoreMs: number;
  checks: Array<{ name: string; ok: boolean; detail: string }>;
}

/** Written beside the data directory before anything else: whose restore this is, and how far it got. */
interface RestoreMarker {
  format: 'lifeboat-restore-marker/1';
  owner: string;
  source: string;
  status: 'restoring' | 'done';
  /** The data directory existed (empty) before: cleanup empties it instead of removing it. */
  dataDirExisted: boolean;
  serverVersion: string;
  startedAt: string;
  /** Directories of mapped tablespaces the restore fills: removed (emptied, when they existed) with the cluster. */
  tablespaceDirs?: Array<{ path: string; existed: boolean }>;
  result?: PitrResult;
}

const markerFile = (target: ClusterTarget) => join(workDirOf(target.dataDir), 'restore.json');

function readMarker(target: ClusterTarget): RestoreMarker | undefined {
  try {
    return JSON.parse(readFileSync(markerFile(target), 'utf8')) as RestoreMarker;
  } catch {
    return undefined;
  }
}

function writeMarker(target: ClusterTarget, marker: RestoreMarker): void {
  mkdirSync(workDirOf(target.dataDir), { recursive: true });
  writeFileSync(markerFile(target), `${JSON.stringify(marker, null, 2)}\n`);
}

/**
 * Restores `source` into a new cluster at `target`: the newest base backup before the target,
 * the archived WAL after it, recovery to the target, promotion. Retried with the same owner it
 * returns the finished result, or removes its own unfinished attempt and starts again.
 */
export async function restorePointInTime(storage: StorageBackend, source: string, identity: string, target: ClusterTarget,
  recovery: RecoveryTarget, options: { owner: string; trusted: TrustedKey[]; backupId?: string; onPhase?: (phase: string) => void }): Promise<PitrResult> {
  return restoreOwned(storage, source, identity, target, { ...recovery, wal: 'archive' }, options);
}

/** restorePointInTime's machinery; `wal: 'none'` replays only the WAL inside the base backup (restore verification). */
export async function restoreOwned(storage: StorageBackend, source: string, identity: string, target: ClusterTarget,
  recovery: RecoveryTarget & { wal: 'archive' | 'none' }, options: { owner: string; trusted: TrustedKey[]; backupId?: string; onPhase?: (phase: string) => void },
  afterRecovery?: (cluster: RecoveredCluster) => Promise<PitrResult['checks']>): Promise<PitrResult> {
  // Progress all the way through, also in steps that report no bytes (pg_verifybackup, recovery): phases and the replayed LSN.
  return watched({ step: `point-in-time restore of ${source}`, details: { phase: 'starting' } }, () => restoreSteps(storage, source, identity, target, recovery, {
    ...options,
    onPhase: (text) => {
      advance({ phase: text });
      options.onPhase?.(text);
    },
  }, afterRecovery));
}

async function restoreSteps(storage: StorageBackend, source: string, identity: string, target: ClusterTarget,
  recovery: RecoveryTarget & { wal: 'archive' | 'none' }, options: { owner: string; trusted: TrustedKey[]; backupId?: string; onPhase: (phase: string) => void },
  afterRecovery?: (cluster: RecoveredCluster) => Promise<PitrResult['checks']>): Promise<PitrResult> {
  const started = Date.now();
  const onPhase = options.onPhase;
  const user = clusterUser(target.osUser);
  // Inputs come from any Temporal client: checked here, before anything is written.
  requireSafePath(target.dataDir, 'the data directory to restore into');
  recovery = { ...recovery, ...checkRecoveryTarget(recovery) };
  const existing = readMarker(target);
  if (existing && existing.owner !== options.owner) {
    throw new LifeboatError('TargetNotEmpty', `${target.dataDir} holds a cluster restored by ${existing.owner}, not by ${options.owner}`,
      `choose another data directory; or, if that restore is no longer wanted: pg_ctl -D ${target.dataDir} stop, then delete ${target.dataDir} and ${workDirOf(target.dataDir)}`);
  }
  if (existing) {
    if (existing.status === 'done' && existing.result) {
      // A finished restore may already serve writes (after a cut-over): never wiped implicitly, only started again.
      if (postmasterPid(target.dataDir) === undefined) {
        onPhase('starting the restored cluster again');
        await restartCluster(target.dataDir, user, join(workDirOf(target.dataDir), 'postgres.log'), majorOf(existing.serverVersion));
      }
      return existing.result;
    }
    // An attempt of this owner that died half-way: nothing of it can be trusted, so it goes.
    onPhase('removing an unfinished earlier attempt');
    await wipe(target, user, existing);
  }
  const dataDirExisted = existsSync(target.dataDir);
  if (dataDirExisted && readdirSync(target.dataDir).length > 0) {
    throw new LifeboatError('TargetNotEmpty', `${target.dataDir} exists and is not empty (${readdirSync(target.dataDir).slice(0, 3).join(', ')}…); Lifeboat never restores over a cluster`,
      'give a new or empty data directory');
  }
  if (await portInUse(target.port)) {
    throw new LifeboatError('TargetNotEmpty', `port ${target.port} on 127.0.0.1 is already in use: a restored cluster must not take over a live server's port`,
      'choose a free port');
  }

  const manifest = await chooseBaseBackup(storage, options.trusted, source, recovery, options.backupId);
  const description = manifest.description as PostgresPhysicalDescription;
  // Before anything is written: a mapped directory that holds data is refused untouched.
  const tablespaces = planTablespaces(description, target.dataDir, target.tablespaces);
  const marker: RestoreMarker = {
    format: 'lifeboat-restore-marker/1', owner: options.owner, source, status: 'restoring', dataDirExisted,
    serverVersion: description.serverVersion, startedAt: new Date(started).toISOString(),
    ...(tablespaces.length > 0 ? { tablespaceDirs: tablespaces.map((t) => ({ path: t.path, existed: existsSync(t.path) })) } : {}),
  };
  writeMarker(target, marker);
  try {
    const cluster = await restoreCluster({
      storage, trusted: options.trusted, source, manifest, identity, dataDir: target.dataDir, port: target.port, user, wal: recovery.wal,
      recovery: { time: recovery.time, lsn: recovery.lsn }, tablespaces, onPhase,
    });
    const later = afterRecovery ? await afterRecovery(cluster) : [];
    const result: PitrResult = {
      baseBackupId: manifest.id,
      recoveredTo: cluster.recoveredTo,
      recoveredLsn: cluster.recoveredLsn,
      timeline: cluster.timeline,
      walFiles: cluster.walFiles,
      walBytes: cluster.walBytes,
      replayMs: cluster.replayMs,
      restoreMs: Date.now() - started,
      checks: [...cluster.checks, ...later],
    };
    // The staged WAL is replayed: only the marker, the socket and the log stay beside the cluster.
    await removeTree(join(workDirOf(target.dataDir), 'wal'));
    writeMarker(target, { ...marker, status: 'done', result });
    return result;
  } catch (error) {
    await wipe(target, user, marker).catch(() => undefined);
    throw error;
  }
}

/** Newest base backup finished before the target (or the named one); physical backups only. */
async function chooseBaseBackup(storage: StorageBackend, trusted: TrustedKey[], source: string, recovery: RecoveryTarget, backupId: string | undefined): Promise<Manifest> {
  if (backupId && backupId !== 'latest') {
    const { manifest } = await findBackup(storage, trusted, source, backupId);
    if (!isPhysical(manifest.description)) throw notPhysical(source, manifest.id);
    return manifest;
  }
  const all = (await listBackups(storage, trusted, source)).map((entry) => entry.manifest);
  const physical = all.filter((m) => isPhysical(m.description));
  if (physical.length === 0) {
    if (all.length > 0) throw notPhysical(source, all.at(-1)!.id);
    throw new LifeboatError('BackupNotFound', `no base backup of ${source} in ${storage.location}`, `run "lifeboat backup ${source}" first`);
  }
  let usable = physical;
  if (recovery.time !== undefined) {
    const time = Date.parse(recovery.time);
    usable = physical.filter((m) => Date.parse(m.finishedAt) <= time);
  } else if (recovery.lsn !== undefined) {
    usable = physical.filter((m) => lsnValue((m.description as PostgresPhysicalDescription).stopLsn) <= lsnValue(recovery.lsn!));
  }
  const chosen = usable.at(-1);
  if (!chosen) {
    const oldest = physical[0]!;
    throw new LifeboatError('BackupNotFound',
      `no base backup of ${source} in ${storage.location} finished before ${recovery.time ?? recovery.lsn}: the oldest, ${oldest.id}, finished at ${oldest.finishedAt} (stop LSN ${(oldest.description as PostgresPhysicalDescription).stopLsn})`,
      'a point in time can only be reached from an earlier base backup: choose a later target');
  }
  return chosen;
}

function notPhysical(source: string, id: string): LifeboatError {
  return new LifeboatError('Unsupported', `backup ${id} of ${source} is a logical dump, not a base backup: it cannot be restored to a point in time`,
    'set mode: physical on the source and take a base backup, or restore the dump with --to URL');
}

export function lsnValue(lsn: string): bigint {
  const [high, low] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
}

async function wipe(target: ClusterTarget, user: string, marker: RestoreMarker): Promise<void> {
  await stopCluster(target.dataDir, user, majorOf(marker.serverVersion));
  await removeDataDir(target.dataDir, marker.dataDirExisted);
  // The data directory's pg_tblspc/<oid> links were removed as links: the mapped directories go on their own.
  for (const dir of marker.tablespaceDirs ?? []) await removeTree(dir.path, { keepRoot: dir.existed });
  await removeTree(socketDirOf(target.dataDir));
  await removeTree(workDirOf(target.dataDir));
}

/** Stops and deletes a cluster this owner restored, with its staging; anything else is left alone. Idempotent. */
export async function removeRestoredCluster(target: ClusterTarget, owner: string): Promise<{ removed: boolean; detail: string }> {
  const marker = readMarker(target);
  if (!marker) {
    return existsSync(target.dataDir) && readdirSync(target.dataDir).length > 0
      ? { removed: false, detail: `${target.dataDir} carries no Lifeboat restore marker: left alone` }
      : { removed: false, detail: `nothing restored at ${target.dataDir}` };
  }
  if (marker.owner !== owner) return { removed: false, detail: `${target.dataDir} was restored by ${marker.owner}, not ${owner}: left alone` };
  const stopped = postmasterPid(target.dataDir) !== undefined;
  await wipe(target, clusterUser(target.osUser), marker);
  return { removed: true, detail: `${stopped ? 'stopped and ' : ''}removed the cluster restored by ${owner} at ${target.dataDir} (port ${target.port})` };
}

