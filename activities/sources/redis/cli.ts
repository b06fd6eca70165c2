import { execa } from 'execa';
import { LifeboatError } from '../../../lib/errors';
import { installHints } from '../../pipeline/processes';
import { childEnvOptions } from '../../../lib/child-env';

export interface RedisTarget {
  host: string;
  port: number;
  user?: string;
  password?: string;
  db: number;
}

export function parseRedisUrl(url: string, password?: string): RedisTarget {
  const parsed = new URL(url);
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    user: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password,
    db: parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0,
  };
}

/** redis-cli arguments; the password travels in REDISCLI_AUTH, never on the command line. */
export function cliArgs(target: RedisTarget): { args: string[]; env: Record<string, string> } {
  const args = ['-h', target.host, '-p', String(target.port), '--no-auth-warning'];
  if (target.user) args.push('--user', target.user);
  return { args, env: target.password === undefined ? {} : { REDISCLI_AUTH: target.password } };
}

export function classifyRedisError(where: string) {
  return (text: string): LifeboatError | undefined => {
    if (/WRONGPASS|NOAUTH|invalid username-password|AUTH failed/i.test(text)) {
      return new LifeboatError('Config', `${where}: authentication failed`, 'check the user in the URL and the password named by passwordEnv/passwordFile');
    }
    if (/Connection refused|Could not connect|Name or service not known|timed out/i.test(text)) {
      return new LifeboatError('SourceUnreachable', `${where}: cannot connect: ${text.split('\n').find(Boolean) ?? ''}`, 'check that the server is running and reachable from this worker');
    }
    // A refusal comes as an error reply; a server that dies or restarts mid-transfer breaks the
    // connection instead, and a retry may well succeed: only the first is Unsupported.
    if (/NOPERM|unknown command|can't SYNC|aborted replication with an error/i.test(text)) {
      return new LifeboatError('Unsupported', `${where}: the server refused SYNC, so redis-cli --rdb cannot take a snapshot: ${text.split('\n').filter(Boolean).pop() ?? ''}`,
        'managed Redis services often disable SYNC: use their own snapshot export, or grant the ACL user +sync (and +replconf, +ping)');
    }
    if (/while SYNCing|I\/O Error|Server closed|Connection reset|MASTER aborted/i.test(text)) {
      return new LifeboatError('SourceUnreachable', `${where}: the connection broke during the snapshot: ${text.split('\n').filter(Boolean).pop() ?? ''}`,
        'the server stopped, restarted or dropped the replica connection (see its log: client-output-buffer-limit replica is a common cause); the backup is retried');
    }
    return undefined;
  };
}

/** INFO as key/value pairs: "role" → "master", "db0" → "keys=3,expires=1,avg_ttl=0". */
export async function info(target: RedisTarget, where: string): Promise<Map<string, string>> {
  const { args, env } = cliArgs(target);
  try {
    const { stdout } = await execa('redis-cli', [...args, 'INFO', 'everything'], { ...childEnvOptions(env), timeout: 15_000 });
    const classified = classifyRedisError(where)(stdout.startsWith('ERR') || stdout.startsWith('NOAUTH') || stdout.startsWith('WRONGPASS') ? stdout : '');
    if (classified) throw classified;
    return new Map(stdout.split('\r\n').flatMap((line) => {
      const at = line.indexOf(':');
      return at > 0 && !line.startsWith('#') ? [[line.slice(0, at), line.slice(at + 1)] as [string, string]] : [];
    }));
  } catch (error) {
    if (error instanceof LifeboatError) throw error;
    const failure = error as { code?: string; stderr?: string; stdout?: string; message: string };
    if (failure.code === 'ENOENT') throw new LifeboatError('MissingTool', 'redis-cli not found on this worker\'s PATH', `install it: ${installHints['redis-cli']}`);
    throw classifyRedisError(where)(`${failure.stderr ?? ''}\n${failure.stdout ?? ''}`) ?? new LifeboatError('ToolFailed', `${where}: redis-cli INFO failed: ${failure.message}`);
  }
}

export function keyspace(values: Map<string, string>): Record<string, { keys: number; expires: number }> {
  const result: Record<string, { keys: number; expires: number }> = {};
  for (const [key, value] of values) {
    if (!/^db\d+$/.test(key)) continue;
    const fields = Object.fromEntries(value.split(',').map((pair) => pair.split('=') as [string, string]));
    result[key] = { keys: Number(fields.keys ?? 0), expires: Number(fields.expires ?? 0) };
  }
  return result;
}
