import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { LifeboatError } from '../../../lib/errors';

// pg_basebackup -X fetch reads the backup's WAL from pg_wal at the end, so a checkpoint during a long
// backup could recycle it ("requested WAL segment … has already been removed"). -X stream would hold
// it with a slot of its own, but it refuses a tar on stdout (the WAL would be a second tar, staged on
// local disk). A temporary slot on the connection Lifeboat already keeps open for the snapshot holds
// the WAL instead: it reserves from the last checkpoint's redo, before the backup's own checkpoint,
// and PostgreSQL drops it when the session ends, so a crashed worker never leaves WAL pinned.

/** Creates the slot on `client`'s session; it lives until the client ends. Returns its name. */
export async function holdWal(client: pg.Client, source: string, what = `pg_basebackup of ${source}`): Promise<string> {
  // Slot names: lower-case letters, digits and underscores; unique per attempt.
  const slot = `lifeboat_basebackup_${randomBytes(6).toString('hex')}`;
  // An idle session the server ends would take the slot with it. First, since any error in the
  // session after the slot exists releases it; PostgreSQL before 14 has no such setting.
  await client.query('set idle_session_timeout = 0').catch(() => undefined);
  try {
    await client.query('select pg_create_physical_replication_slot($1, true, true)', [slot]);
  } catch (error) {
    throw slotError(error, what);
  }
  return slot;
}

function slotError(error: unknown, backup: string): Error {
  const message = (error as Error).message;
  const code = (error as { code?: string }).code;
  const what = `${backup}: cannot create the temporary replication slot that keeps the backup's WAL`;
  if (/max_replication_slots > 0/.test(message) || code === '53400') {
    return new LifeboatError('Config', `${what}: ${message}`,
      'a base backup needs one free replication slot while it runs: raise max_replication_slots on the server (and restart), or drop unused slots (docs/pitr.md)');
  }
  if (code === '42501') {
    return new LifeboatError('Config', `${backup}: the backup user may not replicate: ${message}`, 'ALTER ROLE … REPLICATION (docs/pitr.md)');
  }
  return error as Error;
}

/** The server removed WAL the backup still needed: only when max_slot_wal_keep_size invalidated the slot. */
export function walRemovedError(stderr: string, source: string): LifeboatError | undefined {
  const line = /requested WAL segment \S+ has already been removed/i.exec(stderr)?.[0];
  if (!line) return undefined;
  return new LifeboatError('ToolFailed', `pg_basebackup of ${source}: the server removed WAL the backup needed before it ended (${line})`,
    'the backup holds its WAL with a temporary replication slot; max_slot_wal_keep_size on the server caps what a slot may hold: raise it (or -1) so a whole backup fits (docs/pitr.md)');
}
