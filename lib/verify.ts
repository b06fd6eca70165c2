// What a verification proves and records. The record is stored next to the manifest it verified,
// `<source>/<id>/verify/<timestamp>.json` in the region it verified, so any surviving region
// knows which of its backups were proven restorable (retention's "newest verified" interlock
// reads exactly this: activities/verify-records.ts).

export type VerifyLevel = 'integrity' | 'restore';

export interface CheckOutcome {
  /** "sha256 dump.pgcustom.zst.age", "manifest chain", "row count public.orders", "user check 1". */
  name: string;
  ok: boolean;
  /** What was expected and what was found, in one line. */
  detail: string;
}

/** What the restore level returns for one backup (activities/verify/restore-level.ts). */
export interface RestoreLevelResult {
  checks: CheckOutcome[];
  /** Fetch, verify, decrypt, decompress and restore into the scratch target: the measured RTO. */
  restoreMs: number;
  /** Stored bytes read. */
  bytes: number;
  tools: Record<string, string>;
}

export interface VerifyRecord {
  format: 'lifeboat-verify/1';
  source: string;
  kind: string;
  region: string;
  backupId: string;
  level: VerifyLevel;
  outcome: 'passed' | 'failed';
  startedAt: string;
  finishedAt: string;
  /** Restore level only: the restore's duration, the RTO this backup proved. */
  restoreMs: number | null;
  bytes: number;
  checks: CheckOutcome[];
  tools: Record<string, string>;
  workflow: { workflowId: string; runId: string };
}
