// Shared by the workflow (child starts from backupSource) and the CLI: one sync per source at a
// time, and one of everything. "lifeboat-sync" cannot collide with "lifeboat-sync-<source>".
export function syncWorkflowId(source?: string): string {
  return source === undefined ? 'lifeboat-sync' : `lifeboat-sync-${source}`;
}
