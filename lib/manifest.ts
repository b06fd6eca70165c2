import type { SourceKind } from './config/schema';

export const MANIFEST_FORMAT = 'lifeboat-manifest/1';

export interface StoredObject {
  key: string;
  /** data: the backup itself; state: what the next increment builds on (tar's snapshot file). */
  role: 'data' | 'state';
  /** What the object holds, e.g. "pg_dump custom format (-Fc -Z0)". */
  content: string;
  size: number;
  sha256: string;
}

export interface PostgresTable {
  schema: string;
  name: string;
  /** Exact count taken in the dump's own snapshot, or the planner's estimate; null for schema-only. */
  rows: number | null;
  rowsExact: boolean;
  bytes: number;
}

export interface PostgresDescription {
  kind: 'postgres';
  serverVersion: string;
  database: string;
  sizeBytes: number;
  tables: PostgresTable[];
  options: { schemaOnly: boolean; dataOnly: boolean; includeTables: string[]; excludeTables: string[] };
}

/**
 * A physical base backup (pg_basebackup -Ft -X fetch to stdout): the whole cluster as one tar,
 * carrying the WAL from startLsn to stopLsn itself, so it restores consistently without the
 * archive; WAL from `_wal/<source>/` (lib/wal.ts) replays it further, to a point in time.
 */
export interface PostgresPhysicalDescription {
  kind: 'postgres';
  mode: 'physical';
  serverVersion: string;
  /** pg_control's system identifier: WAL of another cluster cannot replay onto this backup. */
  systemIdentifier: string;
  timeline: number;
  startLsn: string;
  stopLsn: string;
  /** The first WAL segment recovery needs: where continuity is counted from. */
  startWalFile: string;
  stopWalFile: string;
  walSegmentBytes: number;
  /** START TIME from backup_label. */
  startTime: string;
  sizeBytes: number;
  databases: string[];
  /** The backup_manifest pg_basebackup wrote into the tar: pg_verifybackup checks the extracted files against it. */
  hasBackupManifest: boolean;
  /** The role with oid 10 (initdb's -U): a restored cluster is checked over its own socket as this role. */
  bootstrapSuperuser?: string;
  /**
   * The cluster's own tablespaces (not pg_default/pg_global), when it had any: the backup holds each
   * in place, as the directory pg_tblspc/<oid>/ of the data directory, and the server's tablespace_map
   * as tablespace_map.lifeboat. Absent in backups of clusters without, and in those from before.
   */
  tablespaces?: Array<{ oid: number; name: string; location: string; sizeBytes: number }>;
}

export interface RedisDescription {
  kind: 'redis';
  serverVersion: string;
  /** INFO replication at snapshot time: a replica that lags is worth knowing about. */
  role: string;
  connectedReplicas: number;
  replicaLagBytes: number | null;
  /** INFO keyspace: db index → keys and keys with a TTL. */
  keyspace: Record<string, { keys: number; expires: number }>;
  rdbBytes: number;
  /** Counted by redis-check-rdb in the snapshot itself: exact, unlike INFO taken a moment before. */
  rdbKeys: number;
  rdbExpires: number;
}

export interface FilesDescription {
  kind: 'files';
  root: string;
  /** 0 for a full backup; n for the nth increment after it. */
  level: number;
  include: string[];
  exclude: string[];
  /** The whole tree at backup time (not only what this increment holds): what a restore must recreate. */
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
  /** Files that vanished or changed while being read, as tar reported them: the first 200 lines, then one counting the rest. */
  warnings: string[];
  /** How many warning lines tar printed in all; absent in older manifests (then warnings.length). */
  warningCount?: number;
  /** Incremental state is kept encrypted; without the identity on the backup worker every backup is full. */
  incrementalNote?: string;
  /** A random sample of files hashed at backup time, which a restore verification compares with; absent in older manifests. */
  sample?: FileSample[];
}

export interface FileSample {
  /** Relative to root. */
  path: string;
  size: number;
  /** Seconds since the epoch, as tar restores it. */
  mtime: number;
  sha256: string;
}

export type SourceDescription = PostgresDescription | PostgresPhysicalDescription | RedisDescription | FilesDescription;

