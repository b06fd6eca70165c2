import type { SourceKind } from './config/schema';

export const MANIFEST_FORMAT = 'lifeboat-manifest/1';

export interface StoredObject {
  key: string;
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

export type SourceDescription = PostgresDescription;

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

/** Layout in every region: <source>/<backup id>/manifest.json beside the backup's objects. */
export const keys = {
  sourcePrefix: (source: string) => `${source}/`,
  backupPrefix: (source: string, id: string) => `${source}/${id}/`,
  manifest: (source: string, id: string) => `${source}/${id}/manifest.json`,
  object: (source: string, id: string, name: string) => `${source}/${id}/${name}`,
};

/**
 * Backup ids sort by time: UTC start time then a piece of the workflow run id, so a retried
 * activity of the same run writes to the same keys and two runs never collide.
 */
export function backupIdFor(startTime: Date, runId: string): string {
  const stamp = startTime.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${runId.replace(/-/g, '').slice(0, 8)}`;
}
