import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CliResults } from './cli-cases';
import { phasesLine, type Phases } from './phases';

const MB = 1e6;
const MiB = 2 ** 20;

export interface CaseResult {
  label: string;
  seconds: number;
  /** What the case wrote at its end: nothing for (a), the encrypted file/object for (b) to (e), every object of the repository for (f). */
  outputBytes: number;
  /** CPU seconds per "group/process" during the case (see Sampler). */
  cpu: Record<string, number>;
  extra?: Record<string, number | string>;
}

/** The PostgreSQL part's local case: (b2) the peer into a file it syncs, (c2) Lifeboat to a region of type local, on the same disk. */
export interface PostgresLocalResults {
  cases: { b2: CaseResult; c2: CaseResult };
  /** Where (c2)'s time went, from its history. */
  phases: Phases;
  worker: {
    /** Highest VmHWM of the local-region worker's node processes during (c2) only (reset just before it). */
    peakRssBackupBytes: number;
    /** Highest sampled VmRSS per process name in that worker's group during (c2). */
    sampledPeakRssBytes: Record<string, number>;
  };
  ratios: { c2OverB2: number };
  targets: { c2OverB2: Target };
}

/** The PostgreSQL part: (a), (b), (c); (b2), (c2) to a local disk. */
export interface PostgresResults {
  database: { targetMiB: number; sizeBytes: number; rawDumpBytes: number; orders: number; generateSeconds: number };
  cases: { a: CaseResult; b: CaseResult; c: CaseResult };
  worker: {
    /** Largest RSS of the worker's node processes 2 s after it started polling, before any backup. */
    idleRssAfterStartBytes: number;
    /** Highest VmHWM of the worker's node processes over their whole life (start-up included) until (c) ended. */
    peakRssLifetimeBytes: number;
    /** Highest VmHWM of the worker's node processes during the timed backup only. */
    peakRssBackupBytes: number;
    /** Highest sampled VmRSS per process name in the worker's group during the timed backup. */
    sampledPeakRssBytes: Record<string, number>;
  };
  /** Where (c)'s time went, from its history. */
  phases: Phases;
  ratios: { cOverA: number; cOverB: number };
  targets: { cOverA: Target; cOverB: Target; fixedSeconds: Target; peakRssMiB: Target };
  localRegion: PostgresLocalResults;
}

/** Peak RSS during a physical case, bytes: Lifeboat's worker process group summed and its node's VmHWM; pgBackRest's processes summed. */
export interface PhysicalRss {
  m: { workerSum: number; workerNode: number };
  n: { pgbackrestSum: number };
}

/** The physical part's S3 case: (m3) and (n3), both to the benchmark's SeaweedFS over HTTPS. */
export interface PhysicalS3Results {
  endpoint: string;
  cases: { m3: CaseResult; n3: CaseResult };
  phases: Phases;
  ratios: { m3OverN3: number };
  rss: { m3: PhysicalRss['m']; n3: PhysicalRss['n'] };
}

/** The physical part: (m) Lifeboat's base backup, (n) pgBackRest's full backup of the same cluster, to local directories; (m3), (n3) the same to S3 over HTTPS. */
export interface PhysicalResults {
  cluster: { bytes: number; generateSeconds: number };
  cases: { m: CaseResult; n: CaseResult };
  phases: Phases;
  pgbackrest: { version: string; processMax: number };
  ratios: { mOverN: number };
  rss?: PhysicalRss;
  s3?: PhysicalS3Results;
}

/** The pitr part (issue target 5): (s) Lifeboat's point-in-time restore, (t) the same WAL replayed from a local directory by hand. */
export interface PitrResults {
  wal: {
    targetMiB: number;
    /** WAL written after the base backup's stop LSN, up to the recovery target. */
    afterBackupBytes: number;
    /** What each restore replays: from the base backup's start LSN to the recovery target. */
    replayedBytes: number;
    targetLsn: string;
    startWalFile: string;
    /** Archived files from the base backup's start segment on, and their stored (compressed, encrypted) size. */
    archivedFiles: number;
    storedBytes: number;
    shippedFiles: number;
    /** Rows in the generated table, which both restores must hold. */
    rows: number;
    generateSeconds: number;
    shipSeconds: number;
  };
  base: { backupId: string; storedBytes: number };
  /** seconds: from pg_ctl start to the first poll that sees the promotion. */
  cases: { s: CaseResult; t: CaseResult };
  /** The whole restore: Lifeboat's restoreBackup workflow; by hand, extract + pg_verifybackup + WAL decrypted + replay, one after another. */
  totals: { s: number; t: number };
  /** "redo done … elapsed" from each server's log: the startup process's own replay time. */
  redo: { s: number | null; t: number | null };
  ratios: { sOverT: Target };
  /** Peak RSS during (s): the worker's process group summed (node, age, zstd), and its node's VmHWM. */
  rss: { workerSum: number; workerNode: number };
}

