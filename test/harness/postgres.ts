import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findPostgresBinDir } from './binaries';
import { registerGroup, registerStop } from './cleanup';
import { freePorts } from './ports';
import { type Log, logTail, once, pidAlive, run, stopGroup, waitHealthy } from './processes';

export interface PostgresInfo {
  host: string;
  port: number;
  user: string;
  password: string;
  binDir: string;
  dataDir: string;
  pid: number;
}

export interface StartPostgresOptions {
  /** Directory for this cluster (data/, the unix socket, the log); created if missing. */
  dir: string;
  port?: number;
  password?: string;
  /** Extra postgresql.conf settings, e.g. { wal_level: 'replica', archive_mode: 'on' }. */
  settings?: Record<string, string | number>;
  /** Extra initdb arguments, e.g. ['--wal-segsize=1'] for WAL that fills and recycles in seconds. */
  initdbArgs?: string[];
  log?: Log;
}

const isRoot = process.getuid?.() === 0;

/** initdb and postgres refuse to run as root, so as root everything runs as the `postgres` OS user. */
function asClusterOwner(cmd: string, args: string[]): [string, string[]] {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

async function ownerIds(): Promise<{ uid: number; gid: number }> {
  const uid = Number((await run('id', ['-u', 'postgres'])).trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).trim());
  return { uid, gid };
}

/**
 * The postgres user needs to traverse every parent of the cluster dir. Test dirs from mkdtemp
 * are 0700, so under the temp dir we add search permission (o+x, not read); elsewhere we refuse.
 */
function makeReachable(dir: string): void {
  const tmp = realpathSync(tmpdir());
  for (let d = path.dirname(dir); d !== path.dirname(d); d = path.dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) !== 0) continue;
    if (d.startsWith(`${tmp}${path.sep}`)) chmodSync(d, (mode & 0o7777) | 0o001);
    else throw new Error(`postgres: the postgres OS user cannot enter ${d} (needed to reach ${dir}); chmod o+x it or use a directory under ${tmp}`);
  }
}

function quote(value: string | number): string {
  return typeof value === 'number' ? String(value) : `'${value.replaceAll("'", "''")}'`;
}

/** A throwaway PostgreSQL cluster on 127.0.0.1, password auth over TCP (scram), trust on its private socket. */
export async function startPostgres(opts: StartPostgresOptions): Promise<{ postgres: PostgresInfo; stop(): Promise<void> }> {
  const binDir = findPostgresBinDir();
  const bin = (name: string) => path.join(binDir, name);
  mkdirSync(path.resolve(opts.dir), { recursive: true });
  const dir = realpathSync(opts.dir);
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  const port = opts.port ?? (await freePorts(1))[0]!;
  const password = opts.password ?? randomBytes(12).toString('hex');
  const user = 'postgres';

  const pwfile = path.join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  writeFileSync(logFile, '');
  if (isRoot) {
    makeReachable(dir);
    const { uid, gid } = await ownerIds();
    for (const p of [dir, pwfile, logFile]) chownSync(p, uid, gid);
  }

  await run(...asClusterOwner(bin('initdb'), ['-D', dataDir, '-U', user, `--pwfile=${pwfile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync', ...(opts.initdbArgs ?? [])]));
  rmSync(pwfile);

  const settings: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    port,
    unix_socket_directories: dir,
    // Test data is disposable; fsync off and small buffers keep the cluster fast and light.
    fsync: 'off',
    shared_buffers: '32MB',
    max_connections: 50,
    ...opts.settings,
  };
  appendFileSync(path.join(dataDir, 'postgresql.conf'), `\n# lifeboat test harness\n${Object.entries(settings).map(([k, v]) => `${k} = ${quote(v)}`).join('\n')}\n`);

  const pgCtl = (args: string[]) => run(...asClusterOwner(bin('pg_ctl'), ['-D', dataDir, ...args]), { timeoutMs: 90_000 });
  try {
    await pgCtl(['-l', logFile, '-w', '-t', '60', 'start']);
  } catch (e) {
    // pg_ctl may give up waiting while the postmaster still comes up; do not leave it behind.
    await pgCtl(['-m', 'immediate', 'stop']).catch(() => undefined);
    throw new Error(`postgres did not start: ${(e as Error).message}\n${logTail(logFile)}`);
  }
  // pg_ctl daemonises the postmaster with setsid, so its pid is also its process group.
  const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const unregisterGroup = registerGroup(pid);

  const stop = once(async () => {
    try {
      if (pidAlive(pid)) await pgCtl(['-m', 'fast', '-w', '-t', '30', 'stop']);
    } catch {
      // Fall through to killing the group below.
    }
    await stopGroup(pid, 5_000);
    unregisterGroup();
    unregisterStop();
    if (pidAlive(pid)) throw new Error(`postgres pid ${pid} still alive after stop`);
  });
  const unregisterStop = registerStop(stop, opts.log);

  const env = { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' };
  const proc = { name: 'postgres', logFile, exitStatus: () => (pidAlive(pid) ? undefined : 'postmaster gone') };
  try {
    await waitHealthy(proc, () => run(bin('pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-t', '5']), 30_000);
    await waitHealthy(proc, async () => {
      const out = (await run(bin('psql'), ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', 'postgres', '-c', 'select 1'], { env })).trim();
      if (out !== '1') throw new Error(`psql answered ${JSON.stringify(out)}`);
    }, 30_000);
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }

  return { postgres: { host: '127.0.0.1', port, user, password, binDir, dataDir, pid }, stop };
}
