import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../../lib/config/load';
import type { Config } from '../../../lib/config/schema';
import { createNoiseDatabase, type PgServer } from '../../../scripts/sample-db';
import { findPostgresBinDir } from '../../harness/binaries';
import { freePorts } from '../../harness/ports';
import { run } from '../../harness/processes';
import { startRedis } from '../../harness/redis';
import type { Servers } from '../../harness/servers';
import { startTemporal, type TemporalInfo } from '../../harness/temporal';
import { physicalSource, startArchivingPostgres, type ArchivingPostgres } from '../archiving-postgres';
import { startFaultProxy, type FaultProxy } from '../fault-proxy';
import { makeFailoverWorld, type FailoverWorld } from '../failover';

/**
 * Everything the fault campaign breaks, apart from the shared harness: a Temporal dev server of its
 * own with a database file (so a restart keeps every workflow), a PostgreSQL cluster that archives
 * WAL (a logical and a physical source, restartable), a Redis of its own (killable), and a fault
 * proxy in front of each region's S3 server.
 */
export interface ChaosWorld {
  world: FailoverWorld;
  /** The config the worker processes use: S3 through the proxies, Temporal of its own. */
  config: Config;
  configFile: string;
  /** The same config with S3 reached directly: what the campaign checks the catalogs with. */
  direct: Config;
  env: Record<string, string>;
  proxies: Record<string, FaultProxy>;
  temporal(): TemporalInfo;
  restartTemporal(): Promise<void>;
  cluster: ArchivingPostgres;
  clusterServer: PgServer;
  restartPostgres(): Promise<void>;
  redisPort: number;
  /** Kills the campaign's Redis (SIGKILL), as a crash would; `startRedisAgain` brings an empty one back on the same port. */
  killRedis(): void;
  startRedisAgain(): Promise<void>;
  stop(): Promise<void>;
}

/** `noiseRows` of 1 KiB random bytes make the logical source chaos-db (30,000: a backup of a few seconds). */
export async function makeChaosWorld(servers: Servers, dir: string, noiseRows: number): Promise<ChaosWorld> {
  const [port, uiPort] = (await freePorts(2)) as [number, number];
  const dbFile = join(dir, 'temporal.db');
  const startOwnTemporal = () => startTemporal({ dir: join(dir, 'temporal'), port, uiPort, dbFile, log: () => undefined });
  let temporal = await startOwnTemporal();

  const cluster = await startArchivingPostgres(join(dir, 'pg'));
  const clusterServer: PgServer = { host: '127.0.0.1', port: cluster.postgres.port, user: cluster.postgres.user, password: cluster.postgres.password };
  await createNoiseDatabase(clusterServer, 'chaos_noise', noiseRows);
  const pgCtl = (args: string[]) => run('runuser', ['-u', 'postgres', '--', join(findPostgresBinDir(), 'pg_ctl'), '-D', cluster.postgres.dataDir, ...args], { timeoutMs: 90_000 });

  const redisDir = join(dir, 'redis');
  mkdirSync(redisDir, { recursive: true });
  let redis = await startRedis({ dir: redisDir, log: () => undefined });
  const redisPort = redis.redis.port;

  const tag = randomBytes(4).toString('hex');
  const world = await makeFailoverWorld(servers, 'chaos', {
    extra: {
      temporal: { address: temporal.temporal.address, namespace: 'default', taskQueuePrefix: `lifeboat-chaos-${tag}-`, heartbeatTimeout: '5s', sourceAttempts: 2 },
      retention: { minCopies: 1 },
    },
  });
  const passwordEnv = `CHAOS_PG_PASSWORD_${tag}`;
  const document = parse(readFileSync(world.fixture.configFile, 'utf8')) as { regions: Record<string, Record<string, unknown>>; sources: Record<string, Record<string, unknown>> };
  const foPasswordEnv = Object.keys(world.fixture.env).find((k) => k.startsWith('FO_PG_PASSWORD_'))!;
  document.regions.stockholm!.verify = { target: { postgres: { url: `postgres://${servers.postgres.user}@127.0.0.1:${servers.postgres.port}/postgres`, passwordEnv: foPasswordEnv } } };
  document.sources['fo-files']!.retention = { keepLast: 2 };
  document.sources['chaos-db'] = {
    kind: 'postgres', region: 'stockholm', passwordEnv, retention: { keepLast: 2 },
    url: `postgres://${cluster.postgres.user}@127.0.0.1:${cluster.postgres.port}/chaos_noise`,
  };
  document.sources['chaos-phys'] = { ...physicalSource(cluster, passwordEnv), wal: { spool: cluster.spool, interval: '1s' } };
  document.sources['chaos-cache'] = { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${redisPort}` };
  const directDocument = { ...document, regions: structuredClone(document.regions) };
  const proxies: Record<string, FaultProxy> = {};
  for (const [region, settings] of Object.entries(document.regions)) {
    const storage = settings.storage as { endpoint: string };
    proxies[region] = await startFaultProxy(storage.endpoint);
    storage.endpoint = proxies[region].endpoint;
  }
  const configFile = world.fixture.configFile;
  writeFileSync(configFile, stringify(document));
  const env = { ...world.fixture.env, [passwordEnv]: cluster.postgres.password };
  Object.assign(process.env, env);

  return {
    world,
    config: parseConfig(readFileSync(configFile, 'utf8'), configFile),
    configFile,
    direct: parseConfig(stringify(directDocument), configFile),
    env,
    proxies,
    temporal: () => temporal.temporal,
    async restartTemporal() {
      await temporal.stop();
      temporal = await startOwnTemporal();
      if (temporal.temporal.address !== `127.0.0.1:${port}`) throw new Error(`the campaign's Temporal came back on ${temporal.temporal.address}, not port ${port}`);
    },
    cluster,
    clusterServer,
    restartPostgres: async () => { await pgCtl(['-m', 'fast', '-w', '-t', '60', '-l', join(dir, 'pg', 'source', 'postgres.log'), 'restart']); },
    redisPort,
    killRedis: () => { process.kill(redis.redis.pid, 'SIGKILL'); },
    async startRedisAgain() {
      await redis.stop().catch(() => undefined);
      redis = await startRedis({ dir: redisDir, port: redisPort, log: () => undefined });
    },
    async stop() {
      // A restarted cluster has a new postmaster the harness's stop does not know: stop it by its data directory.
      await pgCtl(['-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await Promise.allSettled([cluster.stop(), redis.stop(), temporal.stop(), ...Object.values(proxies).map((p) => p.close())]);
      world.fixture.cleanup();
    },
  };
}
