import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createDeps } from '../activities/deps';
import { putSigned } from '../activities/signed';
import { verifyRecordKey } from '../activities/verify-records';
import type { Config } from '../lib/config/schema';
import { backupIdFor, keys, MANIFEST_FORMAT, type Manifest } from '../lib/manifest';
import type { VerifyRecord } from '../lib/verify';

// A large catalog for the catalog part of the benchmark (issue target 6) and for an operator's test
// bucket: back-dated daily backups of files sources, written straight into every region as a
// backup and a sync would leave them — a 4-byte data object, the signed manifest (the same bytes in
// every region, chained by previousManifestSha256), and for one backup in VERIFY_EVERY a signed
// verify record of that region. The readers under test only list and read catalog objects, so the
// data objects need not be real.

const DAY_MS = 86_400_000;
/** A new full backup every this many, increments between: what `fullEvery: 7d` gives daily backups. */
const FULL_EVERY = 7;
/** One backup in this many has a verify record in each region. */
const VERIFY_EVERY = 20;
/** Backups written at once: enough to hide SeaweedFS's round trips, few enough for its small test server. */
const CONCURRENCY = 32;
const DATA = Buffer.from('data');
const DATA_SHA256 = createHash('sha256').update(DATA).digest('hex');

export interface SeedOptions {
  /** Source names; each must be a files source of the config. */
  sources: string[];
  /** Backups of each source in each region. */
  perSource: number;
  /** Regions to write into (default: every region of the config). */
  regions?: string[];
  /** The newest backup finishes about an hour before this (default: now). */
  now?: Date;
  /** Called at about every 10 % with a line to print. */
  onProgress?: (line: string) => void;
}

export interface SeedResult {
  regions: string[];
  sources: number;
  perSource: number;
  /** Manifests written, every region counted. */
  manifests: number;
  verifyRecords: number;
  seconds: number;
}

/** One backup, ready to be written into each region. */
interface Planned {
  manifest: Manifest;
  bytes: Buffer;
  /** The level of the verify record each region gets, or none. */
  verified?: VerifyRecord['level'];
}

/** `src-00`, `src-01`, …: the names the benchmark's fixture and the seed script use. */
export const seedSourceNames = (count: number): string[] => Array.from({ length: count }, (_, i) => `src-${String(i).padStart(2, '0')}`);

/** The same run id for the same backup: seeding again on the same UTC day writes the same keys and bytes, which write-once storage takes for a retry. */
const runIdOf = (source: string, index: number) => createHash('sha256').update(`${source}/${index}`).digest('hex').slice(0, 32);

