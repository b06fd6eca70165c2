import { keys } from '../lib/manifest';
import { readAll, type StorageBackend } from './storage/backend';

// Restore tests (issue 5) leave one record per run beside the backup they tested:
// <source>/<id>/verify/<timestamp>.json, with "outcome": "passed" when the restore checked out.
// Retention only reads them: the newest backup that passed one is never deleted.

export const verifyRecordKey = (source: string, id: string, timestamp: string) => `${keys.backupPrefix(source, id)}verify/${timestamp}.json`;

/** The backup id a key is the verify record of, or undefined when the key is something else. */
export function verifyRecordOf(source: string, key: string): string | undefined {
  const match = /^([^/]+)\/verify\/[^/]+\.json$/.exec(key.slice(keys.sourcePrefix(source).length));
  return key.startsWith(keys.sourcePrefix(source)) ? match?.[1] : undefined;
}

/**
 * Whether the record says the restore passed. A record that does not parse proves nothing and
 * counts as not passed; a storage error fails the scan (and is retried), since guessing "not
 * verified" could let an older backup stand in for the newest verified one.
 */
export async function recordPassed(storage: StorageBackend, key: string): Promise<boolean> {
  const text = (await readAll(await storage.get(key))).toString('utf8');
  try {
    return (JSON.parse(text) as { outcome?: unknown } | null)?.outcome === 'passed';
  } catch {
    return false;
  }
}
