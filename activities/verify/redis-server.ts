import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LifeboatError } from '../../lib/errors';
import { installHints } from '../pipeline/processes';
import { freePort } from '../ports';
import { info, keyspace, type RedisTarget } from '../sources/redis/cli';
import { childEnv } from '../../lib/child-env';

export const pidFileName = 'redis-server.pid';

export interface ScratchRedis {
  target: RedisTarget;
  pid: number;
  /** INFO keyspace once loading finished. */
  keyspace: Record<string, { keys: number; expires: number }>;
  version: string;
}


/**
 * redis-server on dump.rdb in `directory`, loopback only, persisting nothing. Its pid is written
 * before it even binds, so the cleanup after a crashed worker always finds it.
 */
export async function startScratchRedis(directory: string): Promise<ScratchRedis> {
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort();
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', directory, '--dbfilename', 'dump.rdb',
      '--save', '', '--appendonly', 'no', '--logfile', join(directory, 'redis.log')], { detached: true, stdio: 'ignore', env: childEnv() });
    const spawned = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'ENOENT'
        ? new LifeboatError('MissingTool', 'redis-server not found on this worker\'s PATH', `install it: ${installHints['redis-server']}`)
        : error));
    });
    writeFileSync(join(directory, pidFileName), `${spawned}\n${port}\n`);
    // The server belongs to this verification, not to the worker: it must not keep the worker alive.
    child.unref();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const target: RedisTarget = { host: '127.0.0.1', port, db: 0 };
    const loaded = await waitLoaded(target, spawned, exited);
    if (loaded) return { target, pid: spawned, keyspace: keyspace(loaded), version: loaded.get('redis_version') ?? 'unknown' };
    // Another process took the port between our probe and the bind: try a new one, a few times.
    const log = existsSync(join(directory, 'redis.log')) ? readFileSync(join(directory, 'redis.log'), 'utf8') : '';
    killPid(spawned);
    if (attempt >= 3 || !/Address already in use/.test(log)) {
      throw new LifeboatError('VerificationFailed', `the scratch redis-server did not come up on the restored dump.rdb: ${log.trim().split('\n').slice(-2).join(' | ')}`,
        `see ${join(directory, 'redis.log')}`);
    }
  }
}

/**
 * INFO once the server (ours: its process_id is the pid we started) has loaded the file; undefined
 * if it died or never answered. A large RDB loads for minutes: waiting lasts while it says "loading".
 */
async function waitLoaded(target: RedisTarget, pid: number, exited: Promise<void>): Promise<Map<string, string> | undefined> {
  let dead = false;
  void exited.then(() => { dead = true; });
  for (let silent = 0; silent < 30_000 && !dead; silent += 100) {
    const values = await info(target, `scratch redis on port ${target.port}`).catch(() => undefined);
    if (values && values.get('process_id') === String(pid)) {
      if (values.get('loading') === '0') return values;
      silent = 0;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

/** redis-server rewrites its command line to "redis-server 127.0.0.1:<port>". */
function isRedisServer(pid: number, port: string | number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('redis-server') && cmdline.includes(`:${port}`);
  } catch {
    return false;
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Kills the redis-server with this pid if it still runs and is still a redis-server on that port
 * (a recycled pid belongs to someone else), and waits until it is gone. Whether it killed one.
 */
export async function killRedisServer(pid: number, port: string | number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0 || !isRedisServer(pid, port)) return false;
  killPid(pid);
  for (let waited = 0; waited < 10_000 && isRedisServer(pid, port); waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  return true;
}

/**
 * Kills the redis-server whose pid the scratch directory records, if it still runs (and is still a
 * redis-server: a recycled pid belongs to someone else). Returns the pid it killed.
 */
export async function killScratchRedis(directory: string): Promise<number | undefined> {
  const file = join(directory, pidFileName);
  if (!existsSync(file)) return undefined;
  const [pidText = '', port = ''] = readFileSync(file, 'utf8').split('\n');
  const pid = Number(pidText);
  // Scratch data: nothing to save, so no SHUTDOWN handshake, just gone.
  return (await killRedisServer(pid, port)) ? pid : undefined;
}