/** One source's backups, oldest first; each manifest chains to the one before it. */
function* backupsOf(config: Config, source: string, sourceIndex: number, perSource: number, newestDay: number): Generator<Planned> {
  let previous: { id: string; sha256: string } | undefined;
  let full: string | undefined;
  for (let i = 0; i < perSource; i += 1) {
    // Sources a minute apart, so their backups do not all share one second.
    const finished = newestDay - (perSource - 1 - i) * DAY_MS + sourceIndex * 60_000;
    const started = new Date(finished - 5 * 60_000);
    const id = backupIdFor(started, runIdOf(source, i));
    const level = i % FULL_EVERY;
    if (level === 0) full = id;
    const manifest: Manifest = {
      format: MANIFEST_FORMAT, id, source, kind: 'files', region: config.sources[source]!.region,
      startedAt: started.toISOString(), finishedAt: new Date(finished).toISOString(),
      workflow: { workflowId: `seeded-${source}`, runId: runIdOf(source, i) },
      objects: [{ key: keys.object(source, id, 'data.zst.age'), role: 'data', content: 'tar --listed-incremental | zstd | age (seeded)', size: DATA.length, sha256: DATA_SHA256 }],
      compression: { algorithm: 'zstd', level: config.compression.level },
      encryption: { algorithm: 'age-x25519', recipients: config.encryption.recipients },
      tools: { tar: 'tar (GNU tar) 1.34', zstd: 'v1.5.4', age: 'v1.1.1' },
      description: { kind: 'files', root: `/srv/${source}`, level, include: [], exclude: [], files: 1200 + i, directories: 40, symlinks: 2, bytes: 50_000_000 + i * 1000, warnings: [] },
      parent: level === 0 ? null : previous!.id,
      previousManifestSha256: previous?.sha256 ?? null,
      retentionTags: [],
      restoreWith: `seeded: the data object holds 4 placeholder bytes (chain from full ${full})`,
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    previous = { id, sha256: createHash('sha256').update(bytes).digest('hex') };
    // Restore level every other time, else integrity: failover preflight looks for a passed restore.
    const verified = i % VERIFY_EVERY !== VERIFY_EVERY - 1 ? undefined : Math.floor(i / VERIFY_EVERY) % 2 === 0 ? 'restore' : 'integrity';
    yield { manifest, bytes, verified };
  }
}

/** Every backup of every source, sources interleaved so that each region's writes spread over the whole key space. */
function* everyBackup(config: Config, sources: string[], perSource: number, newestDay: number): Generator<Planned> {
  const each = sources.map((source, index) => backupsOf(config, source, index, perSource, newestDay));
  for (let i = 0; i < perSource; i += 1) {
    for (const backups of each) yield backups.next().value as Planned;
  }
}

/** What verifyRestore would have left in this region an hour after the backup. */
function recordOf(manifest: Manifest, region: string, level: VerifyRecord['level']): VerifyRecord {
  const restore = level === 'restore';
  const finishedAt = new Date(Date.parse(manifest.finishedAt) + 3_600_000).toISOString();
  return {
    format: 'lifeboat-verify/1', source: manifest.source, kind: manifest.kind, region, backupId: manifest.id,
    level, outcome: 'passed',
    startedAt: new Date(Date.parse(finishedAt) - 120_000).toISOString(), finishedAt,
    restoreMs: restore ? 95_000 : null, bytes: 50_000_000,
    checks: [{ name: 'seeded', ok: true, detail: 'seeded by bench/seed-catalog.ts' }],
    tools: {}, workflow: { workflowId: `seeded-verify-${manifest.id}`, runId: 'seeded' },
  };
}

/** `2026-11-29T01:00:00.000Z` → `20261129T010000000Z`, as verifyRestore names its records. */
const recordStamp = (iso: string) => iso.replace(/[-:]/g, '').replace(/\.(\d+)Z$/, '$1Z');

export async function seedCatalog(config: Config, options: SeedOptions): Promise<SeedResult> {
  const regions = options.regions ?? Object.keys(config.regions);
  const notFiles = options.sources.filter((source) => config.sources[source]?.kind !== 'files');
  if (notFiles.length > 0) throw new Error(`seedCatalog: the config must declare ${notFiles.join(', ')} (files sources: kind files)`);
  if (!Number.isInteger(options.perSource) || options.perSource < 1) throw new Error(`seedCatalog: perSource must be a whole number ≥ 1, got ${options.perSource}`);
  const deps = createDeps(config);
  const signer = deps.signer();
  const stores = regions.map((region) => ({ region, storage: deps.storage(region) }));
  // Yesterday at 01:00 UTC: the newest backups are fresh, whatever the RPO.
  const newestDay = Math.floor((options.now ?? new Date()).getTime() / DAY_MS) * DAY_MS - DAY_MS + 3_600_000;
  const total = options.sources.length * options.perSource;
  const start = performance.now();
  let done = 0;
  let verifyRecords = 0;
  let reported = 0;

  const write = async ({ manifest, bytes, verified }: Planned) => {
    await Promise.all(stores.map(async ({ region, storage }) => {
      await storage.put(manifest.objects[0]!.key, DATA);
      // Data first, then the manifest, as a backup writes them: a manifest never names missing data.
      await putSigned(storage, keys.manifest(manifest.source, manifest.id), bytes, signer);
      if (verified) {
        const record = recordOf(manifest, region, verified);
        await putSigned(storage, verifyRecordKey(manifest.source, manifest.id, recordStamp(record.finishedAt)), Buffer.from(JSON.stringify(record)), signer);
        verifyRecords += 1;
      }
    }));
    done += 1;
    const tenth = Math.floor((done * 10) / total);
    if (tenth > reported) {
      reported = tenth;
      options.onProgress?.(`  seeded ${done}/${total} backups in each of ${regions.length} region(s) (${tenth * 10} %, ${((performance.now() - start) / 1000).toFixed(0)} s)`);
    }
  };

  // A fixed pool pulling from one generator: at most CONCURRENCY backups in flight, none held in memory beyond that.
  const backups = everyBackup(config, options.sources, options.perSource, newestDay);
  let failed = false;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let item = backups.next(); !item.done && !failed; item = backups.next()) {
      await write(item.value).catch((error: unknown) => {
        failed = true;
        throw error;
      });
    }
  }));
  return {
    regions, sources: options.sources.length, perSource: options.perSource,
    manifests: total * regions.length, verifyRecords, seconds: (performance.now() - start) / 1000,
  };
}
