// A region's work is served on three queues, and a WAL spool's on a fourth (worker/shape.ts). Region names cannot hold a dot,
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

/**
 * The queue of the machine that holds a source's WAL spool: only a worker that finds the spool
 * directory at start polls it, so a round never lands on a machine of the region that has no
 * spool (or an empty directory of the same name that would ship nothing while the real one fills).
 */
export function spoolQueue(regionQueue: string, source: string): string {
  return `${regionQueue}.spool.${source}`;
}