/** The file-tree part: (d) Lifeboat, (e) tar | zstd | age to a file, (f) restic to the same S3 server. */
export interface FilesResults {
  tree: {
    targetMiB: number;
    /** Bytes in regular files. */
    bytes: number;
    files: number;
    smallFiles: number;
    smallBytes: number;
    largeFiles: Array<{ name: string; bytes: number; content: string }>;
    /** Size of a plain `tar -cf - .` of the tree. */
    rawTarBytes: number;
    generateSeconds: number;
  };
  cases: { d: CaseResult; e: CaseResult; f: CaseResult };
  worker: {
    /** Highest VmHWM of the worker's node processes during (d) only (reset just before it). */
    peakRssBackupBytes: number;
    /** Highest VmHWM of the worker's node processes over their whole life, up to the end of (d). */
    peakRssLifetimeBytes: number;
    /** Highest sampled VmRSS per process name in the worker's group during (d): node, tar, zstd, age. */
    sampledPeakRssBytes: Record<string, number>;
  };
  restic: {
    version: string;
    /** VmHWM of the restic process during (f), polled every 100 ms. */
    peakRssBytes: number;
    initSeconds: number;
  };
  /** Time ratios d/e and d/f, and the same for the bytes written. */
  ratios: { dOverE: number; dOverF: number; outputDOverE: number; outputDOverF: number };
}

/** The restore part: (g) Lifeboat restore, (h) pg_restore from a local file, (i) verifyRestore's recorded RTO. */
export interface RestoreResults {
  backupId: string;
  /** Size of the pg_dump -Fc -Z0 file (h) restores. */
  dumpFileBytes: number;
  /** Rows in orders after each restore (they must agree). */
  ordersRestored: number;
  cases: { g: CaseResult; h: CaseResult; g2: CaseResult; h2: CaseResult };
  ratios: { gOverH: Target; g2OverH2: number };
  verify:
    | { present: true; seconds: number; restoreMs: number | null; outcome: string; failed: string[] }
    | { present: false; reason: string };
}

/** One operation of the catalog part: the median of its timed runs, each a process of its own. */
export interface CatalogCase {
  label: string;
  seconds: number;
  runs: number[];
  /** The run before the timed ones, not counted: cold caches. */
  firstRunSeconds: number;
  /** The highest peak RSS (GNU time's %M, the process and its children) of the timed runs. */
  peakRssBytes: number;
  /** CPU seconds per "group/process" during the median run, and how long its process ran (start-up included). */
  cpu: Record<string, number>;
  processSeconds: number;
  extra?: Record<string, number | string>;
}

/** The catalog part (issue target 6): (o) backups list, (p) status, (q) retention show, (r) failover preflight over a seeded catalog. */
export interface CatalogResults {
  seed: { regions: string[]; sources: number; perSource: number; backupsPerRegion: number; manifests: number; verifyRecords: number; seconds: number };
  /** What bin/lifeboat ran: the compiled dist/, or the sources through tsx (a source newer than the build). */
  cli: 'dist' | 'tsx';
  /** How the catalog index was before the runs: written by `lifeboat catalog rebuild` after seeding (its time and peak RSS), or absent. */
  index: { mode: 'rebuild'; seconds: number; peakRssBytes: number } | { mode: 'none' };
  cases: { o: CatalogCase; p: CatalogCase; q: CatalogCase; r: CatalogCase };
  targets: Record<'o' | 'p' | 'q' | 'r', { seconds: Target; peakRssMiB: Target }>;
}

export interface Results extends Partial<PostgresResults> {
  startedAt: string;
  machine: { cpus: number; node: string };
  /** Which parts ran (BENCH_CASES). */
  parts: string[];
  files?: FilesResults;
  restore?: RestoreResults;
  physical?: PhysicalResults;
  cli?: CliResults;
  catalog?: CatalogResults;
  pitr?: PitrResults;
}

