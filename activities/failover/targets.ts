import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readSecret } from '../../lib/config/secrets';
import type { FailoverTargetConfig } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import type { FailoverSourceKind } from '../../lib/failover';
import type { Manifest } from '../../lib/manifest';
import { restoreFiles } from '../sources/files/restore';
import { connect, databaseName, quoteIdent, redact, withDatabase, type PgTarget } from '../sources/postgres/connect';
import { restorePostgres } from '../sources/postgres/restore';
import { createDatabase, inspectTarget } from '../sources/postgres/target';
import { failoverRedisDefaults } from '../sources/redis/durable';
import { restoreRedis } from '../sources/redis/restore';
import type { TrustedKey } from '../../lib/signing';
import type { StorageBackend } from '../storage/backend';
import { portInUse } from '../ports';
import { removeTree } from '../remove-tree';
import { killRedisServer } from '../verify/redis-server';
import { databaseMarker, hasMarker, markDatabase, markerFile, writeMarker } from './markers';
import { teardownPhysical } from './physical';

export interface TargetRun {
  storage: StorageBackend;
  trusted: TrustedKey[];
  manifest: Manifest;
  identity: string;
  target: FailoverTargetConfig;
  /** markerText() of this run and source. */
  marker: string;
}

/** The logical target with its password, read here in the worker. */
export function pgTarget(target: FailoverTargetConfig, what: string, env: NodeJS.ProcessEnv): PgTarget {
  return { url: target.url!, password: readSecret(target, what, env) };
}

/**
 * A new database on the target server. One that exists and holds anything is refused, unless its
 * comment says this run created it: then it is a half-done attempt (pg_restore runs in one
 * transaction, but a crash after it leaves it whole and unchecked) and is dropped and redone.
 */
export async function restoreLogical(run: TargetRun, pg: PgTarget): Promise<string> {
  const found = await databaseMarker(pg);
  const ours = found.exists && found.comment === run.marker;
  if (found.exists && !ours) {
    // Checked before it is marked: a teardown must never drop a database that held someone's data.
    const { relations } = await inspectTarget(pg);
    if (relations > 0) {
      throw new LifeboatError('TargetNotEmpty', `failover target ${redact(pg.url)} already exists and holds ${relations} tables or other relations`,
        'point the target at a database that does not exist yet (Lifeboat creates it), or drop that one first');
    }
  }
  if (ours) await dropDatabase(pg);
  if (!found.exists || ours) await createDatabase(pg);
  await markDatabase(pg, run.marker).catch((error: unknown) => {
    throw new LifeboatError('Config', `cannot mark ${redact(pg.url)} as this failover's (COMMENT ON DATABASE): ${(error as Error).message}`, 'the target URL\'s user must own the database it restores into (CREATEDB)');
  });
  return restorePostgres(run.storage, run.manifest, run.identity, { target: pg, clean: false, noOwner: true });
}

export async function dropDatabase(pg: PgTarget): Promise<void> {
  const client = await connect({ ...pg, url: withDatabase(pg.url, 'postgres') }, 'failover target server');
  try {
    // WITH (FORCE): an application that already connected to the drill's copy must not keep it alive.
    await client.query(`drop database if exists ${quoteIdent(databaseName(pg.url))} with (force)`);
  } finally {
    await client.end();
  }
}

/** An empty (or new) directory, or this run's own half-done attempt, which is cleared first. */
function claimDirectory(directory: string, marker: string, clear: () => Promise<void>): Promise<void> | void {
  mkdirSync(directory, { recursive: true });
  const present = readdirSync(directory);
  if (present.length > 0 && !hasMarker(directory, marker)) {
    throw new LifeboatError('TargetNotEmpty', `failover target ${directory} is not empty (${present.slice(0, 3).join(', ')}${present.length > 3 ? ', …' : ''}) and was not restored by this failover`,
      'point the target at an empty or new directory, or move what is there out of the way');
  }
  writeMarker(directory, marker);
  if (present.length > 0) return clear();
}

export async function restoreFilesTarget(run: TargetRun): Promise<string> {
  const directory = run.target.directory!;
  await claimDirectory(directory, run.marker, async () => emptyDirectory(directory));
  return restoreFiles(run.storage, run.trusted, run.manifest, run.identity, directory, { preserveOwnership: run.target.preserveOwnership });
}

/** dump.rdb into the directory, then a daemonized redis-server on it that outlives the worker. */
export async function restoreRedisTarget(run: TargetRun, env: NodeJS.ProcessEnv): Promise<string> {
  const directory = run.target.directory!;
  const port = run.target.port!;
  await claimDirectory(directory, run.marker, async () => {
    await stopRedis(directory, port);
    await emptyDirectory(directory);
  });
  if (await portInUse(port)) {
    throw new LifeboatError('TargetNotEmpty', `port ${port} of the redis failover target is taken by another process`, `stop what listens on 127.0.0.1:${port}, or change the target's port`);
  }
  // The server takes the application's writes from the cut-over on: they must survive its restart.
  const durable = { ...failoverRedisDefaults, ...run.target.persistence, password: redisPassword(run.target, env) };
  return restoreRedis(run.storage, run.manifest, run.identity, { directory, clean: true, serve: port, durable });
}

/** The failover Redis's requirepass, from the target's passwordEnv/passwordFile; undefined without one. */
export function redisPassword(target: FailoverTargetConfig, env: NodeJS.ProcessEnv): string | undefined {
  return readSecret(target, 'the redis failover target', env);
}

async function emptyDirectory(directory: string): Promise<void> {
  await removeTree(directory, { keepRoot: true });
}


/** Kills the redis-server restoreRedis started (its pid file), if it still runs and is still that server. */
export async function stopRedis(directory: string, port: number): Promise<number | undefined> {
  const pidFile = join(directory, 'redis.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return (await killRedisServer(pid, port)) ? pid : undefined;
}

/**
 * Removes what this run restored into the target, and nothing else: a target without this run's
 * marker is left alone (it was never ours, or is already gone). Safe to repeat.
 */
export async function teardownTarget(kind: FailoverSourceKind, target: FailoverTargetConfig, marker: string, pg: () => PgTarget): Promise<string[]> {
  const removed: string[] = [];
  switch (kind) {
    case 'postgres-logical': {
      const connection = pg();
      const found = await databaseMarker(connection);
      if (found.exists && found.comment === marker) {
        await dropDatabase(connection);
        removed.push(`database ${databaseName(connection.url)} dropped on ${redact(withDatabase(connection.url, 'postgres'))}`);
      }
      break;
    }
    case 'redis': {
      const directory = target.directory!;
      if (!hasMarker(directory, marker)) break;
      const pid = await stopRedis(directory, target.port!);
      if (pid !== undefined) removed.push(`redis-server on port ${target.port} (pid ${pid}) stopped`);
      await removeTree(directory);
      rmSync(markerFile(directory), { force: true });
      removed.push(`directory ${directory} removed`);
      break;
    }
    case 'files': {
      const directory = target.directory!;
      if (!hasMarker(directory, marker)) break;
      await removeTree(directory);
      rmSync(markerFile(directory), { force: true });
      removed.push(`directory ${directory} removed`);
      break;
    }
    case 'postgres-physical':
      removed.push(...await teardownPhysical(target, marker));
      break;
  }
  return removed;
}
