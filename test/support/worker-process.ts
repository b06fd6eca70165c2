import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serversOfRun, workerLog } from './secret-scan';

const lifeboat = fileURLToPath(new URL('../../bin/lifeboat', import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  /** Kills the worker and everything it started, as a machine crash would. */
  crash(): void;
  stop(): Promise<void>;
}

/** `lifeboat worker [args]` as its own process group, so a test can kill it and its tools at once. */
export function startWorkerProcess(configFile: string, env: Record<string, string>, args: string[] = []): WorkerProcess {
  const child = spawn(lifeboat, ['--config', configFile, 'worker', ...args], { env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  // Also into the run's worker logs, which the secret scan reads after the suite.
  const servers = serversOfRun();
  const keep = (chunk: Buffer) => {
    text += chunk.toString();
    workerLog(servers, `process-${child.pid}.log`, chunk.toString());
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // already gone
    }
  };
  return {
    child,
    output: () => text,
    crash: () => signal('SIGKILL'),
    async stop() {
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
