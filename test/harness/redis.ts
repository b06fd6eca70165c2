import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { findBinary } from './binaries';
import { supervise } from './cleanup';
import { freePorts } from './ports';
import { type Log, run, spawnServer, waitHealthy } from './processes';

export interface RedisInfo {
  host: string;
  port: number;
  pid: number;
}

/** A throwaway redis-server on 127.0.0.1 without persistence; `dir` holds its log (and any dump a test asks for). */
export async function startRedis(opts: { dir: string; port?: number; log?: Log }): Promise<{ redis: RedisInfo; stop(): Promise<void> }> {
  const server = findBinary('redis-server');
  const cli = findBinary('redis-cli');
  const dir = path.resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const port = opts.port ?? (await freePorts(1))[0]!;
  const proc = spawnServer('redis', server, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
    logFile: path.join(dir, 'redis.log'),
    cwd: dir,
  });
  const stop = supervise(proc.pid, opts.log);
  try {
    await waitHealthy(proc, async () => {
      const out = (await run(cli, ['-h', '127.0.0.1', '-p', String(port), 'ping'], { timeoutMs: 5_000 })).trim();
      if (out !== 'PONG') throw new Error(`redis-cli ping answered ${JSON.stringify(out)}`);
    }, 30_000);
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  return { redis: { host: '127.0.0.1', port, pid: proc.pid }, stop };
}
