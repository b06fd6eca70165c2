import { LifeboatError } from '../../../lib/errors';
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

export async function dropDatabase(target: PgTarget): Promise<void> {
  const client = await connect({ ...target, url: withDatabase(target.url, 'postgres') }, 'restore target server');
  try {
    await client.query(`drop database if exists ${quoteIdent(databaseName(target.url))}`);
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