export interface Target {
  value: number;
  limit: number;
  pass: boolean;
}

export const target = (value: number, limit: number): Target => ({ value, limit, pass: value <= limit });

const pad = (text: string, width: number) => text.padEnd(width);
const num = (value: number, digits = 1) => value.toFixed(digits).padStart(9);

/** Where a case's CPU went, e.g. "worker/zstd 9.1, postgres/postgres 4.0", and how much went to other people's processes. */
function cpuLine(cpu: Record<string, number>, seconds: number): string {
  const ours = Object.entries(cpu).filter(([name]) => !name.startsWith('other/'));
  const total = ours.reduce((sum, [, value]) => sum + value, 0);
  const other = Object.entries(cpu).filter(([name]) => name.startsWith('other/')).reduce((sum, [, value]) => sum + value, 0);
  const top = ours.filter(([, value]) => value >= 0.1).sort((x, y) => y[1] - x[1]).map(([name, value]) => `${name} ${value.toFixed(1)}`).join(', ');
  const noisy = other / seconds > 0.1 ? '  ← NOISY: other processes competed for the CPU' : '';
  return `cpu s (${(total / seconds).toFixed(2)} cores busy): ${top}; outside the benchmark ${other.toFixed(1)}${noisy}`;
}

function caseLines(cases: Record<string, CaseResult>, inputBytes: number): string[] {
  const lines: string[] = [];
  for (const [key, result] of Object.entries(cases)) {
    lines.push(`${pad(`(${key})`, 4)}${num(result.seconds)}  ${num(result.outputBytes / MB)}  ${num(inputBytes / MB / result.seconds)}  ${result.label}`);
    if (result.extra) lines.push(`      ${Object.entries(result.extra).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(2) : v}`).join(', ')}`);
    lines.push(`      ${cpuLine(result.cpu, result.seconds)}`);
  }
  return lines;
}

const mib = (bytes: number) => (bytes / MiB).toFixed(0);
const sampledLine = (peaks: Record<string, number>) => Object.entries(peaks).map(([name, bytes]) => `${name} ${mib(bytes)}`).join(', ');

export function printReport(r: Results): void {
  const lines = [''];
  if (r.database && r.cases && r.worker && r.ratios && r.targets) lines.push(...postgresLines(r as Results & PostgresResults));
  if (r.files) lines.push(...filesLines(r.files));
  if (r.restore) lines.push(...restoreLines(r.restore));
  if (r.physical) lines.push(...physicalLines(r.physical));
  if (r.pitr) lines.push(...pitrLines(r.pitr));
  if (r.cli) lines.push(...cliLines(r.cli));
  if (r.catalog) lines.push(...catalogLines(r.catalog));
  lines.push(...summaryLines(r));
  lines.push(`machine: ${r.machine.cpus} cpus, node ${r.machine.node}`, '');
  console.log(lines.join('\n'));
}

function postgresLines(r: PostgresResults): string[] {
  const raw = r.database.rawDumpBytes;
  const lines = [
    `database: pg_database_size ${(r.database.sizeBytes / MiB).toFixed(0)} MiB (target ${r.database.targetMiB} MiB), ` +
      `uncompressed dump ${(raw / MB).toFixed(1)} MB, ${r.database.orders} orders`,
    '',
    'case  seconds  output MB  dump MB/s  what',
    ...caseLines(r.cases, raw),
  ];
  const mark = (t: Target) => (t.pass ? 'PASS' : 'MISS');
  const sampled = sampledLine(r.worker.sampledPeakRssBytes);
  lines.push(
    '',
    `c/a = ${r.ratios.cOverA.toFixed(2)} (target ≤ ${r.targets.cOverA.limit})  ${mark(r.targets.cOverA)}`,
    `c/b = ${r.ratios.cOverB.toFixed(2)} (target ≤ ${r.targets.cOverB.limit})  ${mark(r.targets.cOverB)}`,
    `(c) ${phasesLine(r.phases)} (target ≤ ${r.targets.fixedSeconds.limit} s)  ${mark(r.targets.fixedSeconds)}`,
    `peak worker RSS = ${r.targets.peakRssMiB.value.toFixed(0)} MiB (target ≤ ${r.targets.peakRssMiB.limit})  ${mark(r.targets.peakRssMiB)}` +
      '  (largest node VmHWM over the worker\'s life)',
    `      idle after start-up ${(r.worker.idleRssAfterStartBytes / MiB).toFixed(0)} MiB, peak during the timed backup ${(r.worker.peakRssBackupBytes / MiB).toFixed(0)} MiB;` +
      ` sampled peak RSS during the backup, MiB: ${sampled}`,
    '',
  );
  const local = r.localRegion;
  lines.push(
    'to a local region, on the disk of the servers\' work dir:',
    ...caseLines(local.cases, raw),
    '',
    `c2/b2 = ${local.ratios.c2OverB2.toFixed(2)} (target ≤ ${local.targets.c2OverB2.limit})  ${mark(local.targets.c2OverB2)}`,
    `(c2) ${phasesLine(local.phases)}`,
    `peak RSS of the local region's worker during (c2): node ${mib(local.worker.peakRssBackupBytes)} MiB (VmHWM, reset before it); sampled MiB: ${sampledLine(local.worker.sampledPeakRssBytes)}`,
    '',
  );
  return lines;
}

