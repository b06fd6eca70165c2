import { keys } from '../lib/manifest';

// Restore tests (issue 5) leave one record per run beside the backup they tested:
// <source>/<id>/verify/<timestamp>.json, with "outcome": "passed" when the restore checked out.
// Retention only reads them: the newest backup that passed one is never deleted.

export const verifyRecordKey = (source: string, id: string, timestamp: string) => `${keys.backupPrefix(source, id)}verify/${timestamp}.json`;

/** The backup id a key is the verify record of, or undefined when the key is something else. */
export function verifyRecordOf(source: string, key: string): string | undefined {
  const match = /^([^/]+)\/verify\/[^/]+\.json$/.exec(key.slice(keys.sourcePrefix(source).length));
  return key.startsWith(keys.sourcePrefix(source)) ? match?.[1] : undefined;
}
