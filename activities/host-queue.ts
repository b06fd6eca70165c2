import { hostname } from 'node:os';
import { Context } from '@temporalio/activity';
import type { Config } from '../lib/config/schema';
import { hostQueue } from '../lib/task-queues';

/** worker.hostId, else the machine's name (as a queue name may carry it). */
export function hostIdOf(config: Config): string {
  return config.worker.hostId ?? (hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63) || 'host');
}

/**
 * Run on a region's shared queue, answers with the queue of the machine that took it: the
 * workflow sends the steps that must share that machine's disk there.
 */
export function hostQueueActivities(config: Config) {
  const hostId = hostIdOf(config);
  return {
    async hostTaskQueue(): Promise<string> {
      return hostQueue(Context.current().info.taskQueue, hostId);
    },
  };
}