export function isPhysical(description: SourceDescription): description is PostgresPhysicalDescription {
  return description.kind === 'postgres' && 'mode' in description && description.mode === 'physical';
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  id: string;
  source: string;
  kind: SourceKind;
  region: string;
  startedAt: string;
  finishedAt: string;
  workflow: { workflowId: string; runId: string };
  objects: StoredObject[];
  compression: { algorithm: 'zstd'; level: number };
  encryption: { algorithm: 'age-x25519'; recipients: string[] };
  tools: Record<string, string>;
  description: SourceDescription;
  /** Incremental backups name the backup they build on; logical dumps have none. */
  parent: string | null;
  /** SHA-256 of the previous manifest of this source in this region: a tamper-evident chain. */
  previousManifestSha256: string | null;
  retentionTags: string[];
  /** The break-glass command for this backup, with no Lifeboat at hand. */
  restoreWith: string;
}

/**
 * What retention leaves where it deleted a backup: the deleted manifest's hash and link, so the
 * manifest chain of the backups after it can still be proven (a gap by retention is not a gap
 * by tampering), and so sync does not copy the backup back into a region that pruned it.
 */
export interface Tombstone {
  format: 'lifeboat-tombstone/1';
  source: string;
  id: string;
  finishedAt: string;
  manifestSha256: string;
  previousManifestSha256: string | null;
  deletedAt: string;
  reason: string;
}

export const HEAD_FORMAT = 'lifeboat-head/1';

/**
 * Written in the home region after each backup's manifest, numbered 1, 2, 3… per source and chained
 * by hash. Temporal remembers each backup's sequence too (the run's result and memo), so a bucket
 * rolled back to an older state, or stripped of its newest backups, disagrees with Temporal.
 */
export interface Head {
  format: typeof HEAD_FORMAT;
  source: string;
  sequence: number;
  backupId: string;
  manifestSha256: string;
  finishedAt: string;
  /** SHA-256 of the bytes of head sequence - 1; null for the first. */
  previousHeadSha256: string | null;
}

/** Layout in every region: <source>/<backup id>/manifest.json beside the backup's objects. */
export const keys = {
  sourcePrefix: (source: string) => `${source}/`,
  backupPrefix: (source: string, id: string) => `${source}/${id}/`,
  manifest: (source: string, id: string) => `${source}/${id}/manifest.json`,
  /** Left by retention in place of a deleted backup (see Tombstone). */
  tombstone: (source: string, id: string) => `${source}/${id}/deleted.json`,
  object: (source: string, id: string, name: string) => `${source}/${id}/${name}`,
  /** Head records (see Head) sit outside `<source>/`, so retention and sync never take them for a backup. */
  headPrefix: (source: string) => `_heads/${source}/`,
  /** `_heads/<source>/000000000042.json`: zero-padded, so keys sort by sequence. */
  head: (source: string, sequence: number) => `_heads/${source}/${String(sequence).padStart(12, '0')}.json`,
};

/**
 * Backup ids sort by time: UTC start time then a piece of the workflow run id, so a retried
 * activity of the same run writes to the same keys and two runs never collide.
 */
export function backupIdFor(startTime: Date, runId: string): string {
  const stamp = startTime.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  // Run ids are UUIDv7: the leading digits are a timestamp, the tail is random.
  return `${stamp}-${runId.replace(/-/g, '').slice(-12)}`;
}

/** How many warning lines tar printed (files); 0 for other kinds. */
export function warningsOf(description: SourceDescription): number {
  return description.kind === 'files' ? description.warningCount ?? description.warnings.length : 0;
}

/** One phrase for summaries and listings: "12 tables", "2,345 keys", "1,200 files (increment 2)". */
export function brief(description: SourceDescription): string {
  // The schema checks only the kind: a manifest from another Lifeboat version may describe its
  // contents differently, and a listing must not fail on it.
  const count = (n: unknown, noun: string) => (typeof n === 'number' ? `${n} ${noun}${n === 1 ? '' : 's'}` : `? ${noun}s`);
  switch (description.kind) {
    case 'postgres':
      return 'mode' in description ? `base backup of ${count(description.databases?.length, 'database')}` : count(description.tables?.length, 'table');
    case 'redis':
      return count(description.rdbKeys, 'key');
    case 'files':
      return `${count(description.files, 'file')}${description.level > 0 ? ` (increment ${description.level})` : ' (full)'}`;
  }
}
