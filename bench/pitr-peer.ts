import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { pgBinary } from '../activities/sources/postgres/binaries';
import { clusterUser, postmasterPid, stopCluster } from '../activities/sources/postgres/cluster';
import { removeTree } from '../activities/remove-tree';

// The pitr part's peer, (t): the break-glass of docs/pitr.md done by hand, with no Lifeboat — the
// base backup through age -d | zstd -d | tar -x, the archived WAL decrypted segment by segment into
// a local directory, then PostgreSQL recovering from it with restore_command = 'cp DIR/%f %p' to
// the same recovery target. Only the replay is what (s) is held to; the rest is timed beside it.

const isRoot = process.getuid?.() === 0;

/** Runs a bash script with pipefail; rejects with the tail of stderr. */
function bash(script: string, args: string[] = [], env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', script, 'bash', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`bash -c '${script.slice(0, 200)}' ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${stderr.trim().slice(-800)}`))));
  });
}

const asPostgres = (args: string[]): string[] => (isRoot ? ['runuser', '-u', 'postgres', '--', ...args] : args);
const quoted = (args: string[]) => args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');

/** "elapsed: 12.34 s" of PostgreSQL's "redo done at …" line: the startup process's own time from the first WAL record to the last. */
export function redoSeconds(logFile: string): number | null {
  if (!existsSync(logFile)) return null;
  const match = /redo done at .*elapsed: ([\d.]+) s/.exec(readFileSync(logFile, 'utf8'));
  return match ? Number(match[1]) : null;
}

/**
 * Polls a server in recovery until it has promoted, as restoreCluster's waitForPromotion does (a
 * new connection 200 ms after the start, then every 500 ms), so both sides of the ratio are timed
 * at the same grain. Returns where replay ended.
 */
export async function waitPromoted(dataDir: string, connection: pg.ClientConfig, logFile: string): Promise<{ lsn: string }> {
  for (let round = 0; ; round += 1) {
    await sleep(round === 0 ? 200 : 500);
    if (round >= 4 && postmasterPid(dataDir) === undefined) throw new Error(`the peer's PostgreSQL stopped during recovery:\n${readFileSync(logFile, 'utf8').split('\n').slice(-12).join('\n')}`);
    const client = new pg.Client({ ...connection, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
      const { rows } = await client.query<{ recovering: boolean; lsn: string | null }>('select pg_is_in_recovery() as recovering, pg_last_wal_replay_lsn()::text as lsn');
      if (!rows[0]!.recovering) return { lsn: rows[0]!.lsn ?? '' };
    } catch {
      // Still starting, or not consistent yet.
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

export interface PeerPrepared {
  dataDir: string;
  walDir: string;
  socketDir: string;
  logFile: string;
  major: string;
  extractSeconds: number;
  verifySeconds: number;
  walSeconds: number;
  walFiles: number;
  walBytes: number;
}

/**
 * The untimed-for-the-ratio part of the break-glass: extract the base backup, pg_verifybackup it,
 * decrypt every archived WAL file from the backup's start segment on (one after another, as the
 * documented loop does) into a local directory, and write the recovery settings.
 */
export async function preparePeer(o: {
  dir: string; identity: string; baseObject: string; walObjects: string[]; major: string; port: number; targetLsn: string;
}): Promise<PeerPrepared> {
  const dataDir = join(o.dir, 'data');
  const walDir = join(o.dir, 'wal');
  const socketDir = join(o.dir, 'socket');
  const logFile = join(o.dir, 'postgres.log');
  // The postgres user must pass through it to its own directories inside.
  mkdirSync(o.dir, { recursive: true });
  chmodSync(o.dir, 0o711);
  for (const path of [dataDir, walDir, socketDir]) mkdirSync(path, { mode: 0o700 });
  writeFileSync(logFile, '');

  let start = performance.now();
  await bash('age -d -i "$ID" "$1" | zstd -d -q | tar -x -C "$DATA"', [o.baseObject], { ID: o.identity, DATA: dataDir });
  const extractSeconds = (performance.now() - start) / 1000;
  start = performance.now();
  await bash(`${quoted([pgBinary('pg_verifybackup', o.major)])} "$DATA" > /dev/null`, [], { DATA: dataDir });
  const verifySeconds = (performance.now() - start) / 1000;
  start = performance.now();
  await bash('for f in "$@"; do n=$(basename "$f" .zst.age); age -d -i "$ID" "$f" | zstd -d -q > "$WAL/$n"; done', o.walObjects, { ID: o.identity, WAL: walDir });
  const walSeconds = (performance.now() - start) / 1000;
  const staged = readdirSync(walDir);
  const walBytes = staged.reduce((sum, name) => sum + statSync(join(walDir, name)).size, 0);

  // The break-glass settings, plus what keeps this cluster to itself (a private socket) and off
  // the timeline probe Lifeboat also skips (recovery_target_timeline = current).
  const settings: Record<string, string | number> = {
    restore_command: `cp "${walDir}/%f" "%p"`,
    recovery_target_lsn: o.targetLsn,
    recovery_target_action: 'promote',
    recovery_target_timeline: 'current',
    archive_mode: 'off',
    port: o.port,
    listen_addresses: '127.0.0.1',
    unix_socket_directories: socketDir,
  };
  const quote = (value: string | number) => (typeof value === 'number' ? String(value) : `'${value.replaceAll("'", "''")}'`);
  appendFileSync(join(dataDir, 'postgresql.auto.conf'), `\n${Object.entries(settings).map(([k, v]) => `${k} = ${quote(v)}`).join('\n')}\n`);
  writeFileSync(join(dataDir, 'recovery.signal'), '');
  if (isRoot) await bash('chown -R postgres: "$@"', [dataDir, walDir, socketDir, logFile]);
  return { dataDir, walDir, socketDir, logFile, major: o.major, extractSeconds, verifySeconds, walSeconds, walFiles: staged.filter((n) => /^[0-9A-F]{24}$/.test(n)).length, walBytes };
}

/** The timed part: pg_ctl start (not waiting), then the same polling as Lifeboat's until promotion. */
export async function replayPeer(p: PeerPrepared, port: number): Promise<{ seconds: number; lsn: string; redoSeconds: number | null }> {
  const start = performance.now();
  await bash(quoted(asPostgres([pgBinary('pg_ctl', p.major), '-D', p.dataDir, '-l', p.logFile, '-W', 'start'])));
  const { lsn } = await waitPromoted(p.dataDir, { host: p.socketDir, port, user: 'postgres', database: 'postgres' }, p.logFile);
  return { seconds: (performance.now() - start) / 1000, lsn, redoSeconds: redoSeconds(p.logFile) };
}

/** Stops the peer's cluster and deletes everything it had. */
export async function removePeer(p: PeerPrepared, dir: string): Promise<void> {
  await stopCluster(p.dataDir, clusterUser(undefined), p.major).catch(() => undefined);
  await removeTree(dir);
}
