import type pg from 'pg';
import type { PostgresTable } from '../../../lib/manifest';
import { quoteIdent } from './connect';

export interface TableFilter {
  include: string[];
  exclude: string[];
}

/**
 * pg_dump's -t/-T patterns, simplified: [schema.]table with * and ? wildcards, unquoted names
 * folded to lower case. Used only to decide which tables' row counts the manifest records.
 */
export function matchesPattern(pattern: string, schema: string, table: string): boolean {
  const [patternSchema, patternTable] = pattern.includes('.') ? pattern.split('.', 2) as [string, string] : [undefined, pattern];
  const toRegex = (glob: string) => new RegExp(`^${glob.replace(/"/g, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  const fold = (glob: string) => (glob.startsWith('"') ? glob : glob.toLowerCase());
  return (patternSchema === undefined || toRegex(fold(patternSchema)).test(schema)) && toRegex(fold(patternTable)).test(table);
}

export function included(filter: TableFilter, schema: string, table: string): boolean {
  if (filter.include.length > 0 && !filter.include.some((p) => matchesPattern(p, schema, table))) return false;
  return !filter.exclude.some((p) => matchesPattern(p, schema, table));
}

/** Runs one batch of per-table queries; the snapshot describe runs each in its own transaction in the dump's snapshot. */
export type BatchRunner = <T extends pg.QueryResultRow>(text: string) => Promise<T[]>;

/** Tables per statement: each takes a lock per table until its transaction ends, so a batch bounds them. */
const BATCH = 200;

/**
 * Tables with their sizes and row counts. The list comes from the catalog (no table locks); sizes
 * and counts, which lock each table they read, in batches of 200 through `batch`: a database of
 * 20,000 tables must not hold 20,000 more locks beside pg_dump's own (the server's lock table is
 * sized by max_locks_per_transaction, and both would not fit), nor send one query per table.
 */
export async function describeTables(client: pg.Client, filter: TableFilter, exact: boolean, withData: boolean, batch: BatchRunner = autocommit(client)): Promise<PostgresTable[]> {
  const { rows } = await client.query<{ schema: string; name: string; oid: string; estimate: string }>(`
    select n.nspname as schema, c.relname as name, c.oid::text as oid, greatest(c.reltuples, 0)::bigint as estimate
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
       and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'
     order by 1, 2`);
  const chosen = rows.filter((row) => included(filter, row.schema, row.name));
  const counting = withData && exact;
  const tables: PostgresTable[] = [];
  for (let i = 0; i < chosen.length; i += BATCH) {
    const slice = chosen.slice(i, i + BATCH);
    const measured = await batch<{ i: number; bytes: string | null; n: string | null }>(slice.map((row, index) =>
      `select ${index} as i, pg_total_relation_size(${Number(row.oid)}::oid) as bytes, ${counting ? `(select count(*) from only ${quoteIdent(row.schema)}.${quoteIdent(row.name)})` : 'null::bigint'} as n`).join('\nunion all\n'));
    const byIndex = new Map(measured.map((m) => [Number(m.i), m]));
    for (const [index, row] of slice.entries()) {
      const m = byIndex.get(index);
      const rowsOf = counting ? Number(m?.n ?? 0) : withData ? Number(row.estimate) : null;
      tables.push({ schema: row.schema, name: row.name, rows: rowsOf, rowsExact: counting, bytes: Number(m?.bytes ?? 0) });
    }
  }
  return tables;
}

/** Each batch as one statement outside a transaction: its locks end with it. */
export function autocommit(client: pg.Client): BatchRunner {
  return async <T extends pg.QueryResultRow>(text: string) => (await client.query<T>(text)).rows;
}

/**
 * Each batch in a transaction of its own that imports an exported snapshot (pg_export_snapshot):
 * the counts describe exactly the rows pg_dump reads, and each batch's locks end with it.
 */
export function inSnapshot(client: pg.Client, snapshotId: string): BatchRunner {
  return async <T extends pg.QueryResultRow>(text: string) => {
    await client.query('begin isolation level repeatable read read only');
    try {
      await client.query(`set transaction snapshot '${snapshotId.replace(/'/g, "''")}'`);
      const { rows } = await client.query<T>(text);
      await client.query('commit');
      return rows;
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    }
  };
}

/** Exact row count of every user table, for comparing a restored database with its manifest. */
export async function countRows(client: pg.Client): Promise<Map<string, number>> {
  const tables = await describeTables(client, { include: [], exclude: [] }, true, true);
  return new Map(tables.map((t) => [`${t.schema}.${t.name}`, t.rows ?? 0]));
}
