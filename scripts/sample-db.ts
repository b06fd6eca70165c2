import pg from 'pg';

export interface PgServer {
  host: string;
  port: number;
  user: string;
  password: string;
}

export function pgUrl(server: PgServer, database: string): string {
  return `postgres://${server.user}@${server.host}:${server.port}/${encodeURIComponent(database)}`;
}

export async function withClient<T>(server: PgServer, database: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

export async function recreateDatabase(server: PgServer, database: string): Promise<void> {
  await withClient(server, 'postgres', async (client) => {
    await client.query(`drop database if exists "${database}" with (force)`);
    await client.query(`create database "${database}"`);
  });
}

/**
 * A fresh database of `rows` rows of 1 KiB random bytes (table `noise`): incompressible, so its
 * backups, copies and restores take long enough for a test to interrupt them.
 */
export async function createNoiseDatabase(server: PgServer, database: string, rows: number): Promise<void> {
  await recreateDatabase(server, database);
  await withClient(server, database, async (c) => {
    await c.query('create extension if not exists pgcrypto');
    await c.query('create table noise (id int primary key, payload bytea)');
    await c.query('insert into noise select g, gen_random_bytes(1024) from generate_series(1, $1::int) g', [rows]);
  });
}

/**
 * A small shop: customers, orders, and the awkward cases a dump must carry — a table and a column
 * whose names need quoting, large text, bytea, NULLs, a second schema, a sequence and a view.
 */
export async function createSampleDatabase(server: PgServer, database: string, scale = 1): Promise<void> {
  await recreateDatabase(server, database);
  const n = Math.max(1, Math.round(scale));
  await withClient(server, database, async (client) => {
    await client.query(`
      create table customers (id bigserial primary key, name text not null, email text unique, notes text, created_at timestamptz not null default now());
      create table orders (id bigserial primary key, customer_id bigint references customers(id), total numeric(12,2), placed_at timestamptz, status text);
      create table "Odd Table; with ""quotes""" ("Mixed Case" int, "sp ace" text, "ünïcode" text);
      create table blobs (id int primary key, payload bytea, big text);
      create schema audit;
      create table audit.events (id bigserial primary key, at timestamptz default now(), kind text, detail jsonb);
      create view order_totals as select customer_id, sum(total) as total from orders group by customer_id;
    `);
    await client.query(`
      insert into customers (name, email, notes)
        select 'customer ' || g, 'c' || g || '@example.com', case when g % 7 = 0 then null else repeat('note ', g % 20) end
          from generate_series(1, 2000 * ${n}) g;
      insert into orders (customer_id, total, placed_at, status)
        select 1 + (g % (2000 * ${n})), (g % 1000) / 3.0, now() - (g || ' minutes')::interval,
               (array['new', 'paid', 'shipped', null])[1 + g % 4]
          from generate_series(1, 10000 * ${n}) g;
      insert into "Odd Table; with ""quotes""" values (1, 'a b', 'ø'), (null, null, null), (3, E'line\\nbreak\\ttab', '日本');
      insert into blobs select g, decode(md5(g::text) || md5((g * 7)::text), 'hex'), repeat(md5(g::text), 2000)
          from generate_series(1, 50 * ${n}) g;
      insert into blobs values (0, null, null), (-1, '\\x00ff00'::bytea, '');
      insert into audit.events (kind, detail)
        select 'k' || (g % 5), jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g % 3)) from generate_series(1, 500 * ${n}) g;
      analyze;
    `);
  });
}

/** Per table: row count and an MD5 over all rows in a stable order — equal means equal contents. */
export async function tableFingerprints(server: PgServer, database: string): Promise<Record<string, { rows: number; md5: string }>> {
  return withClient(server, database, async (client) => {
    const { rows: tables } = await client.query<{ schema: string; name: string }>(`
      select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' order by 1, 2`);
    const result: Record<string, { rows: number; md5: string }> = {};
    for (const { schema, name } of tables) {
      const ident = `"${schema.replace(/"/g, '""')}"."${name.replace(/"/g, '""')}"`;
      const { rows } = await client.query<{ n: string; md5: string | null }>(
        `select count(*) as n, md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) as md5 from ${ident} t`);
      result[`${schema}.${name}`] = { rows: Number(rows[0]!.n), md5: rows[0]!.md5 ?? '' };
    }
    return result;
  });
}
