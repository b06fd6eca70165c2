import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { packageRoot } from '../lib/package-root';
import { registerDir } from '../test/harness/cleanup';
import { s3Client } from '../test/harness/seaweedfs';
import type { S3Server, Servers } from '../test/harness/servers';
import { makeFixture, type Fixture } from '../test/support/fixture';
import type { WindowReport } from './procs';
import { target, type CatalogCase, type CatalogResults } from './report';
import { seedCatalog, seedSourceNames } from './seed-catalog';

// The catalog part (issue target 6): a catalog of BENCH_CATALOG_BACKUPS backups per region of
// BENCH_CATALOG_SOURCES files sources in each of three regions, seeded straight into storage; then
// (o) `lifeboat backups list` over all regions, (p) `lifeboat status`, (q) `lifeboat retention show`
// and (r) a failover preflight's plan, each in a process of its own so that its peak RSS is its
// own, each the median of RUNS runs after one untimed first run. Target: ≤ 2 s and ≤ 300 MiB each.
// In service the workers keep each source's catalog index current (activities/catalog-index.ts);
// nothing here runs a worker, so `lifeboat catalog rebuild` writes it after seeding (untimed) —
// unless BENCH_CATALOG_INDEX=none, which measures the catalog before any index, every object read.
// BENCH_CATALOG_BASELINE names another build's lifeboat.mjs (scripts/build-cli.sh DIR of an older
// commit, in a directory whose parent holds package.json and node_modules): (o), (p) and (q) then run
// with it too, just before each, on the same catalog, and the report shows its figures beside them.

const RUNS = 3;
const MiB = 2 ** 20;
const TARGET_SECONDS = 2;
const TARGET_RSS_MIB = 300;
/** The primary first; the preflight reads the second one's catalog, as a failover out of the primary would. */
const REGIONS = ['stockholm', 'gothenburg', 'helsinki'];
const FAILOVER_REGION = REGIONS[1]!;
const TIME = '/usr/bin/time';

export const TIME_INSTALL_HINT = 'apt-get install time (GNU time measures each command\'s peak RSS)';

export interface CatalogSettings {
  /** Backups in each region, all sources together. */
  backups: number;
  sources: number;
  /** rebuild: the index written after seeding, as workers keep it; none: every manifest and record read. */
  index: 'rebuild' | 'none';
}

function wholeFromEnv(name: string, fallback: number, min: number): number {
  const text = process.env[name] ?? String(fallback);
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number ≥ ${min}, got ${JSON.stringify(text)}`);
  return value;
}

/** BENCH_CATALOG_BACKUPS (per region, default 10000) split evenly over BENCH_CATALOG_SOURCES (default 20); BENCH_CATALOG_INDEX rebuild (default) or none. */
export function catalogSettings(): CatalogSettings {
  const sources = wholeFromEnv('BENCH_CATALOG_SOURCES', 20, 1);
  if (sources > 100) throw new Error(`BENCH_CATALOG_SOURCES must be at most 100 (sources are named src-00 to src-99), got ${sources}`);
  const index = process.env.BENCH_CATALOG_INDEX ?? 'rebuild';
  if (index !== 'rebuild' && index !== 'none') throw new Error(`BENCH_CATALOG_INDEX must be rebuild or none, got ${JSON.stringify(index)}`);
  return { backups: wholeFromEnv('BENCH_CATALOG_BACKUPS', 10_000, sources), sources, index };
}

/** GNU time reports a command's peak RSS, its descendants' included (tsx runs the CLI in a child); missing, the part fails before any server starts. */
export function requireGnuTime(): void {
  const result = spawnSync(TIME, ['-f', '%M', 'true'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${TIME} (GNU time) is not installed; the catalog part needs it: ${TIME_INSTALL_HINT}`);
}

