import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { execa } from 'execa';
import { expect } from 'vitest';
import type { FailoverInput, FailoverStatus } from '../../lib/failover';
import { failoverWorkflowId } from '../../lib/workflow-ids';
import type { drFailover } from '../../workflows/dr-failover';
import { failoverStatusQuery } from '../../workflows/failover-status';
import { createNoiseDatabase, createSampleDatabase, withClient, type PgServer } from '../../scripts/sample-db';
import type { Servers } from '../harness/servers';
import { freePorts } from '../harness/ports';
import { startCodecServer } from './codec';
import { makeFixture, type Fixture } from './fixture';
import { runBackup } from './runs';

// One world for the failover tests: logical PostgreSQL, Redis and a file tree backed up in
// stockholm and synced to gothenburg, whose failover targets are a new database on the shared
// cluster, a directory and port for redis-server, and a directory; hooks append to a file.

export interface FailoverWorld {
  fixture: Fixture;
  pgServer: PgServer;
  /** The logical target's database name. */
  targetDb: string;
  redisDir: string;
  redisPort: number;
  filesDir: string;
  /** Every hook appends "<step> <drill>" here. */
  hookLog: string;
  sources: string[];
}

export interface WorldOptions {
  /** failover: merged over the default (hooks that log, short reminders). */
  failover?: Record<string, unknown>;
  /** The cut-over hook exits with this code. */
  cutoverExit?: number;
  extra?: Record<string, unknown>;
  /** The PostgreSQL source is this many rows of incompressible noise (slow to restore) instead of the sample shop. */
  noiseRows?: number;
}

export async function makeFailoverWorld(servers: Servers, name: string, options: WorldOptions = {}): Promise<FailoverWorld> {
  const pgServer: PgServer = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
  const tag = `${name}_${process.pid}`;
  const sourceDb = `fo_src_${tag}`;
  const targetDb = `fo_dr_${tag}`;
  if (options.noiseRows) await createNoiseDatabase(pgServer, sourceDb, options.noiseRows);
  else await createSampleDatabase(pgServer, sourceDb);
  await withClient(pgServer, 'postgres', (client) => client.query(`drop database if exists "${targetDb}" with (force)`));
  const redis = ['-p', String(servers.redis.port)];
  await execa('redis-cli', [...redis, 'HSET', `fo:${tag}:profile`, 'name', 'Ada', 'plan', 'pro']);
  await execa('redis-cli', [...redis, 'RPUSH', `fo:${tag}:queue`, 'a', 'b', 'c']);
  const redisPort = (await freePorts(1))[0]!;
  // A test makes a hook fail by creating "<hookLog>.fail-<step>".
  const hookScript = (step: string, exit = 0) => ['/bin/sh', '-c', `echo "$LIFEBOAT_STEP $LIFEBOAT_DRILL $LIFEBOAT_TARGET_REGION" >> "$0"; echo ${step} ran; if [ -e "$0.fail-$LIFEBOAT_STEP" ]; then echo ${step} refused >&2; exit 3; fi; exit ${exit}`];
  const base = mkdtempSync(join(tmpdir(), 'lifeboat-fo-'));
  const tree = join(base, 'tree');
  mkdirSync(join(tree, 'docs', 'deep'), { recursive: true });
  for (let i = 0; i < 30; i += 1) writeFileSync(join(tree, i % 2 ? 'docs' : 'docs/deep', `file-${i}.txt`), `content ${i}\n`.repeat(i * 40 + 1));
  const hookLog = join(base, 'hooks.log');
  const redisDir = join(base, 'dr', 'redis');
  const filesDir = join(base, 'dr', 'files');
  const passwordEnv = `FO_PG_PASSWORD_${process.pid}`;
  process.env[passwordEnv] = servers.postgres.password;
  const fixture = await makeFixture(servers, (ctx) => ({
    'fo-db': ctx.postgres(sourceDb, { verify: { checks: [options.noiseRows
      ? { sql: 'select count(*) from noise', expect: `= ${options.noiseRows}` }
      : { sql: 'select count(*) from orders', expect: '= 10000' }] } }),
    'fo-cache': { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${servers.redis.port}`, verify: { checks: [{ exists: `fo:${tag}:profile` }] } },
    'fo-files': { kind: 'files', region: 'stockholm', path: tree },
  }), {
    sync: { afterBackup: false },
    objectives: { rpo: '1h', rto: '30m' },
    failover: {
      approval: { remindEvery: '1h', deadline: '2h' },
      workerTimeout: '20s',
      hooks: {
        fence: { command: [...hookScript('fence'), hookLog], timeout: '30s' },
        cutover: { command: [...hookScript('cutover', options.cutoverExit ?? 0), hookLog], timeout: '30s' },
        undoCutover: { command: [...hookScript('undoCutover'), hookLog], timeout: '30s' },
      },
      ...options.failover,
    },
    ...options.extra,
  }, {
    // Both regions get the targets (only gothenburg's are used): makeFixture shapes every region alike.
    failover: { targets: {
      'fo-db': { url: `postgres://${servers.postgres.user}@127.0.0.1:${servers.postgres.port}/${targetDb}`, passwordEnv },
      'fo-cache': { directory: redisDir, port: redisPort },
      'fo-files': { directory: filesDir },
    } },
  });
  fixture.env[passwordEnv] = servers.postgres.password;
  const cleanup = fixture.cleanup;
  fixture.cleanup = () => { cleanup(); rmSync(base, { recursive: true, force: true }); };
  return { fixture, pgServer, targetDb, redisDir, redisPort, filesDir, hookLog, sources: ['fo-cache', 'fo-db', 'fo-files'] };
}

