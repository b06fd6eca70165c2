import type { StorageBackend } from '../../activities/storage/backend';

/**
 * What bit rot, or someone holding the bucket's keys, does to a stored object: its bytes replaced.
 * Lifeboat's own writes never overwrite (storage is write-once), so the old object goes first.
 */
export async function replaceObject(storage: StorageBackend, key: string, data: Buffer): Promise<void> {
  await storage.remove(key);
  await storage.put(key, data);
}
