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
