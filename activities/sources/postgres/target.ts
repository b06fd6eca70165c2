import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LifeboatError } from '../../../lib/errors';
import { advance } from '../../progress';
import { classifyConnectError, connect, databaseName, quoteIdent, redact, withDatabase, type PgTarget } from './connect';
import { countRows } from './describe';

/** Read-only look at a restore target: does the database exist, and does it hold anything? */
export async function inspectTarget(target: PgTarget): Promise<{ exists: boolean; relations: number }> {
  let client;
  try {
    client = await connect(target, 'restore target');
  } catch (error) {
    if (error instanceof LifeboatError && /does not exist/.test(error.message)) return { exists: false, relations: 0 };
    throw error;
  }
  try {
    const { rows } = await client.query<{ n: string }>(`
      select count(*) as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
         and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'`);
    return { exists: true, relations: Number(rows[0]!.n) };
  } finally {
    await client.end();
  }
}

/** CREATE DATABASE through the server's maintenance database; an existing one is fine. */
export async function createDatabase(target: PgTarget): Promise<void> {
  const client = await connect({ ...target, url: withDatabase(target.url, 'postgres') }, 'restore target server');
  try {
    await client.query(`create database ${quoteIdent(databaseName(target.url))}`);
  } catch (error) {
    if ((error as { code?: string }).code !== '42P04') throw classifyConnectError(error, redact(target.url), 'create database');
  } finally {
    await client.end();
  }
}

/** WITH (FORCE): a database Lifeboat drops is its own (new for this restore), and nobody else's session may keep it. */
export async function dropDatabase(target: PgTarget): Promise<void> {
  const client = await connect({ ...target, url: withDatabase(target.url, 'postgres') }, 'restore target server');
  try {
    await client.query(`drop database if exists ${quoteIdent(databaseName(target.url))} with (force)`);
  } finally {
    await client.end();
  }
}

export async function restoredRowCounts(target: PgTarget): Promise<Map<string, number>> {
  const client = await connect(target, 'restored database');
  try {
    return await countRows(client);
  } finally {
    await client.end();
  }
}

/**
 * Where a restore into a new database goes first: a name that says so, unique to the target and
 * the backup (so a retried attempt finds its own), within PostgreSQL's 63 bytes.
 */
export function stagingName(target: string, backupId: string): string {
  const tag = createHash('sha256').update(`${target}\0${backupId}`).digest('hex').slice(0, 10);
  return `lifeboat_staging_${tag}`;
}

/** How long a rename waits for the sessions autovacuum opens on a freshly loaded database. */
const RENAME_PATIENCE_MS = 120_000;

/**
 * ALTER DATABASE … RENAME, which needs the staging database to have no session: after a large
 * load autovacuum is usually in it. New sessions are refused first, autovacuum's are ended where
 * this role may (superuser or pg_signal_backend), and the rename is tried again until it goes.
 */
export async function renameDatabase(staging: PgTarget, to: string, patienceMs = RENAME_PATIENCE_MS): Promise<void> {
  const from = databaseName(staging.url);
  const client = await connect({ ...staging, url: withDatabase(staging.url, 'postgres') }, 'restore target server');
  try {
    await client.query(`alter database ${quoteIdent(from)} allow_connections false`);
    const deadline = Date.now() + patienceMs;
    for (;;) {
      try {
        await client.query(`alter database ${quoteIdent(from)} rename to ${quoteIdent(to)}`);
        break;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === '42P04') {
          throw new LifeboatError('TargetNotEmpty', `database ${to} was created by someone else while the backup was restored beside it`,
            'restore again into a new database name, or drop that database first');
        }
        if (code !== '55006' || Date.now() > deadline) {
          throw new LifeboatError('StagingKept', `the restore is complete and verified in database ${from}, but it could not be renamed to ${to}: ${(error as Error).message}`,
            `close the sessions in ${from}, then: ALTER DATABASE ${quoteIdent(from)} ALLOW_CONNECTIONS true; ALTER DATABASE ${quoteIdent(from)} RENAME TO ${quoteIdent(to)}`);
        }
        await client.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and backend_type = 'autovacuum worker'`, [from]).catch(() => undefined);
        advance({ phase: `waiting for sessions to leave ${from}` });
        await sleep(200);
      }
    }
    await client.query(`alter database ${quoteIdent(to)} allow_connections true`);
  } finally {
    await client.end();
  }
}

/** pg_database_size of the target's database: progress while pg_restore works on its own. */
export async function databaseSize(target: PgTarget): Promise<number> {
  const client = await connect({ ...target, url: withDatabase(target.url, 'postgres') }, 'restore target server');
  try {
    const { rows } = await client.query<{ bytes: string }>('select pg_database_size($1) as bytes', [databaseName(target.url)]);
    return Number(rows[0]!.bytes);
  } finally {
    await client.end();
  }
}
