// A region's work is served on three queues (worker/shape.ts). Region names cannot hold a dot,
// so these never collide with another region's queue.

/** Streaming activities (backup, restore, copy, integrity read): a few at a time per machine. */
export function heavyQueue(regionQueue: string): string {
  return `${regionQueue}.heavy`;
}

/**
 * One machine's own queue, for steps that need the files an earlier step left there (a scratch
 * restore, its checks and cleanup; a failover's restore, verify and teardown): the
 * samples-typescript worker-specific-task-queues pattern, keyed by a stable host id so a
 * restarted worker on the same machine picks the steps up again.
 */
export function hostQueue(regionQueue: string, hostId: string): string {
  return `${regionQueue}.host.${hostId}`;
}
