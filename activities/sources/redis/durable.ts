import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { LifeboatError } from '../../../lib/errors';
import { cliArgs, info, type RedisTarget } from './cli';

/** How a served Redis keeps the writes it takes; a failover target takes the application's writes. */
export interface RedisDurability {
  appendonly: boolean;
  appendfsync: 'always' | 'everysec' | 'no';
  /** redis.conf `save` points ("3600 1 300 100 60 10000"); "" for none. */
  save: string;
  /** requirepass of the default user; read from a secret reference, written only to the 0600 config file. */
  password?: string;
}

/** Redis 7's own defaults for snapshots, with an append-only file fsynced every second. */
export const failoverRedisDefaults: Omit<RedisDurability, 'password'> = { appendonly: true, appendfsync: 'everysec', save: '3600 1 300 100 60 10000' };

/** A redis.conf string value; Redis reads "…" with backslash escapes. */
function quote(value: string, what: string): string {
  if (/[\r\n\0]/.test(value)) throw new LifeboatError('Config', `${what} contains a line break or NUL, which redis.conf cannot hold`, 'choose another value');
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/**
 * DIR/redis.conf (0600: it may hold the password, which never goes on a command line). appendonly
 * starts off: Redis started with appendonly on and no AOF yet ignores dump.rdb and serves an empty
 * dataset, so the AOF is switched on once the restored RDB is loaded (enableAppendOnly).
 * `redis-server DIR/redis.conf` starts the same server again after a reboot.
 */
export function writeRedisConf(directory: string, port: number, durable: RedisDurability): string {
  const file = join(directory, 'redis.conf');
  const lines = [
    '# written by Lifeboat for a failover target; CONFIG REWRITE keeps it current',
    `port ${port}`,
    'bind 127.0.0.1',
    `dir ${quote(directory, 'the target directory')}`,
    'dbfilename dump.rdb',
    'daemonize yes',
    `pidfile ${quote(join(directory, 'redis.pid'), 'the target directory')}`,
    `logfile ${quote(join(directory, 'redis.log'), 'the target directory')}`,
    `save ${quote(durable.save, 'persistence.save')}`,
    'appendonly no',
    `appendfsync ${durable.appendfsync}`,
    ...(durable.password === undefined ? [] : [`requirepass ${quote(durable.password, 'the redis failover target password')}`]),
  ];
  // The directory too: CONFIG REWRITE replaces the file with one of the default mode.
  chmodSync(directory, 0o700);
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

async function command(target: RedisTarget, args: string[], where: string): Promise<string> {
  const { args: base, env } = cliArgs(target);
  const { stdout } = await execa('redis-cli', [...base, ...args], { env, timeout: 15_000 });
  if (/^(ERR|NOAUTH|WRONGPASS)/.test(stdout)) throw new LifeboatError('ToolFailed', `${where}: redis-cli ${args.join(' ')}: ${stdout.split('\n')[0]}`);
  return stdout;
}

/** Turns the AOF on from what is in memory, waits until its first rewrite is on disk, and records the setting in redis.conf. */
export async function enableAppendOnly(target: RedisTarget, confFile: string, where: string): Promise<void> {
  await command(target, ['CONFIG', 'SET', 'appendonly', 'yes'], where);
  for (let waited = 0; ; waited += 100) {
    const values = await info(target, where);
    if (values.get('aof_enabled') === '1' && values.get('aof_rewrite_in_progress') === '0' && values.get('aof_rewrite_scheduled') === '0') break;
    if (waited > 600_000) throw new LifeboatError('ToolFailed', `${where}: the first append-only file was not written within 10 minutes`, `see ${where}'s redis.log`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await command(target, ['CONFIG', 'REWRITE'], where);
  chmodSync(confFile, 0o600);
}
