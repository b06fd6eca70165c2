import type { RedisSourceConfig } from '../../../lib/config/schema';
import { readSecret } from '../../../lib/config/secrets';
import type { RedisDescription } from '../../../lib/manifest';
import { LifeboatError } from '../../../lib/errors';
import { installHints } from '../../pipeline/processes';
import { toolVersion } from '../../pipeline/versions';
import type { Snapshot, Source } from '../source';
import { classifyRedisError, cliArgs, info, keyspace, parseRedisUrl } from './cli';
import { RdbTrailerFilter } from './trailer';

/** "[info] 12 keys read" and "[info] 3 expires" from redis-check-rdb. */
export function rdbCounts(output: string): { keys: number; expires: number } {
  return {
    keys: Number(/(\d+) keys read/.exec(output)?.[1] ?? NaN),
    expires: Number(/(\d+) expires/.exec(output)?.[1] ?? 0),
  };
}

export function redisSource(name: string, config: RedisSourceConfig, env: NodeJS.ProcessEnv): Source {
  return {
    fileName: 'dump.rdb.zst.age',
    content: 'Redis RDB (redis-cli --rdb), zstd, age',
    toolVersions: async () => ({ 'redis-cli': await toolVersion('redis-cli'), 'redis-check-rdb': await toolVersion('redis-check-rdb') }),
    restoreWith: (file) => `age -d -i IDENTITY ${file} | zstd -d > dump.rdb && redis-check-rdb dump.rdb && redis-server --dir . --dbfilename dump.rdb`,
    async snapshot(): Promise<Snapshot> {
      const target = parseRedisUrl(config.url, readSecret(config, `sources.${name}`, env));
      const where = `source ${name} (redis://${target.host}:${target.port})`;
      // INFO first: it proves the server is reachable and the credentials work before SYNC starts.
      const before = await info(target, where);
      const { args, env: cliEnv } = cliArgs(target);
      const filter = new RdbTrailerFilter();
      return {
        producer: { tool: 'redis-cli', args: [...args, '--rdb', '-'], env: cliEnv, what: `redis-cli --rdb of ${name}`, classify: classifyRedisError(where) },
        filter,
        // Reads the same bytes as they stream by, so nothing is staged on disk to be checked.
        validators: [{
          // redis-check-rdb opens a path; /dev/stdin of a socket (Node's stdio) cannot be opened, of a pipe it can.
          tool: 'bash',
          args: ['-c', 'set -o pipefail; cat | redis-check-rdb /dev/stdin'],
          what: `redis-check-rdb of ${name}`,
          classify: (stderr) => (/redis-check-rdb: (command )?not found/.test(stderr)
            ? new LifeboatError('MissingTool', 'redis-check-rdb not found on this worker\'s PATH', `install it: ${installHints['redis-check-rdb']}`) : undefined),
        }],
        parent: null,
        async describe({ raw, checks }): Promise<RedisDescription> {
          const counts = rdbCounts(checks[0] ?? '');
          const lag = Number(before.get('master_repl_offset') ?? NaN) - Math.min(
            ...[...before.entries()].filter(([key]) => /^slave\d+$/.test(key)).map(([, value]) => Number(/offset=(\d+)/.exec(value)?.[1] ?? NaN)));
          return {
            kind: 'redis',
            serverVersion: before.get('redis_version') ?? 'unknown',
            role: before.get('role') ?? 'unknown',
            connectedReplicas: Number(before.get('connected_slaves') ?? 0),
            replicaLagBytes: Number.isFinite(lag) ? lag : null,
            keyspace: keyspace(before),
            rdbBytes: raw?.size ?? 0,
            rdbKeys: counts.keys,
            rdbExpires: counts.expires,
          };
        },
        release: async () => undefined,
      };
    },
  };
}
