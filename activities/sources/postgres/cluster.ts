import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { LifeboatError } from '../../../lib/errors';
import { pgBinary } from './binaries';
import { childEnvOptions } from '../../../lib/child-env';

const isRoot = process.getuid?.() === 0;

/** PostgreSQL refuses to run as root: as root the cluster belongs to `postgres`, else to whoever runs the worker. */
export function clusterUser(osUser: string | undefined): string {
  return osUser ?? (isRoot ? 'postgres' : userInfo().username);
}

/** [command, args] that run as `user` (runuser when the worker is root and the user is another). */
export function asUser(user: string, command: string, args: string[]): [string, string[]] {
  return isRoot && user !== 'root' ? ['runuser', ['-u', user, '--', command, ...args]] : [command, args];
}

export async function userIds(user: string): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([execa('id', ['-u', user], childEnvOptions()), execa('id', ['-g', user], childEnvOptions())]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** The postmaster's pid from postmaster.pid, if the file is there and that process lives. */
export function postmasterPid(dataDir: string): number | undefined {
  const file = join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Starts the postmaster in the background (pg_ctl -W) with its log at `logFile`; the caller waits for it. */
export async function startCluster(dataDir: string, user: string, logFile: string, major: string): Promise<void> {
  await execa(...asUser(user, pgBinary('pg_ctl', major), ['-D', dataDir, '-l', logFile, '-W', 'start']), { timeout: 60_000, ...childEnvOptions() });
}

/** Starts a cluster that was restored before and stopped since, waiting until it accepts connections; its log tail on failure. */
export async function restartCluster(dataDir: string, user: string, logFile: string, major: string): Promise<void> {
  const result = await execa(...asUser(user, pgBinary('pg_ctl', major), ['-D', dataDir, '-l', logFile, '-w', '-t', '600', 'start']), { reject: false, timeout: 610_000, ...childEnvOptions() });
  if (result.exitCode === 0) return;
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter(Boolean).slice(-12).join('\n') : '';
  throw new LifeboatError('ToolFailed', `the cluster restored at ${dataDir} was down and does not start again: ${`${result.stderr}`.trim()}\n${log}`,
    'read the log above; the cluster was left as it is (remove it with its owner\'s cleanup to restore again)');
}

/** Stops a cluster if one runs there: fast shutdown, then immediate, then SIGKILL. Safe to repeat. */
export async function stopCluster(dataDir: string, user: string, major?: string): Promise<boolean> {
  const pid = postmasterPid(dataDir);
  if (pid === undefined) return false;
  const pgCtl = pgBinary('pg_ctl', major);
  for (const mode of ['fast', 'immediate']) {
    const result = await execa(...asUser(user, pgCtl, ['-D', dataDir, '-m', mode, '-w', '-t', '30', 'stop']), { reject: false, timeout: 40_000, ...childEnvOptions() });
    if (result.exitCode === 0 && postmasterPid(dataDir) === undefined) return true;
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  return true;
}