function filesLines(f: FilesResults): string[] {
  const t = f.tree;
  const large = t.largeFiles.map((file) => `${file.content} ${mib(file.bytes)}`).join(', ');
  const sampledSum = Object.values(f.worker.sampledPeakRssBytes).reduce((sum, bytes) => sum + bytes, 0);
  return [
    `file tree: ${t.files} files, ${(t.bytes / MB).toFixed(1)} MB (target ${t.targetMiB} MiB): ${t.smallFiles} small files (1-64 KiB) with ${(t.smallBytes / MB).toFixed(1)} MB, ` +
      `${t.largeFiles.length} large files, MiB: ${large}; plain tar ${(t.rawTarBytes / MB).toFixed(1)} MB; generated in ${t.generateSeconds.toFixed(0)} s`,
    '',
    'case  seconds  output MB  tree MB/s  what',
    ...caseLines(f.cases, t.bytes),
    '',
    `d/e = ${f.ratios.dOverE.toFixed(2)} (time), ${f.ratios.outputDOverE.toFixed(3)} (bytes written)`,
    `d/f = ${f.ratios.dOverF.toFixed(2)} (time), ${f.ratios.outputDOverF.toFixed(3)} (bytes written)`,
    `peak RSS during the files backup: Lifeboat worker node ${mib(f.worker.peakRssBackupBytes)} MiB (VmHWM, reset before (d); lifetime ${mib(f.worker.peakRssLifetimeBytes)} MiB),` +
      ` sampled MiB: ${sampledLine(f.worker.sampledPeakRssBytes)} (sum ${mib(sampledSum)}); restic ${mib(f.restic.peakRssBytes)} MiB (VmHWM)`,
    '',
  ];
}

function restoreLines(r: RestoreResults): string[] {
  const t = r.ratios.gOverH;
  const v = r.verify;
  const rto = v.present
    ? `(i) RTO recorded by verifyRestore (restore level, backup ${r.backupId}): ${v.restoreMs === null ? 'none' : `${(v.restoreMs / 1000).toFixed(1)} s`}, ` +
      `outcome ${v.outcome}, whole workflow ${v.seconds.toFixed(1)} s${v.failed.length > 0 ? `; failed: ${v.failed.join('; ')}` : ''}`
    : `(i) RTO recorded by verifyRestore: ${v.reason}`;
  return [
    `restore of backup ${r.backupId}: dump file ${(r.dumpFileBytes / MB).toFixed(1)} MB, ${r.ordersRestored} orders restored by each`,
    '',
    'case  seconds  output MB  dump MB/s  what',
    ...caseLines(r.cases, r.dumpFileBytes),
    '',
    `g/h = ${t.value.toFixed(2)} (target ≤ ${t.limit})  ${t.pass ? 'PASS' : 'MISS'}; g2/h2 = ${r.ratios.g2OverH2.toFixed(2)}`,
    rto,
    '',
  ];
}

