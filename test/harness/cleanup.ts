import { rmSync } from 'node:fs';
import { once, stopGroup, type Log } from './processes';

/**
 * Every running server registers here so that Ctrl-C (SIGINT), SIGTERM or an unexpected exit
 * of the Node process still stops it: the servers run in their own process groups, so the
 * terminal's signal never reaches them and they would outlive us otherwise.
 */
const stoppers = new Set<() => Promise<void>>();
/** Process groups to SIGKILL synchronously in the 'exit' hook, the last moment we can act. */
const groups = new Set<number>();
/** Directories to remove in the 'exit' hook, after the groups are killed. */
const dirs = new Set<string>();

function onSignal(signal: NodeJS.Signals, code: number, log: Log): void {
  log(`lifeboat harness: ${signal}, stopping servers...`);
  void Promise.allSettled([...stoppers].map((stop) => stop())).finally(() => process.exit(code));
}

// Runs when something else (vitest's own SIGINT handler, process.exit) ends the process before
// the async stops finish; only synchronous work is possible here.
function onExit(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // A dying server may still be writing; nothing more can be done now.
    }
  }
}

let handlers: { sigint: () => void; sigterm: () => void } | undefined;

/** Handlers are on only while something runs, so a host process keeps its own signal behaviour otherwise. */
function install(log: Log = console.error): void {
  if (handlers) return;
  handlers = { sigint: () => onSignal('SIGINT', 130, log), sigterm: () => onSignal('SIGTERM', 143, log) };
  process.once('SIGINT', handlers.sigint);
  process.once('SIGTERM', handlers.sigterm);
  process.on('exit', onExit);
}

function uninstallIfIdle(): void {
  if (!handlers || stoppers.size > 0 || groups.size > 0 || dirs.size > 0) return;
  process.off('SIGINT', handlers.sigint);
  process.off('SIGTERM', handlers.sigterm);
  process.off('exit', onExit);
  handlers = undefined;
}

export function registerStop(stop: () => Promise<void>, log: Log = console.error): () => void {
  install(log);
  stoppers.add(stop);
  return () => {
    stoppers.delete(stop);
    uninstallIfIdle();
  };
}

export function registerDir(dir: string): () => void {
  install();
  dirs.add(dir);
  return () => {
    dirs.delete(dir);
    uninstallIfIdle();
  };
}

export function registerGroup(pgid: number): () => void {
  install();
  groups.add(pgid);
  return () => {
    groups.delete(pgid);
    uninstallIfIdle();
  };
}

/** Stops a server's process group once: when asked, or on exit or Ctrl-C until then. */
export function supervise(pgid: number, log?: Log): () => Promise<void> {
  const unregisterGroup = registerGroup(pgid);
  const stop = once(async () => {
    await stopGroup(pgid);
    unregisterGroup();
    unregisterStop();
  });
  const unregisterStop = registerStop(stop, log);
  return stop;
}