export interface CatalogContext {
  servers: Servers;
  /** Runs one timed run once the machine is quiet, sampling CPU (bench/run.ts's sampled()). */
  measure<T extends { seconds: number }>(run: () => Promise<T>): Promise<T & { window: WindowReport }>;
  log(line: string): void;
  cleanups: Array<() => Promise<void> | void>;
}

interface ProcessRun {
  seconds: number;
  peakRss: number;
  stdout: string;
  stderr: string;
}

/** One command under GNU time, timed from spawn to exit; rejects with its stderr when it fails. */
function timedProcess(command: string, args: string[], env: NodeJS.ProcessEnv, rssFile: string, accepted: number[] = [0]): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(TIME, ['-f', '%M', '-o', rssFile, command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const seconds = (performance.now() - start) / 1000;
      const out = Buffer.concat(stdout).toString('utf8');
      const err = Buffer.concat(stderr).toString('utf8');
      if (code === null || !accepted.includes(code)) {
        reject(new Error(`${command} ${args.join(' ')} ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${(err || out).trim().slice(-1500)}`));
        return;
      }
      // GNU time writes "%M" (KiB) as the last line, after a "Command exited with …" line on failure.
      const kib = Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1));
      resolve({ seconds, peakRss: kib * 1024, stdout: out, stderr: err });
    });
  });
}

const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;

/** Whether bin/lifeboat runs the compiled dist/ (as users do) or, with a source newer than it, tsx: its start-up differs by about a second. */
function cliBuild(root: string): 'dist' | 'tsx' {
  const newer = spawnSync('sh', ['-c', '[ -f dist/lifeboat.mjs ] && [ -z "$(find client lib activities workflows worker -name \'*.ts\' -newer dist/lifeboat.mjs -print | head -n 1)" ]'], { cwd: root });
  return newer.status === 0 ? 'dist' : 'tsx';
}

