import type { WorkerOptions } from '@temporalio/worker';
import { hostIdOf } from '../activities/host-queue';
import type { Config } from '../lib/config/schema';
import { parseDuration } from '../lib/config/duration';
import { existsSync } from 'node:fs';
import { heavyQueue, hostQueue, spoolQueue } from '../lib/task-queues';

/** What differs between a region's three workers in one process; connection, activities and bundle are shared. */
export type QueueShape = Pick<WorkerOptions, 'taskQueue' | 'maxConcurrentActivityTaskExecutions' | 'maxCachedWorkflows' | 'shutdownGraceTime' | 'shutdownForceTime' | 'identity'> & {
  /** Only the region queue runs workflows; the others only activities. */
  workflows: boolean;
  /** A WAL spool's queue: the source whose spool is on this machine. */
  spool?: string;
};

/**
 * Per region: the region queue (workflows and light activities, lightSlots at once), its heavy
 * queue (streaming activities, heavySlots at once: each holds a pipeline of processes and up to
 * a few upload parts in memory) and this machine's own queue (host-affine steps, heavySlots at once).
 * On shutdown, running activities get shutdownGrace to finish; then they are cancelled, and being
 * heartbeated, resume from their last checkpoint on the next worker.
 */
export function queueShapes(config: Config, regionQueue: string): QueueShape[] {
  const { heavySlots, lightSlots, maxCachedWorkflows, shutdownGrace } = config.worker;
  const graceMs = parseDuration(shutdownGrace);
  const hostId = hostIdOf(config);
  const common = {
    shutdownGraceTime: graceMs,
    // A tool that ignores the cancellation must not keep a stopping worker alive for ever.
    shutdownForceTime: graceMs + 30_000,
    identity: `${process.pid}@${hostId}`,
  };
  return [
    { ...common, taskQueue: regionQueue, workflows: true, maxConcurrentActivityTaskExecutions: lightSlots, maxCachedWorkflows },
    { ...common, taskQueue: heavyQueue(regionQueue), workflows: false, maxConcurrentActivityTaskExecutions: heavySlots },
    { ...common, taskQueue: hostQueue(regionQueue, hostId), workflows: false, maxConcurrentActivityTaskExecutions: heavySlots },
    // One round at a time per spool: two would race for the same files.
    ...spoolsHere(config, regionQueue).map((spool) => ({ ...common, taskQueue: spoolQueue(regionQueue, spool), workflows: false, maxConcurrentActivityTaskExecutions: 1, spool })),
  ];
}

/** The WAL sources of this queue's region whose spool directory is on this machine. */
function spoolsHere(config: Config, regionQueue: string): string[] {
  return Object.entries(config.sources)
    .filter(([, source]) => source.kind === 'postgres' && source.wal && `${config.temporal.taskQueuePrefix}${source.region}` === regionQueue && existsSync(source.wal.spool))
    .map(([name]) => name);
}
