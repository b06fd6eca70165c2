import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
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

/** xorshift32: fast, seeded, and plenty for choosing words; the random parts use the CSPRNG. */
function rng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

const LEVELS = ['DEBUG', 'INFO', 'INFO', 'INFO', 'WARN', 'ERROR'];

/**
 * About `bytes` of log-like text: timestamps, levels, hosts, prose from the shop vocabulary, ids and
 * hex request ids. Every line differs, so it compresses like real logs and sources (about 3-4:1
 * with zstd -3), not like a repeated block.
 */
function text(bytes: number, random: () => number, clock: { ms: number }): Buffer {
  const lines: string[] = [];
  let length = 0;
  while (length < bytes) {
    clock.ms += Math.floor(random() * 900);
    const words: string[] = [];
    for (let i = 3 + Math.floor(random() * 14); i > 0; i--) words.push(WORDS[Math.floor(random() * WORDS.length)]!);
    const hex = Math.floor(random() * 2 ** 32).toString(16).padStart(8, '0') + Math.floor(random() * 2 ** 32).toString(16).padStart(8, '0');
    const line = `${new Date(clock.ms).toISOString()} ${LEVELS[Math.floor(random() * LEVELS.length)]} app-${Math.floor(random() * 12)} ` +
      `order=${Math.floor(random() * 1e7)} ${words.join(' ')} req=${hex}\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

export interface GeneratedTree {
  files: number;
  bytes: number;
  smallFiles: number;
  smallBytes: number;
  largeFiles: Array<{ name: string; bytes: number; content: string }>;
}

const KiB = 1024;
const CHUNK = 4 * 2 ** 20;
/** Share of the bytes in many small files; the rest goes to four large ones. */
const SMALL_SHARE = 0.38;
/** Share of the small files that hold random bytes (images, archives); the rest is text. */
const RANDOM_SMALL_SHARE = 0.3;

type Content = 'random' | 'text' | 'mixed';

/** Writes one large file in 4 MiB chunks; `mixed` cycles text, random and zero megabytes like a disk image. */
async function largeFile(path: string, bytes: number, content: Content, random: () => number, clock: { ms: number }): Promise<void> {
  const out = createWriteStream(path);
  const write = (chunk: Buffer) => new Promise<void>((resolve, reject) => out.write(chunk, (error) => (error ? reject(error) : resolve())));
  try {
    for (let done = 0; done < bytes; done += CHUNK) {
      const size = Math.min(CHUNK, bytes - done);
      if (content === 'random') await write(randomBytes(size));
      else if (content === 'text') await write(text(size, random, clock));
      else {
        // Per MiB: 5 of 10 text, 4 random, 1 zeros.
        const parts: Buffer[] = [];
        for (let at = 0; at < size; at += 2 ** 20) {
          const n = Math.min(2 ** 20, size - at);
          const kind = ((done + at) / 2 ** 20) % 10;
          parts.push(kind < 5 ? text(n, random, clock) : kind < 9 ? randomBytes(n) : Buffer.alloc(n));
        }
        await write(Buffer.concat(parts));
      }
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
}

/**
 * A file tree of about targetBytes under `dir`: SMALL_SHARE of it in tens of thousands of 1-64 KiB
 * files (log-uniform sizes, about 16 KiB on average; 70% text, 30% random bytes) spread over
 * nested directories of about 100 files each, and the rest in four large files: two random
 * (media, compressed archives), one text log and one mixed "disk image". Ends with sync, so no
 * write-back of the generated bytes runs during a timed case.
 */
export async function generateTree(dir: string, targetBytes: number, log: (line: string) => void): Promise<GeneratedTree> {
  const random = rng(0x1ebf00d);
  const clock = { ms: Date.parse('2024-01-01T00:00:00Z') };
  mkdirSync(dir, { recursive: true });
  const directories = new Set<string>();
  const smallTarget = targetBytes * SMALL_SHARE;
  let smallBytes = 0;
  let smallFiles = 0;
  while (smallBytes < smallTarget) {
    const size = Math.min(Math.round(KiB * 64 ** random()), Math.ceil(smallTarget - smallBytes));
    const folder = Math.floor(smallFiles / 100);
    const sub = join(dir, 'small', `d${String(folder % 16).padStart(2, '0')}`, `e${String(Math.floor(folder / 16)).padStart(3, '0')}`);
    if (!directories.has(sub)) {
      mkdirSync(sub, { recursive: true });
      directories.add(sub);
    }
    const isRandom = random() < RANDOM_SMALL_SHARE;
    writeFileSync(join(sub, `f${smallFiles}.${isRandom ? 'jpg' : ['txt', 'log', 'json', 'ts'][smallFiles % 4]}`), isRandom ? randomBytes(size) : text(size, random, clock));
    smallFiles += 1;
    smallBytes += size;
    if (smallFiles % 10_000 === 0) log(`  generated ${smallFiles} small files, ${(smallBytes / 2 ** 20).toFixed(0)} MiB`);
  }
  log(`  generated ${smallFiles} small files, ${(smallBytes / 2 ** 20).toFixed(0)} MiB`);
  const largeBytes = Math.round((targetBytes - smallBytes) / 4);
  const large: GeneratedTree['largeFiles'] = [
    { name: 'media/video.mp4', bytes: largeBytes, content: 'random' },
    { name: 'media/archive.tar.gz', bytes: largeBytes, content: 'random' },
    { name: 'logs/app.log', bytes: largeBytes, content: 'text' },
    { name: 'images/disk.img', bytes: largeBytes, content: 'mixed' },
  ];
  for (const file of large) {
    mkdirSync(dirname(join(dir, file.name)), { recursive: true });
    await largeFile(join(dir, file.name), file.bytes, file.content as Content, random, clock);
    log(`  generated ${file.name}, ${(file.bytes / 2 ** 20).toFixed(0)} MiB (${file.content})`);
  }
  await promisify(execFile)('sync');
  return {
    files: smallFiles + large.length,
    bytes: smallBytes + large.reduce((sum, file) => sum + file.bytes, 0),
    smallFiles,
    smallBytes,
    largeFiles: large,
  };
}

/** A few small files for the worker's warm-up backup of a files source. */
export function generateWarmupTree(dir: string): void {
  const random = rng(7);
  const clock = { ms: Date.parse('2024-01-01T00:00:00Z') };
  mkdirSync(join(dir, 'sub'), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, i % 2 ? 'sub' : '', `f${i}.txt`), text(4 * KiB, random, clock));
}