/** Three regions as three buckets of the bench's one SeaweedFS: a second and third server would only take CPU from the runs. */
async function regionServers(s3: S3Server): Promise<Record<string, S3Server>> {
  const client = s3Client(s3);
  try {
    const regions: Record<string, S3Server> = {};
    for (const region of REGIONS) {
      const bucket = region === s3.region ? s3.bucket : `lb-${region}`;
      if (bucket !== s3.bucket) {
        await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: unknown) => {
          if (!(error instanceof Error && ['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(error.name))) throw error;
        });
      }
      regions[region] = { ...s3, bucket };
    }
    return regions;
  } finally {
    client.destroy();
  }
}

/** What one operation's output must show, so a run that read nothing (or distrusted everything) is never timed as a pass. */
type Check = (run: ProcessRun) => string | undefined;

interface Operation {
  key: 'o' | 'p' | 'q' | 'r';
  label: string;
  command: string;
  args: string[];
  check: Check;
  /** Exit codes that still mean it worked (status: 25 when a seeded source is older than the RPO). */
  accepted?: number[];
  /** The preflight reports its own time without the process's start-up: that is what the activity spends. */
  ownSeconds?(run: ProcessRun): number;
}

function operations(root: string, fixture: Fixture, sources: string[], perSource: number): Operation[] {
  const bin = join(root, 'bin', 'lifeboat');
  const config = ['--config', fixture.configFile];
  const perRegion = sources.length * perSource;
  const untrusted: Check = (run) => (/UNTRUSTED/.test(run.stdout + run.stderr) ? `it reported untrusted catalog objects: ${(run.stdout + run.stderr).split('\n').find((line) => line.includes('UNTRUSTED'))}` : undefined);
  return [
    {
      key: 'o', label: `lifeboat backups list (every region, ${perRegion * REGIONS.length} rows)`, command: bin, args: [...config, 'backups', 'list'],
      // A header, then one row per backup per region.
      check: (run) => untrusted(run) ?? (run.stdout.trimEnd().split('\n').length - 1 === perRegion * REGIONS.length ? undefined : `it listed ${run.stdout.trimEnd().split('\n').length - 1} rows, not ${perRegion * REGIONS.length}`),
    },
    {
      key: 'p', label: 'lifeboat status (catalogs of every region; last failures from Temporal)', command: bin, args: [...config, 'status'], accepted: [0, 25],
      check: (run) => untrusted(run)
        ?? (run.stderr.includes('last failures unknown') ? `it did not reach Temporal: ${run.stderr.trim()}` : undefined)
        ?? (sources.every((source) => new RegExp(`^${source} .*stockholm ${perSource}\\b`, 'm').test(run.stdout)) ? undefined : `a source's line does not count ${perSource} backups in stockholm:\n${run.stdout.slice(0, 1500)}`),
    },
    {
      key: 'q', label: `lifeboat retention show (every source, every region: ${perRegion * REGIONS.length} decisions)`, command: bin, args: [...config, 'retention', 'show'],
      check: (run) => {
        const decisions = run.stdout.split('\n').filter((line) => /^ {4}(keep|would delete) /.test(line)).length;
        return untrusted(run) ?? (decisions === perRegion * REGIONS.length ? undefined : `it made ${decisions} decisions, not ${perRegion * REGIONS.length}`);
      },
    },
    {
      key: 'r', label: `failover preflight into ${FAILOVER_REGION}: preparePlan for ${sources.length} sources (its own time; process start-up under tsx apart)`,
      command: join(root, 'node_modules', '.bin', 'tsx'), args: [join(root, 'bench', 'catalog-preflight.ts'), fixture.configFile, FAILOVER_REGION],
      check: (run) => {
        const result = JSON.parse(run.stdout) as { sources: number };
        return result.sources === sources.length ? undefined : `it planned ${result.sources} sources, not ${sources.length}`;
      },
      ownSeconds: (run) => (JSON.parse(run.stdout) as { seconds: number }).seconds,
    },
  ];
}

export async function catalogPart({ servers, measure, log, cleanups }: CatalogContext, settings: CatalogSettings): Promise<CatalogResults> {
  const root = packageRoot();
  const sources = seedSourceNames(settings.sources);
  const perSource = Math.floor(settings.backups / settings.sources);
  const s3 = servers.s3[REGIONS[0]!] ?? Object.values(servers.s3)[0]!;
  const failoverDir = join(servers.workDir, 'catalog-failover');
  // Retention: a year of dailies, then monthlies and yearlies; a failover target per source in every
  // region (the preflight needs one). Nothing is ever backed up from or restored to these paths.
  const fixture = await makeFixture({ ...servers, s3: await regionServers(s3) }, () => Object.fromEntries(sources.map((source) => [source, {
    kind: 'files', region: REGIONS[0], path: `/srv/${source}`, retention: { daily: 365, monthly: 24, yearly: 5 },
  }])), { objectives: { rpo: '2d', rto: '4h' } }, { failover: { targets: Object.fromEntries(sources.map((source) => [source, { directory: join(failoverDir, source) }])) } });
  const unregisterDir = registerDir(fixture.dir);
  cleanups.push(() => { fixture.cleanup(); unregisterDir(); });

  log(`seeding ${perSource} daily backups of each of ${sources.length} sources into ${REGIONS.join(', ')} (${sources.length * perSource} per region; not timed)…`);
  const seed = await seedCatalog(fixture.config, { sources, perSource, regions: REGIONS, onProgress: log });
  log(`  ${seed.manifests} manifests and ${seed.verifyRecords} verify records in ${seed.seconds.toFixed(0)} s`);

  const scratch = mkdtempSync(join(servers.workDir, 'catalog-rss-'));
  cleanups.push(() => rmSync(scratch, { recursive: true, force: true }));
  const base = { ...process.env, ...fixture.env };
  // No LIFEBOAT_CLI_BUNDLE from a test run: the user's path, dist/ or tsx when a source is newer.
  delete base.LIFEBOAT_CLI_BUNDLE;
  const build = cliBuild(root);
  let index: CatalogResults['index'] = { mode: 'none' };
  if (settings.index === 'rebuild') {
    log('lifeboat catalog rebuild: every source\'s index in every region (not timed)…');
    const rebuilt = await timedProcess(join(root, 'bin', 'lifeboat'), ['--config', fixture.configFile, 'catalog', 'rebuild'], base, join(scratch, 'rebuild'));
    log(`  ${rebuilt.seconds.toFixed(1)} s, peak RSS ${(rebuilt.peakRss / MiB).toFixed(0)} MiB`);
    index = { mode: 'rebuild', seconds: rebuilt.seconds, peakRssBytes: rebuilt.peakRss };
  }
  const cases: Partial<Record<Operation['key'], CatalogCase>> = {};
  const baseline = process.env.BENCH_CATALOG_BASELINE;
  /** The first run (not counted) and RUNS timed runs of one operation, each once the machine is quiet. */
  const runAll = async (operation: Operation, tag = '') => {
    const runs: Array<ProcessRun & { own: number; window: WindowReport }> = [];
    // The first run is not counted: it meets cold caches (SeaweedFS's, the page cache's) and, without
    // an index, the preflight writes one as the activity would.
    for (let i = 0; i <= RUNS; i += 1) {
      log(`(${operation.key})${tag} ${operation.label}: ${i === 0 ? 'first run (not counted)' : `run ${i} of ${RUNS}`}…`);
      const run = await measure(async () => {
        const result = await timedProcess(operation.command, operation.args, base, join(scratch, `${operation.key}${tag}-${i}`), operation.accepted);
        const problem = operation.check(result);
        if (problem) throw new Error(`(${operation.key}) ${operation.label}: ${problem}`);
        return { ...result, own: operation.ownSeconds?.(result) ?? result.seconds };
      });
      log(`  ${run.own.toFixed(2)} s, peak RSS ${(run.peakRss / MiB).toFixed(0)} MiB`);
      runs.push(run);
    }
    return runs;
  };
  for (const operation of operations(root, fixture, sources, perSource)) {
    // Another build of the CLI on the same catalog, just before this one: a before/after ratio in one run.
    let before: Record<string, number> = {};
    if (baseline && operation.command.endsWith(join('bin', 'lifeboat'))) {
      const [, ...timed] = await runAll({ ...operation, command: process.execPath, args: [baseline, ...operation.args] }, ' baseline');
      before = { 'baseline s, median': median(timed.map((run) => run.own)), 'baseline peak RSS MiB': Math.max(...timed.map((run) => run.peakRss)) / MiB };
    }
    const runs = await runAll(operation);
    const [first, ...timed] = runs;
    const seconds = median(timed.map((run) => run.own));
    const middle = timed.find((run) => run.own === seconds)!;
    cases[operation.key] = {
      label: `${operation.label}, median of ${RUNS}`,
      seconds,
      runs: timed.map((run) => run.own),
      firstRunSeconds: first!.own,
      peakRssBytes: Math.max(...timed.map((run) => run.peakRss)),
      cpu: middle.window.cpu,
      processSeconds: middle.seconds,
      ...(operation.ownSeconds ? { extra: { 'process s (tsx start-up included), median': median(timed.map((run) => run.seconds)) } } : {}),
      ...(Object.keys(before).length > 0 ? { extra: before } : {}),
    };
  }
  const done = cases as Record<Operation['key'], CatalogCase>;
  const targets = Object.fromEntries(Object.entries(done).map(([key, c]) => [key, { seconds: target(c.seconds, TARGET_SECONDS), peakRssMiB: target(c.peakRssBytes / MiB, TARGET_RSS_MIB) }])) as CatalogResults['targets'];
  return {
    seed: { regions: REGIONS, sources: sources.length, perSource, backupsPerRegion: sources.length * perSource, manifests: seed.manifests, verifyRecords: seed.verifyRecords, seconds: seed.seconds },
    cli: build,
    index,
    cases: done,
    targets,
  };
}
