// Workflow ids that mean something: one id per job that must never run twice at once. They carry
// the config's taskQueuePrefix, so two Lifeboat deployments on one namespace never collide.

/** The one backup of a source that may run: a manual `lifeboat backup` and a scheduled run share it. */
export function backupWorkflowId(prefix: string, source: string): string {
  return `${prefix}backup-${source}`;
}
