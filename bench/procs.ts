import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';

// Linux reports utime/stime in clock ticks; USER_HZ is 100 on every mainstream kernel build.
const TICKS_PER_SECOND = 100;
const KiB = 1024;

interface ProcStat {
  pid: number;
  name: string;
  ppid: number;
  pgrp: number;
  /** CPU seconds (user + system) used by this process so far. */
  cpu: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself contain spaces or parentheses.
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    const rest = text.slice(close + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return { pid, name: text.slice(open + 1, close), ppid: Number(rest[1]), pgrp: Number(rest[2]), cpu: ticks / TICKS_PER_SECOND };
  } catch {
    return undefined; // exited between readdir and read
  }
}

/** VmRSS and VmHWM (peak RSS) in bytes, or undefined once the process is gone. */
export function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * KiB;
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** `node` for the tsx launcher and the real worker alike: a process can rename its comm, not its executable. */
function exeName(pid: number, fallback: string): string {
  try {
    return basename(readlinkSync(`/proc/${pid}/exe`));
  } catch {
    return fallback;
  }
}

function allPids(): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
}

export function ownProcessGroup(): number {
  return readStat(process.pid)!.pgrp;
}

/**
 * The largest current RSS and VmHWM (kernel-tracked peak RSS) among the node processes of a group.
 * With reset, each one's peak is then set back to its current RSS, so a later read covers only what follows.
 */
export function nodeMemory(pgrp: number, reset = false): { rss: number; hwm: number } {
  const result = { rss: 0, hwm: 0 };
  for (const pid of allPids()) {
    const stat = readStat(pid);
    if (stat?.pgrp !== pgrp || exeName(pid, stat.name) !== 'node') continue;
    const memory = memoryOf(pid);
    result.rss = Math.max(result.rss, memory?.rss ?? 0);
    result.hwm = Math.max(result.hwm, memory?.hwm ?? 0);
    // "5" resets VmHWM: see clear_refs in proc(5).
    if (reset) writeFileSync(`/proc/${pid}/clear_refs`, '5');
  }
  return result;
}

interface Seen {
  name: string;
  group: string;
  firstCpu: number;
  lastCpu: number;
  peakRss: number;
}

export interface WindowReport {
  /** CPU seconds per "group/process" (e.g. "worker/zstd"), over the window. */
  cpu: Record<string, number>;
  /** Per process name in the tracked memory group: highest sampled RSS in bytes. */
  peakRss: Record<string, number>;
}

/**
 * Polls /proc while one benchmark case runs, to tell afterwards where the CPU went and how much
 * memory the worker's processes held. Processes are labelled by process group (each server and
 * the worker run in their own), or else by their parent's. Short-lived children are seen at most one interval before they
 * exit, so their CPU can be under-counted by up to that interval.
 */
