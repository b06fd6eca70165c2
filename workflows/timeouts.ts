import type { ActivityOptions } from '@temporalio/workflow';

// Named presets, so each call site says what kind of work it starts rather than repeating numbers.
export const shortCall: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
};

export function streaming(taskQueue: string, heartbeatTimeoutMs: number): ActivityOptions {
  return {
    taskQueue,
    // A backup of a large database may run for many hours; the heartbeat is what detects a dead worker.
    startToCloseTimeout: '48 hours',
    heartbeatTimeout: heartbeatTimeoutMs,
    // A worker of the region may be down for a while; waiting is better than failing the run.
    scheduleToStartTimeout: '1 hour',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 20 },
  };
}

/**
 * For an activity whose cancellation a later step depends on (discard after a snapshot, cleanup
 * after a scratch restore, teardown after a failover restore): the workflow goes on only once the
 * activity has stopped. The activity learns of the cancellation from its heartbeat's answer.
 */
export const stopsBeforeNextStep: Pick<ActivityOptions, 'cancellationType'> = { cancellationType: 'WAIT_CANCELLATION_COMPLETED' };
