import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { registerDir, registerStop } from './cleanup';
import { freePorts } from './ports';
import { type PostgresInfo, startPostgres } from './postgres';
import { type Log, groupAlive, once, pidAlive } from './processes';
import { type RedisInfo, startRedis } from './redis';
import { makeS3Tls, SEAWEED_PORT_COUNT, type S3Server, type S3Tls, startSeaweedS3 } from './seaweedfs';
import { startTemporal, type TemporalInfo } from './temporal';

export type { PostgresInfo, RedisInfo, S3Server, TemporalInfo };

export interface Servers {
  /** A fresh temp dir for this run (logs, data); removed at stop unless the caller passed it in. */
  workDir: string;
  temporal: TemporalInfo;
  /** Keyed by region name: at least 'stockholm' and 'gothenburg'. */
  s3: Record<string, S3Server>;
  postgres: PostgresInfo;
  redis: RedisInfo;
}

export const DEFAULT_REGIONS = ['stockholm', 'gothenburg'];

type Started = { pid: number; stop(): Promise<void> };

/**
 * Start Temporal, one SeaweedFS S3 server per region, PostgreSQL and Redis, all on 127.0.0.1
 * on free ports, each waited for with a real request. On any failure what did start is stopped.
 * With `s3Https`, each SeaweedFS also serves S3 over HTTPS (`S3Server.https`), its certificate
 * issued by a CA made for this run in `<workDir>/s3-tls`; the tests do not ask for it.
 */
export async function startServers(opts: { regions?: string[]; workDir?: string; log?: Log; s3Https?: boolean } = {}): Promise<{ servers: Servers; stop(): Promise<void> }> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const regions = opts.regions ?? DEFAULT_REGIONS;
  const ownsWorkDir = opts.workDir === undefined;
  const workDir = opts.workDir ? path.resolve(opts.workDir) : mkdtempSync(path.join(tmpdir(), 'lifeboat-'));
  mkdirSync(workDir, { recursive: true });
  const unregisterDir = ownsWorkDir ? registerDir(workDir) : () => false;

  let tls: S3Tls | undefined;
  try {
    tls = opts.s3Https ? await makeS3Tls(path.join(workDir, 's3-tls')) : undefined;
  } catch (e) {
    if (ownsWorkDir) rmSync(workDir, { recursive: true, force: true });
    unregisterDir();
    throw e;
  }
  const seaweedPorts = SEAWEED_PORT_COUNT + (tls ? 1 : 0);
  // All ports in one call so no two servers can be handed the same one.
  const ports = await freePorts(2 + regions.length * seaweedPorts + 2 + 1);
  const take = (n: number) => ports.splice(0, n);
  const [temporalPort, uiPort] = take(2) as [number, number];
  const [pgPort, redisPort] = take(2) as [number, number];
  // Nothing listens there until a test starts `lifeboat codec-server` on it for the UI.
  const [codecPort] = take(1) as [number];

  const dir = (name: string) => path.join(workDir, name);
  const temporal = startTemporal({ dir: dir('temporal'), port: temporalPort, uiPort, codecPort, log });
  const postgres = startPostgres({ dir: dir('postgres'), port: pgPort, log });
  const redis = startRedis({ dir: dir('redis'), port: redisPort, log });
  const s3 = regions.map((region) => startSeaweedS3({ region, dir: dir(`s3-${region}`), ports: take(seaweedPorts), log, tls }));
  const starting = Promise.allSettled<Started>([
    temporal.then((t) => ({ pid: t.temporal.pid, stop: t.stop })),
    postgres.then((p) => ({ pid: p.postgres.pid, stop: p.stop })),
    redis.then((r) => ({ pid: r.redis.pid, stop: r.stop })),
    ...s3.map((p) => p.then((r) => ({ pid: r.s3.pid, stop: r.stop }))),
  ]);

  // Registered before startup ends so that Ctrl-C during it still removes workDir.
  const stopOnce = once(async () => {
    const running = (await starting).flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const results = await Promise.allSettled(running.map((s) => s.stop()));
    const survivors = running.filter((s) => pidAlive(s.pid) || groupAlive(s.pid)).map((s) => s.pid);
    unregister();
    if (ownsWorkDir) rmSync(workDir, { recursive: true, force: true });
    unregisterDir();
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    if (survivors.length > 0) errors.push(`still alive after stop: pids ${survivors.join(', ')}`);
    if (errors.length > 0) throw new Error(`stopping servers failed:\n${errors.join('\n')}`);
  });
  const unregister = registerStop(stopOnce, log);

  const settled = await starting;
  const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
  if (failures.length > 0) {
    await stopOnce().catch(() => undefined);
    throw new Error(`could not start the test servers:\n\n${failures.join('\n\n')}`);
  }

  const servers: Servers = {
    workDir,
    temporal: (await temporal).temporal,
    postgres: (await postgres).postgres,
    redis: (await redis).redis,
    s3: Object.fromEntries((await Promise.all(s3)).map((r) => [r.s3.region, r.s3])),
  };
  return { servers, stop: stopOnce };
}
