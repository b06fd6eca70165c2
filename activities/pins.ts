import { LifeboatError } from '../lib/errors';
import type { FailoverPlan } from '../lib/failover';
import { parsePin, pinKeys, pinReason, PIN_FORMAT, type Pin } from '../lib/pins';
import { readAll, type StorageBackend } from './storage/backend';

export interface PinOwner {
  workflowId: string;
  runId: string;
}

/**
 * Pins every backup the plan names in its region, and drops the run's pins of backups an earlier
 * plan named (a refreshed plan may choose a newer backup). Idempotent: a pin already there stays.
 */
export async function pinPlan(storage: StorageBackend, plan: FailoverPlan, owner: PinOwner, untilMs: number, now = new Date()): Promise<void> {
  for (const { source, backupId } of plan.sources) {
    const key = pinKeys.pin(source, backupId, owner.runId);
    if (!(await storage.stat(key))) {
      const pin: Pin = {
        format: PIN_FORMAT, source, region: plan.targetRegion, backupId, workflowId: owner.workflowId, runId: owner.runId,
        drill: plan.drill, planHash: plan.planHash, pinnedAt: now.toISOString(), until: new Date(untilMs).toISOString(),
      };
      await storage.put(key, Buffer.from(JSON.stringify(pin)));
    }
    for (const stale of await runPins(storage, source, owner.runId)) if (stale !== key) await storage.remove(stale);
  }
}

/** Removes every pin of this run for these sources; removing none succeeds. */
export async function unpinRun(storage: StorageBackend, sources: string[], runId: string): Promise<number> {
  let removed = 0;
  for (const source of sources) {
    for (const key of await runPins(storage, source, runId)) {
      await storage.remove(key);
      removed += 1;
    }
  }
  return removed;
}

/** The source's backups pinned in this storage now, each with the reason retention reports. */
export async function activePins(storage: StorageBackend, source: string, now: number): Promise<Map<string, string>> {
  const pinned = new Map<string, string>();
  for await (const object of storage.list(pinKeys.prefix(source))) {
    const text = await readAll(await storage.get(object.key)).then((bytes) => bytes.toString('utf8'), (error: unknown) => {
      // Unpinned between the listing and the read.
      if (error instanceof LifeboatError && error.type === 'BackupNotFound') return '';
      throw error;
    });
    const pin = parsePin(text);
    if (!pin || pin.source !== source || Date.parse(pin.until) <= now) continue;
    if (!pinned.has(pin.backupId)) pinned.set(pin.backupId, pinReason(pin));
  }
  return pinned;
}

async function runPins(storage: StorageBackend, source: string, runId: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of storage.list(pinKeys.prefix(source))) if (object.key.endsWith(`/${runId}.json`)) found.push(object.key);
  return found;
}
