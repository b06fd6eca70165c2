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

/** Tables with their sizes and row counts, read inside the caller's transaction (the dump's snapshot). */
export async function describeTables(client: pg.Client, filter: TableFilter, exact: boolean, withData: boolean): Promise<PostgresTable[]> {
  const { rows } = await client.query<{ schema: string; name: string; estimate: string; bytes: string }>(`
    select n.nspname as schema, c.relname as name, greatest(c.reltuples, 0)::bigint as estimate,
           pg_total_relation_size(c.oid) as bytes
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
       and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'
     order by 1, 2`);
  const tables: PostgresTable[] = [];
  for (const row of rows) {
    if (!included(filter, row.schema, row.name)) continue;
    let count: number | null = withData ? Number(row.estimate) : null;
    if (withData && exact) {
      const result = await client.query<{ n: string }>(`select count(*) as n from only ${quoteIdent(row.schema)}.${quoteIdent(row.name)}`);
      count = Number(result.rows[0]!.n);
    }
    tables.push({ schema: row.schema, name: row.name, rows: count, rowsExact: withData && exact, bytes: Number(row.bytes) });
  }
  return tables;
}

/** Exact row count of every user table, for comparing a restored database with its manifest. */
export async function countRows(client: pg.Client): Promise<Map<string, number>> {
  const tables = await describeTables(client, { include: [], exclude: [] }, true, true);
  return new Map(tables.map((t) => [`${t.schema}.${t.name}`, t.rows ?? 0]));
}
