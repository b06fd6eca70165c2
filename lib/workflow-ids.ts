// Workflow ids that mean something: one id per job that must never run twice at once. They carry
// the config's taskQueuePrefix, so two Lifeboat deployments on one namespace never collide.

/** The one backup of a source that may run: a manual `lifeboat backup` and a scheduled run share it. */
export function backupWorkflowId(prefix: string, source: string): string {
  return `${prefix}backup-${source}`;
}

/**
 * The one sync of a source that may run (after a backup, by hand, or as a child of a sync of
 * every source); without a source, the sync of every source. "<prefix>sync" cannot collide with
 * "<prefix>sync-<source>".
 */
export function syncWorkflowId(prefix: string, source?: string): string {
  return source === undefined ? `${prefix}sync` : `${prefix}sync-${source}`;
}

/** One retention run at a time for every source, and one per named source. */
export function retentionWorkflowId(prefix: string, source?: string): string {
  return source === undefined ? `${prefix}retention` : `${prefix}retention-${source}`;
}

/** One verification of a source at a time, whatever its level: two would compete for the scratch targets. */
export function verifyWorkflowId(prefix: string, source: string): string {
  return `${prefix}verify-${source}`;
}

/** The one WAL shipper of a source: it runs for good, continuing as new. */
export function walShipperWorkflowId(prefix: string, source: string): string {
  return `${prefix}wal-${source}`;
}

/** One failover at a time, and one drill at a time: two would restore into the same targets. */
export function failoverWorkflowId(prefix: string, drill: boolean): string {
  return drill ? `${prefix}failover-drill` : `${prefix}failover`;
}
