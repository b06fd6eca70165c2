// What Lifeboat tells operators about. Workflows raise these through the sendAlert activity
// (workflows/alert.ts), never from workflow code itself; channels are in config `alerts.channels`.

export type AlertKind =
  | 'backup-failed'
  | 'backup-succeeded'
  | 'size-change'
  | 'rpo-missed'
  | 'sync-lag'
  | 'sync-failed'
  /** A region holds a backup whose manifest differs from the home region's: never overwritten, both copies verified. */
  | 'sync-divergent'
  | 'retention-blocked'
  | 'retention-failed'
  /** A manifest, tombstone or record no trusted key signed (or not sane): never restored; someone may have forged it. */
  | 'untrusted'
  /** Temporal saw a backup complete that the catalog lost, or the signed head records went backwards: someone deleted or rolled back the bucket. */
  | 'catalog-rollback'
  | 'verify-failed'
  | 'wal-gap'
  | 'wal-ship-failed'
  | 'failover-approval'
  | 'failover-report'
  | 'failover-failed';

export type AlertSeverity = 'critical' | 'warning' | 'info';

export interface Alert {
  kind: AlertKind;
  severity: AlertSeverity;
  /** One line: "app-db: backup failed (SourceUnreachable)". */
  title: string;
  /** What happened and what to do next; plain text, a few lines at most. */
  text: string;
  source?: string;
  region?: string;
  /** Workflow that raised it, so the receiver can link to the Temporal UI. */
  workflowId?: string;
  /** Machine-readable facts (sizes, ages in seconds, failure type); never a secret. */
  details?: Record<string, string | number | boolean | null>;
  /** ISO time, from the workflow's clock. */
  at: string;
}