/** A backup of every source in stockholm, then a sync: gothenburg's catalog holds them all. */
export async function backUpAndSync(client: Client, world: FailoverWorld): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (const source of world.sources) ids[source] = (await runBackup(client, world.fixture.config, source)).backupId;
  await client.workflow.execute('syncRegions', { args: [{}], workflowId: `test-fo-sync-${process.pid}-${Date.now()}`, taskQueue: `${world.fixture.config.temporal.taskQueuePrefix}stockholm` });
  return ids;
}

export function hookLines(world: FailoverWorld): string[] {
  return existsSync(world.hookLog) ? readFileSync(world.hookLog, 'utf8').trim().split('\n').filter(Boolean) : [];
}

export async function startFailover(client: Client, world: FailoverWorld, input: Partial<FailoverInput> = {}): Promise<WorkflowHandle<typeof drFailover>> {
  const drill = input.drill ?? true;
  return client.workflow.start<typeof drFailover>('drFailover', {
    args: [{ targetRegion: 'gothenburg', recoveryPoint: 'latest', drill, requestedBy: 'test', ...input }],
    workflowId: failoverWorkflowId(world.fixture.config.temporal.taskQueuePrefix, drill),
    taskQueue: `${world.fixture.config.temporal.taskQueuePrefix}gothenburg`,
  });
}

/**
 * Approves with the Temporal CLI, as an operator without Lifeboat's client would: payloads are
 * encrypted, so the CLI goes through `lifeboat codec-server` (README, Encrypted payloads).
 */
export async function approveWithTemporalCli(servers: Servers, fixture: Fixture, workflowId: string, approval: { by: string; planHash: string }): Promise<void> {
  const codec = await startCodecServer(fixture.configFile, fixture.env, (await freePorts(1))[0]!);
  try {
    await execa('temporal', ['workflow', 'update', 'execute', '--address', servers.temporal.address, '--namespace', servers.temporal.namespace,
      '--codec-endpoint', codec.url, '--workflow-id', workflowId, '--name', 'approve', '--input', JSON.stringify(approval)]);
  } finally {
    await codec.stop();
  }
}

/** Polls the status query until `ready` says so (or fails the test after `timeoutMs`). */
export async function waitForStatus(handle: WorkflowHandle, ready: (status: FailoverStatus) => boolean, timeoutMs = 60_000): Promise<FailoverStatus> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const status = await handle.query(failoverStatusQuery).catch(() => undefined);
    if (status && ready(status)) return status;
    if (Date.now() > until) throw new Error(`status never got there; last: ${JSON.stringify(status?.steps.map((s) => `${s.step}:${s.state}`))} state ${status?.state}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export async function databaseExists(server: PgServer, database: string): Promise<boolean> {
  return withClient(server, 'postgres', async (client) => (await client.query('select 1 from pg_database where datname = $1', [database])).rows.length > 0);
}

export async function redisAnswers(port: number): Promise<boolean> {
  const result = await execa('redis-cli', ['-p', String(port), 'PING'], { reject: false });
  return result.stdout.trim() === 'PONG';
}

/** What a real failover leaves serving, removed by hand (as an operator would after a test). */
export async function removeTargets(world: FailoverWorld): Promise<void> {
  const { stopRedis } = await import('../../activities/failover/targets');
  const { markerFile } = await import('../../activities/failover/markers');
  await stopRedis(world.redisDir, world.redisPort);
  await withClient(world.pgServer, 'postgres', (client) => client.query(`drop database if exists "${world.targetDb}" with (force)`));
  for (const directory of [world.redisDir, world.filesDir]) {
    rmSync(directory, { recursive: true, force: true });
    rmSync(markerFile(directory), { force: true });
  }
}

/** A drill, an abort or a compensated run leaves none of the world's targets behind. */
export async function expectNothingLeft(world: FailoverWorld): Promise<void> {
  expect(await databaseExists(world.pgServer, world.targetDb)).toBe(false);
  expect(existsSync(world.redisDir)).toBe(false);
  expect(existsSync(world.filesDir)).toBe(false);
  expect(await redisAnswers(world.redisPort)).toBe(false);
}