export function writeResults(r: Results): string {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}latest.json`;
  writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
  return file;
}

function physicalLines(p: PhysicalResults): string[] {
  const lines = [
    `cluster: ${(p.cluster.bytes / MiB).toFixed(0)} MiB in all databases; generated in ${p.cluster.generateSeconds.toFixed(0)} s`,
    '',
    'case  seconds  output MB  data MB/s  what',
    ...caseLines(p.cases, p.cluster.bytes),
    `(m) ${phasesLine(p.phases)}`,
  ];
  if (p.s3) lines.push(...caseLines(p.s3.cases, p.cluster.bytes), `(m3) ${phasesLine(p.s3.phases)}`);
  lines.push('', `m/n = ${p.ratios.mOverN.toFixed(2)} (target ≤ 1.0)  ${p.ratios.mOverN <= 1 ? 'PASS' : 'MISS'}`);
  if (p.s3) lines.push(`m3/n3 = ${p.s3.ratios.m3OverN3.toFixed(2)} (target ≤ 1.0)  ${p.s3.ratios.m3OverN3 <= 1 ? 'PASS' : 'MISS'}  (S3 over HTTPS, ${p.s3.endpoint})`);
  lines.push('');
  return lines;
}

function pitrLines(p: PitrResults): string[] {
  const w = p.wal;
  const t = p.ratios.sOverT;
  const redo = p.redo.s !== null && p.redo.t !== null ? `; by the servers' own "redo done" elapsed: ${p.redo.s.toFixed(1)} / ${p.redo.t.toFixed(1)} s = ${(p.redo.s / p.redo.t).toFixed(2)}` : '';
  return [
    `pitr: base backup ${p.base.backupId} (${(p.base.storedBytes / MB).toFixed(1)} MB stored), then ${mib(w.afterBackupBytes)} MiB of WAL written after it (target ${w.targetMiB} MiB; ${w.rows} rows) in ${w.generateSeconds.toFixed(0)} s,` +
      ` ${w.shippedFiles} files shipped in ${w.shipSeconds.toFixed(0)} s; ${w.archivedFiles} archived files from ${w.startWalFile} on, ${(w.storedBytes / MB).toFixed(1)} MB stored;` +
      ` both restores replay ${(w.replayedBytes / MB).toFixed(1)} MB of WAL to LSN ${w.targetLsn}`,
    '',
    'case  seconds  output MB  WAL MB/s  what',
    ...caseLines(p.cases, w.replayedBytes),
    '',
    `s/t = ${t.value.toFixed(2)} (replay, target ≤ ${t.limit})  ${t.pass ? 'PASS' : 'MISS'}${redo}`,
    `whole restore: Lifeboat ${p.totals.s.toFixed(1)} s (WAL fetched while replaying), by hand ${p.totals.t.toFixed(1)} s (one step after another);` +
      ` peak RSS during (s): worker Σ ${mib(p.rss.workerSum)} MiB (node ${mib(p.rss.workerNode)})`,
    '',
  ];
}

/** The peak RSS cell of a physical row: Lifeboat's worker group summed (its node's VmHWM), pgBackRest's processes summed. */
const physicalRss = (m: PhysicalRss['m'], n: PhysicalRss['n']) => `worker Σ ${mib(m.workerSum)} (node ${mib(m.workerNode)}), pgBackRest Σ ${mib(n.pgbackrestSum)}`;

function cliLines(c: CliResults): string[] {
  const line = (key: string, x: { label: string; seconds: number; runs: number[] }) =>
    `${pad(`(${key})`, 4)}${num(x.seconds, 3)}  ${x.label}; runs ${x.runs.map((v) => v.toFixed(3)).join(' ')}`;
  return ['case  seconds  what', line('j', c.help), line('k', c.list), line('l', c.node), ''];
}

