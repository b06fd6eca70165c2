import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';

export type Log = (line: string) => void;

/** Last lines of a log file, for error messages: a timeout without the server's own words is useless. */
export function logTail(file: string, lines = 40): string {
  if (!existsSync(file)) return `(no log file at ${file})`;
  const text = readFileSync(file, 'utf8').trimEnd();
  const tail = text.split('\n').slice(-lines).join('\n');
  return tail ? `--- last lines of ${file} ---\n${tail}` : `(log ${file} is empty)`;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** State letter and process group of a live pid from /proc, or undefined when it is gone. */
function procStat(pid: number): { state: string; pgid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself contain spaces and parentheses.
    const [state = '', , pgid = ''] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state, pgid: Number(pgid) };
  } catch {
    return undefined;
  }
}

const hasProc = existsSync('/proc/self/stat');

/**
 * True while `pid` runs. Zombies count as gone: a daemonised postmaster is reaped by PID 1,
 * and until then kill(pid, 0) would still say it exists.
 */
export function pidAlive(pid: number): boolean {
  if (hasProc) {
    const stat = procStat(pid);
    return stat !== undefined && stat.state !== 'Z';
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Live (non-zombie) members of process group `pgid`. */
export function groupMembers(pgid: number): number[] {
  if (!hasProc) return pidAlive(pgid) ? [pgid] : [];
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const stat = procStat(pid);
      return stat !== undefined && stat.pgid === pgid && stat.state !== 'Z';
    });
}

export const groupAlive = (pgid: number): boolean => groupMembers(pgid).length > 0;

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(50);
  }
  return check();
}

/**
 * SIGTERM the whole process group, SIGKILL it if it outlives `graceMs`. Groups, not pids,
 * because servers fork helpers (postgres backends, shims) that must not outlive the run.
 */
export async function stopGroup(pgid: number, graceMs = 10_000): Promise<void> {
  if (!groupAlive(pgid)) return;
  signalGroup(pgid, 'SIGTERM');
  if (await waitUntil(() => !groupAlive(pgid), graceMs)) return;
  signalGroup(pgid, 'SIGKILL');
  if (!(await waitUntil(() => !groupAlive(pgid), 5_000))) throw new Error(`process group ${pgid} survived SIGKILL`);
}

export interface ServerProcess {
  name: string;
  pid: number;
  logFile: string;
  /** Set once the process has exited; health checks use it to fail fast instead of timing out. */
  exitStatus(): string | undefined;
}

/**
 * Start a long-running server detached in its own process group (so a terminal Ctrl-C reaches
 * only us, and we decide how it stops) with stdout and stderr appended to `logFile`.
 */
export function spawnServer(name: string, cmd: string, args: string[], opts: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv }): ServerProcess {
  const fd = openSync(opts.logFile, 'a');
  try {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) throw new Error(`${name}: could not spawn ${cmd}`);
    let exited: string | undefined;
    child.on('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `code ${code}`;
    });
    child.on('error', (e) => {
      exited = e.message;
    });
    // The harness must not keep the Node process alive; stop() owns the lifetime.
    child.unref();
    return { name, pid: child.pid, logFile: opts.logFile, exitStatus: () => exited };
  } finally {
    closeSync(fd);
  }
}

/** Run a short command to completion (without blocking the event loop, so servers start in parallel); throw with its output when it fails. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', env: opts.env ?? process.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${args.join(' ')} failed (${error.code ?? error.signal ?? error.message}):\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

/**
 * Retry `probe` until it succeeds; on timeout or early exit of `proc`, throw an error that
 * carries the last probe error and the tail of the server's log.
 */
export async function waitHealthy<T>(proc: Pick<ServerProcess, 'name' | 'logFile'> & Partial<Pick<ServerProcess, 'exitStatus'>>, probe: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const status = proc.exitStatus?.();
    if (status !== undefined) throw new Error(`${proc.name} exited (${status}) before becoming healthy\n${logTail(proc.logFile)}`);
    try {
      return await probe();
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? lastError.message : String(lastError);
      throw new Error(`${proc.name} not healthy after ${timeoutMs / 1000}s (last error: ${why})\n${logTail(proc.logFile)}`);
    }
    await sleep(200);
  }
}

/** Memoise an async action so stop() can be called from a test, a teardown and a signal handler alike. */
export function once(action: () => Promise<void>): () => Promise<void> {
  let promise: Promise<void> | undefined;
  return () => (promise ??= action());
}
