import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { LifeboatError } from '../../../lib/errors';
import type { Manifest, RedisDescription } from '../../../lib/manifest';
import { requireEmptyDirectory, restoreObject, verifyObject } from '../../restore-stream';
import type { StorageBackend } from '../../storage/backend';
import { info, keyspace } from './cli';
import { enableAppendOnly, writeRedisConf, type RedisDurability } from './durable';
import { rdbCounts } from './source';
import { childEnvOptions } from '../../../lib/child-env';

export interface RedisRestoreOptions {
  directory: string;
  clean: boolean;
  /** Start redis-server on the restored file on this port and compare key counts. */
  serve?: number;
  /** With serve: persist writes and require a password (a failover target); without, it persists nothing. */
  durable?: RedisDurability;
}

/** Writes a validated dump.rdb into an empty directory; optionally serves it and counts keys. */
export async function restoreRedis(storage: StorageBackend, manifest: Manifest, identity: string, options: RedisRestoreOptions): Promise<string> {
  const description = manifest.description as RedisDescription;
  const { directory } = options;
  requireEmptyDirectory(directory, options.clean, 'restore into an empty directory, or pass --clean to replace dump.rdb there');
  const object = manifest.objects[0]!;
  await verifyObject(storage, object, identity, `backup ${manifest.id}`);
  const partial = join(directory, `dump.rdb.partial-${process.pid}`);
  try {
    await restoreObject(storage, object, identity, `backup ${manifest.id}`, { tool: 'dd', args: [`of=${partial}`, 'bs=1M', 'status=none'], what: `writing ${partial}` });
    const check = await execa('redis-check-rdb', [partial], { reject: false, ...childEnvOptions() });
    const counts = rdbCounts(check.stdout);
    if (check.exitCode !== 0 || counts.keys !== description.rdbKeys) {
      throw new LifeboatError('VerificationFailed', `restored RDB of backup ${manifest.id} fails redis-check-rdb or holds ${counts.keys} keys, manifest says ${description.rdbKeys}`,
        'do not use it: restore another backup');
    }
    renameSync(partial, join(directory, 'dump.rdb'));
  } finally {
    rmSync(partial, { force: true });
  }
  if (options.serve === undefined) return `dump.rdb in ${directory} passes redis-check-rdb with ${description.rdbKeys} keys, as the manifest says`;
  return serve(directory, options.serve, description, manifest.id, options.durable);
}

async function serve(directory: string, port: number, description: RedisDescription, id: string, durable?: RedisDurability): Promise<string> {
  // --daemonize: the server outlives this activity, as the operator asked; its pid file says where it is.
  if (durable) await execa('redis-server', [writeRedisConf(directory, port, durable)], childEnvOptions());
  else {
    await execa('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', directory, '--dbfilename', 'dump.rdb',
      '--save', '', '--appendonly', 'no', '--daemonize', 'yes', '--pidfile', join(directory, 'redis.pid'), '--logfile', join(directory, 'redis.log')], childEnvOptions());
  }
  const target = { host: '127.0.0.1', port, db: 0, password: durable?.password };
  let served: Record<string, { keys: number; expires: number }> | undefined;
  for (let attempt = 0; attempt < 100 && !served; attempt += 1) {
    const values = await info(target, `restored redis on port ${port}`).catch(() => undefined);
    if (values && values.get('loading') === '0') served = keyspace(values);
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!served) throw new LifeboatError('VerificationFailed', `redis-server on port ${port} did not come up on the restored file`, `see ${join(directory, 'redis.log')}`);
  const total = Object.values(served).reduce((sum, db) => sum + db.keys, 0);
  if (total !== description.rdbKeys) {
    throw new LifeboatError('VerificationFailed', `redis-server on port ${port} serves ${total} keys, backup ${id} holds ${description.rdbKeys}`, `see ${join(directory, 'redis.log')}`);
  }
  const serving = `redis-server serves the restored dump.rdb on 127.0.0.1:${port} (pid file ${join(directory, 'redis.pid')}) with ${total} keys, as the manifest says`;
  if (!durable) return serving;
  if (durable.appendonly) await enableAppendOnly(target, join(directory, 'redis.conf'), `redis-server on port ${port}`);
  return `${serving}; it persists writes (${durable.appendonly ? `appendonly, appendfsync ${durable.appendfsync}` : 'no append-only file'}, save "${durable.save}")${durable.password === undefined ? '' : ', requires a password'}, and starts again with redis-server ${join(directory, 'redis.conf')}`;
}
