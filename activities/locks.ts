import { LifeboatError } from '../lib/errors';
import { keys } from '../lib/manifest';
import type { StorageBackend } from './storage/backend';

// What S3 Object Lock does to a backup's objects: retention asks before it deletes, and an operator
// sets a legal hold. On storage without Object Lock nothing is ever held.

/**
 * Why Object Lock keeps any object under prefix at `now`: "held by legal hold", "held by Object
 * Lock until <latest retain-until>", or undefined when nothing is held (or the storage has no lock).
 */
export async function heldReason(storage: StorageBackend, prefix: string, now: number, skip: string[] = []): Promise<string | undefined> {
  if (!storage.locks || !(await storage.features()).objectLock) return undefined;
  let until = 0;
  let hold = false;
  for await (const object of storage.list(prefix)) {
    if (skip.includes(object.key)) continue;
    const state = await storage.locks.state(object.key);
    hold ||= state.legalHold;
    if (state.retainUntil && state.retainUntil.getTime() > now) until = Math.max(until, state.retainUntil.getTime());
  }
  const reasons = [...(hold ? ['held by legal hold'] : []), ...(until > 0 ? [`held by Object Lock until ${new Date(until).toISOString()}`] : [])];
  return reasons.length > 0 ? reasons.join(', ') : undefined;
}

/** Moves the retain-until date of every object of a backup to `until` (never earlier); the number of objects. */
export async function extendBackupLock(storage: StorageBackend, source: string, id: string, until: Date): Promise<number> {
  const locks = await requireLocks(storage);
  let objects = 0;
  for await (const object of storage.list(keys.backupPrefix(source, id))) {
    await locks.extend(object.key, until);
    objects += 1;
  }
  return objects;
}

/** Sets or clears the legal hold on every object of a backup; the number of objects. */
export async function setBackupHold(storage: StorageBackend, source: string, id: string, on: boolean): Promise<number> {
  const locks = await requireLocks(storage);
  if (!(await storage.stat(keys.manifest(source, id)))) {
    throw new LifeboatError('BackupNotFound', `${storage.location}: no backup ${id} of ${source}`, 'run "lifeboat backups list" to see what is stored');
  }
  let objects = 0;
  for await (const object of storage.list(keys.backupPrefix(source, id))) {
    await locks.legalHold(object.key, on);
    objects += 1;
  }
  return objects;
}

async function requireLocks(storage: StorageBackend): Promise<NonNullable<StorageBackend['locks']>> {
  if (!storage.locks || !(await storage.features()).objectLock) {
    throw new LifeboatError('Unsupported', `${storage.location} has no S3 Object Lock: a backup there cannot be held or locked`,
      'legal holds need an S3 bucket created with Object Lock (aws s3api create-bucket --object-lock-enabled-for-bucket) and regions.<region>.storage.objectLock in the config');
  }
  return storage.locks;
}
