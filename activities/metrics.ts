import { Counter, Registry } from 'prom-client';

// What this worker process did, counted as it happens. The per-source gauges (last success,
// stored bytes, lag) are not here: they are read from the catalogs (worker/metrics/catalog.ts),
// because every worker must report the same truth, not only the backups it ran itself.

/** One registry per process, served by the worker at /metrics next to the Temporal SDK's own. */
export const registry = new Registry();

const activityFailures = new Counter({
  name: 'lifeboat_activity_failures_total',
  help: 'Failed activity attempts by failure type; final="true" when Temporal will not retry the attempt.',
  labelNames: ['type', 'activity', 'final'] as const,
  registers: [registry],
});

const retentionDeletions = new Counter({
  name: 'lifeboat_retention_deletions_total',
  help: 'Backups deleted by retention, per source and region.',
  labelNames: ['source', 'region'] as const,
  registers: [registry],
});

const alertsSent = new Counter({
  name: 'lifeboat_alerts_total',
  help: 'Alert send attempts by kind, channel and result: sent, retry (Temporal sends it again), failed (given up: refused or out of attempts).',
  labelNames: ['kind', 'channel', 'result'] as const,
  registers: [registry],
});

export function countFailure(type: string, activity: string, final: boolean): void {
  activityFailures.inc({ type, activity, final: String(final) });
}

/** For applyRetention: call once per backup copy removed (after its manifest is gone). */
export function countRetentionDeletion(source: string, region: string, count = 1): void {
  retentionDeletions.inc({ source, region }, count);
}

export function countAlert(kind: string, channel: string, result: 'sent' | 'retry' | 'failed'): void {
  alertsSent.inc({ kind, channel, result });
}
