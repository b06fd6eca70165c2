import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

const KiB = 1024;
// Linux reports utime/stime in clock ticks; USER_HZ is 100 on every mainstream kernel build.
const ticksPerSecond = 100;

interface Member {
  pid: number;
  node: boolean;
  /** Forked from the leader and not yet exec'd: its RSS is the leader's. */
  forked: boolean;
  /** CPU seconds (user + system) so far. */
  cpu: number;
}

/** The processes of one process group; a process that exits between readdir and read is skipped. */
function groupMembers(pgid: number): Member[] {
  const members: Member[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name is in parentheses and may itself hold spaces or parentheses.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) !== pgid) continue;
      // The executable, not the command name: a Node process may rename itself.
      const node = basename(readlinkSync(`/proc/${entry}/exe`)) === 'node';
      // A child between fork and exec is still the leader's image, its RSS the leader's pages shared:
      // counted, it would double the leader. Its command line is the leader's until it execs.
      const forked = node && Number(entry) !== pgid && readFileSync(`/proc/${entry}/cmdline`, 'utf8') === readFileSync(`/proc/${pgid}/cmdline`, 'utf8');
      members.push({ pid: Number(entry), node: node && !forked, forked, cpu: (Number(rest[11]) + Number(rest[12])) / ticksPerSecond });
    } catch {
      // gone, or not ours to read
    }
  }
  return members;
}

/** VmRSS and VmHWM (the kernel's own peak RSS) in bytes; zeros once the process is gone. */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * KiB;
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

export interface GroupMemory {
  /**
   * Peak memory of the worker's Node processes: the leader's VmHWM, or the highest sampled sum of
   * the RSS of every Node process in the group when that is more (a Node child adds to the leader).
   */
  nodePeak: number;
  /** The leader's own VmHWM: its peak between samples too. */
  leaderHwm: number;
  /** Highest sampled sum over the whole group, tools (pg_dump, zstd, age, tar) included. */
  groupPeak: number;
  /** Most Node processes seen in the group at once. */
  nodeProcesses: number;
  /** Most processes seen in the group at once. */
  processes: number;
  /** The highest sampled Node RSS of each minute watched, oldest first: growth that goes on is a leak, a plateau is the working set. */
  perMinute: number[];
  /** The machine's 1-minute load average while watched: others' work competes with the worker and with Temporal. */
  load: { mean: number; max: number };
  /** CPU seconds the group used while watched, as far as samples saw (a tool that lived less than one interval is missed). */
  cpuSeconds: number;
  samples: number;
}

/**
 * Samples a process group (a worker started with its own group, test/support/worker-process.ts)
 * every `intervalMs` until stop(). The leader's VmHWM covers its spikes between samples; the
 * children's RSS is only as good as the sampling, which is why they are reported apart.
 */
export function watchGroupMemory(pgid: number, intervalMs = 1000): { stop(): GroupMemory } {
  const result: GroupMemory = { nodePeak: 0, leaderHwm: 0, groupPeak: 0, nodeProcesses: 0, processes: 0, perMinute: [], load: { mean: 0, max: 0 }, cpuSeconds: 0, samples: 0 };
  let loadSum = 0;
  const started = Date.now();
  const cpu = new Map<number, { first: number; last: number }>();
  const sample = () => {
    const members = groupMembers(pgid);
    let nodeRss = 0;
    let groupRss = 0;
    for (const member of members) {
      const { rss } = member.forked ? { rss: 0 } : memoryOf(member.pid);
      groupRss += rss;
      if (member.node) nodeRss += rss;
      const seen = cpu.get(member.pid);
      // A process first seen here counts from its start only if it is new (not the leader, running before we watched).
      if (seen) seen.last = member.cpu;
      else cpu.set(member.pid, { first: result.samples === 0 ? member.cpu : 0, last: member.cpu });
    }
    result.leaderHwm = Math.max(result.leaderHwm, memoryOf(pgid).hwm);
    result.nodePeak = Math.max(result.nodePeak, nodeRss, result.leaderHwm);
    result.groupPeak = Math.max(result.groupPeak, groupRss);
    const minute = Math.floor((Date.now() - started) / 60_000);
    result.perMinute[minute] = Math.max(result.perMinute[minute] ?? 0, nodeRss);
    result.nodeProcesses = Math.max(result.nodeProcesses, members.filter((m) => m.node).length);
    result.processes = Math.max(result.processes, members.length);
    const load = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
    loadSum += load;
    result.load.max = Math.max(result.load.max, load);
    result.samples += 1;
    result.load.mean = loadSum / result.samples;
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  // A campaign that throws before stop() must not keep its test process alive.
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sample();
      result.cpuSeconds = [...cpu.values()].reduce((sum, { first, last }) => sum + last - first, 0);
      return { ...result, perMinute: Array.from(result.perMinute, (rss) => rss ?? 0) };
    },
  };
}