function catalogLines(c: CatalogResults): string[] {
  const s = c.seed;
  const mark = (t: Target) => (t.pass ? 'PASS' : 'MISS');
  const lines = [
    `catalog: ${s.sources} files sources × ${s.perSource} daily backups = ${s.backupsPerRegion} per region in each of ${s.regions.length} regions (${s.regions.join(', ')}: buckets of one SeaweedFS), ` +
      `${s.manifests} manifests and ${s.verifyRecords} verify records in all; seeded in ${s.seconds.toFixed(0)} s; bin/lifeboat ran ${c.cli === 'dist' ? 'the compiled dist/' : 'the sources through tsx (a source is newer than dist/)'}`,
    c.index.mode === 'rebuild'
      ? `catalog index: written by lifeboat catalog rebuild after seeding in ${c.index.seconds.toFixed(1)} s, peak RSS ${mib(c.index.peakRssBytes)} MiB (not counted)`
      : 'catalog index: none (BENCH_CATALOG_INDEX=none): every manifest and verify record is read',
    '',
    'case  seconds  peak RSS MiB  what',
  ];
  for (const [key, x] of Object.entries(c.cases)) {
    const t = c.targets[key as keyof CatalogResults['targets']];
    lines.push(`${pad(`(${key})`, 4)}${num(x.seconds, 2)}  ${mib(x.peakRssBytes).padStart(12)}  ${x.label}`);
    lines.push(`      runs ${x.runs.map((v) => v.toFixed(2)).join(' ')}; first run (not counted) ${x.firstRunSeconds.toFixed(2)}` +
      `${x.extra ? `; ${Object.entries(x.extra).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(2) : v}`).join(', ')}` : ''}`);
    lines.push(`      ${cpuLine(x.cpu, x.processSeconds)}`);
    lines.push(`      target ≤ ${t.seconds.limit} s ${mark(t.seconds)}, ≤ ${t.peakRssMiB.limit} MiB ${mark(t.peakRssMiB)}`);
  }
  lines.push('');
  return lines;
}

export interface SummaryRow {
  case: string;
  lifeboat: number;
  peer?: { label: string; seconds: number };
  /** The target: a ratio to the peer, or seconds where there is no peer to hold it to. */
  target?: { ratio: number } | { seconds: number };
  peakRss?: string;
}

/** The one table the issue asks for: each case beside its peer in this run, the ratio and its target. */
export function summaryRows(r: Results): SummaryRow[] {
  const rows: SummaryRow[] = [];
  if (r.cases && r.worker && r.phases && r.database) {
    const size = `${(r.database.sizeBytes / MiB / 1024).toFixed(2)} GiB`;
    rows.push({ case: `logical backup of a ${size} database to S3, backup --wait`, lifeboat: r.cases.c.seconds, peer: { label: 'pg_dump|zstd|age|aws s3 cp', seconds: r.cases.b.seconds }, target: { ratio: 1.15 }, peakRss: `worker ${mib(r.worker.peakRssBackupBytes)}` });
    rows.push({ case: 'its fixed overhead (all but the data stream)', lifeboat: r.phases.fixedSeconds, target: { seconds: 0.5 } });
    const local = r.localRegion;
    if (local) {
      rows.push({
        case: `logical backup of a ${size} database to a local region, backup --wait`, lifeboat: local.cases.c2.seconds,
        peer: { label: 'pg_dump|zstd|age > file; sync', seconds: local.cases.b2.seconds }, target: { ratio: 1.15 }, peakRss: `worker ${mib(local.worker.peakRssBackupBytes)}`,
      });
    }
  }
  if (r.restore) {
    rows.push({ case: 'logical restore of that backup into a new database', lifeboat: r.restore.cases.g.seconds, peer: { label: 'pg_restore of a local file', seconds: r.restore.cases.h.seconds }, target: { ratio: 1.1 } });
    rows.push({ case: 'the same with restore.jobs 2', lifeboat: r.restore.cases.g2.seconds, peer: { label: 'pg_restore -j 2 of a local file', seconds: r.restore.cases.h2.seconds } });
  }
  if (r.physical) {
    const p = r.physical;
    const peer = `pgBackRest ${p.pgbackrest.version}, process-max ${p.pgbackrest.processMax}`;
    rows.push({
      case: `physical base backup of a ${(p.cluster.bytes / MiB / 1024).toFixed(2)} GiB cluster to a local directory`, lifeboat: p.cases.m.seconds, peer: { label: peer, seconds: p.cases.n.seconds }, target: { ratio: 1.0 },
      ...(p.rss ? { peakRss: physicalRss(p.rss.m, p.rss.n) } : {}),
    });
    if (p.s3) {
      rows.push({
        case: 'the same cluster to S3 (SeaweedFS) over HTTPS', lifeboat: p.s3.cases.m3.seconds, peer: { label: peer, seconds: p.s3.cases.n3.seconds }, target: { ratio: 1.0 },
        peakRss: physicalRss(p.s3.rss.m3, p.s3.rss.n3),
      });
    }
  }
  if (r.pitr) {
    const p = r.pitr;
    const rate = (seconds: number) => (p.wal.replayedBytes / MB / seconds).toFixed(0);
    rows.push({
      case: `point-in-time restore: replay of ${(p.wal.replayedBytes / MiB / 1024).toFixed(2)} GiB of archived WAL, pg_ctl start → promotion (${rate(p.cases.s.seconds)} MB/s; peer ${rate(p.cases.t.seconds)} MB/s)`,
      lifeboat: p.cases.s.seconds, peer: { label: "restore_command = 'cp DIR/%f %p' from decrypted WAL", seconds: p.cases.t.seconds }, target: { ratio: p.ratios.sOverT.limit },
      peakRss: `worker Σ ${mib(p.rss.workerSum)} (node ${mib(p.rss.workerNode)})`,
    });
    rows.push({ case: 'the whole point-in-time restore (verify, extract, pg_verifybackup, WAL, replay)', lifeboat: p.totals.s, peer: { label: 'the break-glass steps one after another', seconds: p.totals.t } });
  }
  if (r.files) {
    const f = r.files;
    rows.push({ case: `files backup of ${(f.tree.bytes / MiB / 1024).toFixed(2)} GiB (${f.tree.files} files) to S3`, lifeboat: f.cases.d.seconds, peer: { label: `restic ${f.restic.version}`, seconds: f.cases.f.seconds }, target: { ratio: 1.0 }, peakRss: `worker ${mib(f.worker.peakRssBackupBytes)}, restic ${mib(f.restic.peakRssBytes)}` });
    rows.push({ case: 'the same tree, floor', lifeboat: f.cases.d.seconds, peer: { label: 'tar|zstd|age > file', seconds: f.cases.e.seconds } });
  }
  if (r.cli) {
    rows.push({ case: 'lifeboat --help, median of 5', lifeboat: r.cli.help.seconds, peer: { label: 'node -e 0', seconds: r.cli.node.seconds }, target: { seconds: 0.25 } });
    rows.push({ case: 'lifeboat backups list, median of 5', lifeboat: r.cli.list.seconds, peer: { label: 'node -e 0', seconds: r.cli.node.seconds }, target: { seconds: 0.5 } });
  }
  if (r.catalog) {
    const c = r.catalog;
    const names = { o: 'backups list, every region', p: 'status', q: 'retention show, every source', r: 'failover preflight (plan only)' };
    for (const key of ['o', 'p', 'q', 'r'] as const) {
      const rss = c.targets[key].peakRssMiB;
      rows.push({
        case: `catalog of ${c.seed.backupsPerRegion} backups × ${c.seed.regions.length} regions: ${names[key]}, median of ${c.cases[key].runs.length}`,
        lifeboat: c.cases[key].seconds, target: { seconds: c.targets[key].seconds.limit },
        peakRss: `${rss.value.toFixed(0)} (≤ ${rss.limit} ${rss.pass ? 'PASS' : 'MISS'})`,
      });
    }
  }
  return rows;
}

/** Whether a row meets its target: null where it has none. */
export function rowPasses(row: SummaryRow): boolean | null {
  if (!row.target) return null;
  if ('seconds' in row.target) return row.lifeboat <= row.target.seconds;
  return row.peer ? row.lifeboat / row.peer.seconds <= row.target.ratio : null;
}

function summaryLines(r: Results): string[] {
  const rows = summaryRows(r);
  if (rows.length === 0) return [];
  const out = ['| case | Lifeboat s | peer | peer s | ratio | target | peak RSS MiB |', '|---|---|---|---|---|---|---|'];
  for (const row of rows) {
    const ratio = row.peer ? (row.lifeboat / row.peer.seconds).toFixed(2) : '';
    const pass = rowPasses(row);
    const goal = !row.target ? '' : `${'seconds' in row.target ? `≤ ${row.target.seconds} s` : `≤ ${row.target.ratio}`} ${pass ? 'PASS' : 'MISS'}`;
    const cell = (text: string) => text.replaceAll('|', '\\|');
    out.push(`| ${cell(row.case)} | ${row.lifeboat.toFixed(row.lifeboat < 1 ? 3 : 1)} | ${cell(row.peer?.label ?? '')} | ${row.peer ? row.peer.seconds.toFixed(row.peer.seconds < 1 ? 3 : 1) : ''} | ${ratio} | ${goal} | ${row.peakRss ?? ''} |`);
  }
  return ['summary (Markdown, for the README):', ...out, ''];
}