export class Sampler {
  private readonly seen = new Map<number, Seen>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly groups: Map<number, string>, private readonly memoryGroup?: number, private readonly intervalMs = 200) {}

  start(): void {
    // Processes already running count from now, not from their start.
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), this.intervalMs);
  }

  stop(): WindowReport {
    clearInterval(this.timer);
    this.sample(false);
    const cpu: Record<string, number> = {};
    const peakRss: Record<string, number> = {};
    for (const entry of this.seen.values()) {
      const key = `${entry.group}/${entry.name}`;
      cpu[key] = (cpu[key] ?? 0) + entry.lastCpu - entry.firstCpu;
      if (entry.peakRss > 0) peakRss[entry.name] = Math.max(peakRss[entry.name] ?? 0, entry.peakRss);
    }
    // Idle processes (most of /proc) would only clutter the results; ticks are 10 ms anyway.
    const used = Object.entries(cpu).filter(([, seconds]) => seconds >= 0.01).sort((x, y) => y[1] - x[1]);
    return { cpu: Object.fromEntries(used.map(([key, seconds]) => [key, Math.round(seconds * 100) / 100])), peakRss };
  }

  private sample(baseline: boolean): void {
    const stats = new Map<number, ProcStat>();
    for (const pid of allPids()) {
      const stat = readStat(pid);
      if (stat) stats.set(pid, stat);
    }
    // PostgreSQL backends call setsid(), so they lead groups of their own: label them by their parent.
    const groupOf = (stat: ProcStat, depth = 0): string =>
      this.groups.get(stat.pgrp) ?? (depth < 3 && stats.has(stat.ppid) ? groupOf(stats.get(stat.ppid)!, depth + 1) : 'other');
    for (const [pid, stat] of stats) {
      const group = groupOf(stat);
      let entry = this.seen.get(pid);
      if (!entry) {
        entry = { name: stat.name, group, firstCpu: baseline ? stat.cpu : 0, lastCpu: stat.cpu, peakRss: 0 };
        this.seen.set(pid, entry);
      }
      // The latest name: Debian's pg_dump starts as the perl pg_wrapper and execs the real binary.
      entry.name = stat.name;
      // A group may be named after its leader was first seen (a server a case starts): from then on it is that group's.
      if (entry.group === 'other') entry.group = group;
      entry.lastCpu = stat.cpu;
      if (stat.pgrp === this.memoryGroup) entry.peakRss = Math.max(entry.peakRss, memoryOf(pid)?.rss ?? 0);
    }
  }
}

/**
 * On a shared machine other people's test runs steal CPU from the cases. Waits (up to maxWaitMs)
 * until processes outside the benchmark's own groups use less than `cores` CPU over a 2 s window;
 * returns the load last seen so the report can show it.
 */
export async function waitQuiet(groups: Map<number, string>, maxWaitMs: number, cores = 0.2, log?: (line: string) => void): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const sampler = new Sampler(groups, undefined, 500);
    sampler.start();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    // The benchmark's own servers count too: SeaweedFS compacting what the last case wrote, or
    // autovacuum on what it restored, would otherwise land in the next case's time.
    const window = sampler.stop();
    const busy = Object.entries(window.cpu).filter(([key]) => !key.startsWith('bench/'));
    const load = busy.reduce((sum, [, value]) => sum + value, 0) / 2;
    if (load < cores || Date.now() > deadline) return load;
    const top = busy.filter(([, value]) => value >= 0.05).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([key, value]) => `${key} ${(value / 2).toFixed(2)}`).join(', ');
    log?.(`  waiting for a quiet machine: ${load.toFixed(2)} cores busy (${top})`);
  }
}

/**
 * Polls one process's VmHWM (the kernel's peak RSS) until it exits. VmHWM only grows, so the last
 * reading before exit misses at most growth within the final interval. stop() returns the peak in bytes.
 */
export function watchPeakRss(pid: number, intervalMs = 100): { stop(): number } {
  return watchPeak(() => memoryOf(pid)?.hwm ?? 0, intervalMs);
}

/** The highest of `sample()` every intervalMs until stop(), which takes one last sample. */
function watchPeak(sample: () => number, intervalMs: number): { stop(): number } {
  let peak = 0;
  const read = () => { peak = Math.max(peak, sample()); };
  read();
  const timer = setInterval(read, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      read();
      return peak;
    },
  };
}

/**
 * Polls every process `select` picks (by its /proc stat: name, process group, parent) and keeps
 * the highest sum of their RSS seen at one moment: the memory a tool held across all its
 * processes at once (pgBackRest's main process and its process-max workers; the worker's node,
 * pg_basebackup, zstd and age). stop() returns that peak in bytes.
 */
export function watchPeakRssSum(select: (stat: { pid: number; name: string; pgrp: number; ppid: number }) => boolean, intervalMs = 100): { stop(): number } {
  return watchPeak(() => {
    let sum = 0;
    for (const pid of allPids()) {
      const stat = readStat(pid);
      if (stat && select(stat)) sum += memoryOf(pid)?.rss ?? 0;
    }
    return sum;
  }, intervalMs);
}
