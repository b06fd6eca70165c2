import { patched, type ActivityOptions } from '@temporalio/workflow';
import { heavyQueue } from '../lib/task-queues';

// Named presets, so each call site says what kind of work it starts rather than repeating numbers.
export const shortCall: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
};

export function streaming(taskQueue: string, heartbeatTimeoutMs: number): ActivityOptions {
  return {
    // A few at a time per machine (worker.heavySlots); runs started before the heavy queues keep their queue.
    taskQueue: patched('lifeboat-heavy-queue') ? heavyQueue(taskQueue) : taskQueue,
    // A backup of a large database may run for many hours; the heartbeat is what detects a dead worker.
    startToCloseTimeout: '48 hours',
    heartbeatTimeout: heartbeatTimeoutMs,
    // A worker of the region may be down for a while; waiting is better than failing the run.
    scheduleToStartTimeout: '1 hour',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 20 },
  };
}

/**
 * Reads or rewrites a region's catalog (scans, manifests, deletes): as long as the catalog is large,
 * so it heartbeats from its first line (activities/progress.ts) and gets an hour rather than a minute.
 */
export function catalogScan(heartbeatTimeout: number | string = '1 minute'): ActivityOptions {
  return { ...shortCall, startToCloseTimeout: '1 hour', heartbeatTimeout };
}

/**
 * A failover's restore and verify: progress-checked like any stream, and bounded by the recovery
 * time objective, all attempts together, because a restore still running past the RTO has missed it
 * and the operator must hear so rather than wait for 48 hours of retries.
 */
export function failoverStream(taskQueue: string, heartbeatTimeoutMs: number, rtoMs: number | undefined): ActivityOptions {
  const base: ActivityOptions = { ...streaming(taskQueue, heartbeatTimeoutMs), retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 } };
  return rtoMs === undefined ? base : { ...base, scheduleToCloseTimeout: rtoMs, startToCloseTimeout: rtoMs };
}

/**
 * For an activity whose cancellation a later step depends on (discard after a snapshot, cleanup
 * after a scratch restore, teardown after a failover restore): the workflow goes on only once the
 * activity has stopped. The activity learns of the cancellation from its heartbeat's answer.
 */
export const stopsBeforeNextStep: Pick<ActivityOptions, 'cancellationType'> = { cancellationType: 'WAIT_CANCELLATION_COMPLETED' };
