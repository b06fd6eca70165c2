import { recreateDatabase, withClient, type PgServer } from '../scripts/sample-db';

// A shop-like schema whose dump compresses the way production data does: ids, timestamps and
// numerics; short enum-like text; prose drawn from a vocabulary (compresses well); hex digests
// (about 2:1); jsonb; and random bytea attachments (~20% of the bytes) that do not compress.
const SCHEMA = `
  create extension if not exists pgcrypto;
  create table customers (id bigint primary key, name text not null, email text not null, country char(2), tier text, created_at timestamptz not null);
  create table orders (id bigint primary key, customer_id bigint not null, placed_at timestamptz not null, total numeric(12,2), currency char(3),
                       status text, items jsonb, note text);
  create table events (id bigint primary key, at timestamptz not null, level text, message text, context jsonb);
  create table attachments (id bigint primary key, order_id bigint not null, mime text, content bytea);
`;

const WORDS = `order payment shipped delivered customer invoice refund warehouse package tracking address street city
  postal express standard priority delayed confirmed cancelled pending returned damaged replacement discount coupon
  loyalty member account login password reset email phone support ticket resolved escalated agent note review rating
  product variant size colour blue red green black white small medium large bundle gift wrap stock inventory supplier
  batch pallet carrier route depot scanned sorted loaded arrived customs duty tax vat currency euro krona dollar the a
  of to and in for on with from by at is was will be has have not no yes please thank you kindly regards request`
  .split(/\s+/).filter(Boolean);

const words = `array[${WORDS.map((w) => `'${w}'`).join(',')}]`;
/** A sentence of `count` random words. `count` must use g: that makes the subquery run per row, not once. */
const prose = (count: string) =>
  `(select string_agg((${words})[1 + floor(random() * ${WORDS.length})::int], ' ') from generate_series(1, ${count}))`;

/** One batch: `n` orders, 2n events, n/20 customers and n/10 attachments, ids starting after `from`. */
function batch(from: number, n: number): string {
  // bigint, or products such as g * 7919 overflow int4 beyond a few hundred thousand rows.
  const span = (count: number) => `generate_series(${from / count + 1}::bigint, ${(from + n) / count}) g`;
  return `
    insert into customers select g, 'Customer ' || g, 'c' || g || '@example.' || (array['com','se','de','fr'])[1 + g % 4],
        (array['SE','DE','FR','GB','US','NO','FI','DK'])[1 + g % 8], (array['free','plus','pro'])[1 + g % 3],
        timestamptz '2015-01-01' + (g % 300000000) * interval '1 second'
      from ${span(20)};
    insert into orders select g, 1 + (g * 7919) % ${Math.max(1, (from + n) / 20)}, timestamptz '2020-01-01' + g * interval '37 seconds',
        round((random() * 2000)::numeric, 2), (array['SEK','EUR','USD'])[1 + g % 3],
        (array['new','paid','packed','shipped','delivered','returned'])[1 + (random() * 5)::int],
        jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (g % 5000), 'qty', 1 + g % 4, 'price', round((random() * 500)::numeric, 2)),
                          jsonb_build_object('sku', 'SKU-' || ((g * 13) % 5000), 'qty', 1, 'gift', g % 9 = 0)),
        case when g % 5 = 0 then null else ${prose('3 + g % 17')} end
      from ${span(1)};
    insert into events select g, timestamptz '2020-01-01' + g * interval '17 seconds',
        (array['debug','info','info','info','warn','error'])[1 + g % 6],
        ${prose('8 + g % 33')},
        jsonb_build_object('request', md5(g::text) || md5((g * 31)::text), 'order', g / 2, 'host', 'app-' || (g % 12), 'ms', (random() * 900)::int)
      from generate_series(${2 * from + 1}::bigint, ${2 * (from + n)}) g;
    insert into attachments select g, g * 10, (array['image/jpeg','application/pdf','image/png'])[1 + g % 3],
        gen_random_bytes(1024) || gen_random_bytes(512 + (random() * 511)::int)
      from ${span(10)};
  `;
}

export interface Generated {
  sizeBytes: number;
  orders: number;
}

/**
 * Fills `database` in batches until pg_database_size reaches targetBytes. Batch sizes come from
 * the bytes the first batch took, so the result lands within a few percent of the target.
 */
export async function generateDatabase(pg: PgServer, database: string, targetBytes: number, log: (line: string) => void): Promise<Generated> {
  await recreateDatabase(pg, database);
  return withClient(pg, database, async (client) => {
    await client.query(SCHEMA);
    const size = async () => Number((await client.query<{ size: string }>('select pg_database_size(current_database()) as size')).rows[0]!.size);
    const empty = await size();
    // Multiples of 20 keep the customer and attachment id ranges (n/20, n/10) whole.
    let bytesPerOrder = 1500;
    let orders = 0;
    let current = empty;
    while (current < targetBytes * 0.98) {
      const wanted = Math.min((targetBytes - current) / bytesPerOrder, orders === 0 ? 20_000 : 100_000);
      const n = Math.max(20, Math.round(wanted / 20) * 20);
      await client.query(batch(orders, n));
      orders += n;
      current = await size();
      bytesPerOrder = (current - empty) / orders;
      log(`  generated ${orders} orders, ${(current / 2 ** 20).toFixed(0)} MiB`);
    }
    // Set hint bits and freeze now, so the first timed dump does not pay for writing them,
    // and checkpoint so no flush of generation's dirty pages runs during a timed case.
    await client.query('vacuum (freeze, analyze)');
    await client.query('checkpoint');
    return { sizeBytes: await size(), orders };
  });
}
