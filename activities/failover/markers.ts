import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { connect, databaseName, quoteIdent, withDatabase, type PgTarget } from '../sources/postgres/connect';

// What says "this failover run put it there": a retried restore may clear its own half-done
// attempt, and a teardown removes only what this run restored, never what was there before.

/** The marker's text for one run and source: the workflow's run, so a new failover never takes an old one's target for its own. */
export function markerText(runKey: string, source: string): string {
  return `lifeboat-failover ${runKey} ${source}`;
}

/** Beside the directory, not in it: a restored tree is compared file by file with its manifest. */
export function markerFile(directory: string): string {
  return join(dirname(directory), `.${basename(directory)}.lifeboat-failover`);
}

export function hasMarker(directory: string, text: string): boolean {
  const file = markerFile(directory);
  return existsSync(file) && readFileSync(file, 'utf8').trim() === text;
}

export function writeMarker(directory: string, text: string): void {
  writeFileSync(markerFile(directory), `${text}\n`);
}

/** The database's comment is its marker: it lives and dies with the database. */
export async function databaseMarker(target: PgTarget): Promise<{ exists: boolean; comment: string | null }> {
  const client = await connect({ ...target, url: withDatabase(target.url, 'postgres') }, 'failover target server');
  try {
    const { rows } = await client.query<{ comment: string | null }>(
      `select shobj_description(oid, 'pg_database') as comment from pg_database where datname = $1`, [databaseName(target.url)]);
    return rows.length === 0 ? { exists: false, comment: null } : { exists: true, comment: rows[0]!.comment };
  } finally {
    await client.end();
  }
}

export async function markDatabase(target: PgTarget, text: string): Promise<void> {
  const client = await connect({ ...target, url: withDatabase(target.url, 'postgres') }, 'failover target server');
  try {
    await client.query(`comment on database ${quoteIdent(databaseName(target.url))} is '${text.replace(/'/g, "''")}'`);
  } finally {
    await client.end();
  }
}
