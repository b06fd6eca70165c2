import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MB = 1e6;
const MiB = 2 ** 20;

export interface CaseResult {
  label: string;
  seconds: number;
  /** What the case wrote at its end: nothing for (a), the encrypted file/object for (b) and (c). */
  outputBytes: number;
  /** CPU seconds per "group/process" during the case (see Sampler). */
  cpu: Record<string, number>;
  extra?: Record<string, number | string>;
}

export interface Results {
  startedAt: string;
  machine: { cpus: number; node: string };
  database: { targetMiB: number; sizeBytes: number; rawDumpBytes: number; orders: number; generateSeconds: number };
  cases: { a: CaseResult; b: CaseResult; c: CaseResult };
  worker: {
    /** Largest RSS of the worker's node processes 2 s after it started polling, before any backup. */
    idleRssAfterStartBytes: number;
    /** Highest VmHWM of the worker's node processes over their whole life (start-up included). */
    peakRssLifetimeBytes: number;
    /** Highest VmHWM of the worker's node processes during the timed backup only. */
    peakRssBackupBytes: number;
    /** Highest sampled VmRSS per process name in the worker's group during the timed backup. */
    sampledPeakRssBytes: Record<string, number>;
  };
  ratios: { cOverA: number; cOverB: number };
  targets: { cOverA: Target; cOverB: Target; peakRssMiB: Target };
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

export function printReport(r: Results): void {
  const raw = r.database.rawDumpBytes;
  const lines = [
    '',
    `database: pg_database_size ${(r.database.sizeBytes / MiB).toFixed(0)} MiB (target ${r.database.targetMiB} MiB), ` +
      `uncompressed dump ${(raw / MB).toFixed(1)} MB, ${r.database.orders} orders; machine: ${r.machine.cpus} cpus, node ${r.machine.node}`,
    '',
    'case  seconds  output MB  dump MB/s  what',
  ];
  for (const [key, result] of Object.entries(r.cases)) {
    lines.push(`${pad(`(${key})`, 4)}${num(result.seconds)}  ${num(result.outputBytes / MB)}  ${num(raw / MB / result.seconds)}  ${result.label}`);
    if (result.extra) lines.push(`      ${Object.entries(result.extra).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(2) : v}`).join(', ')}`);
    lines.push(`      ${cpuLine(result.cpu, result.seconds)}`);
  }
  const mark = (t: Target) => (t.pass ? 'PASS' : 'MISS');
  const sampled = Object.entries(r.worker.sampledPeakRssBytes).map(([name, bytes]) => `${name} ${(bytes / MiB).toFixed(0)}`).join(', ');
  lines.push(
    '',
    `c/a = ${r.ratios.cOverA.toFixed(2)} (target ≤ ${r.targets.cOverA.limit})  ${mark(r.targets.cOverA)}`,
    `c/b = ${r.ratios.cOverB.toFixed(2)} (target ≤ ${r.targets.cOverB.limit})  ${mark(r.targets.cOverB)}`,
    `peak worker RSS = ${r.targets.peakRssMiB.value.toFixed(0)} MiB (target ≤ ${r.targets.peakRssMiB.limit})  ${mark(r.targets.peakRssMiB)}` +
      '  (largest node VmHWM over the worker\'s life)',
    `      idle after start-up ${(r.worker.idleRssAfterStartBytes / MiB).toFixed(0)} MiB, peak during the timed backup ${(r.worker.peakRssBackupBytes / MiB).toFixed(0)} MiB;` +
      ` sampled peak RSS during the backup, MiB: ${sampled}`,
    '',
  );
  console.log(lines.join('\n'));
}

export function writeResults(r: Results): string {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}latest.json`;
  writeFileSync(file, `${JSON.stringify(r, null, 2)}\n`);
  return file;
}
