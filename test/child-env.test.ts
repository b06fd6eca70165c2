import { appendFileSync, chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runHook } from '../activities/failover/hooks';
import { startPipeline } from '../activities/pipeline/processes';
import { pgBinary } from '../activities/sources/postgres/binaries';
import { asUser, clusterUser, startCluster, stopCluster, userIds } from '../activities/sources/postgres/cluster';
import { childEnv } from '../lib/child-env';
import { freePorts } from './harness/ports';

// Stand-ins for what a worker holds in its environment: S3 keys, a database password.
const workerSecrets = { LIFEBOAT_TEST_S3_SECRET: 'child-env-s3-secret-9f2c', LIFEBOAT_TEST_DB_PASSWORD: 'child-env-db-password-41ab' };
Object.assign(process.env, workerSecrets);

function parseEnv(output: string): Record<string, string> {
  return Object.fromEntries(output.split(/\n|\0/).filter((line) => line.includes('=')).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

describe('child processes get a minimal environment, never the worker\'s secrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-child-env-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps PATH, HOME, locale and zone, adds what the child needs, and drops everything else', () => {
    const env = childEnv({ PGPASSWORD: 'p', NOTHING: undefined }, { PATH: '/bin', HOME: '/root', LC_ALL: 'C', TZ: 'UTC', AWS_SECRET_ACCESS_KEY: 's', APP_DB_PASSWORD: 'd' });
    expect(env).toEqual({ PATH: '/bin', HOME: '/root', LC_ALL: 'C', TZ: 'UTC', PGPASSWORD: 'p' });
  });

  it('gives a pipeline tool its own variables and none of the worker\'s', async () => {
    const running = startPipeline([{ tool: 'env', args: [], env: { PGPASSWORD: 'for-this-tool' }, what: 'env test' }]);
    const env = parseEnv(await text(running.output));
    await running.finished;
    expect(env.PGPASSWORD).toBe('for-this-tool');
    expect(env.PATH).toBe(process.env.PATH);
    for (const name of Object.keys(workerSecrets)) expect(env[name]).toBeUndefined();
    expect(Object.values(env)).not.toContain(workerSecrets.LIFEBOAT_TEST_S3_SECRET);
  });

  it('gives a failover hook command only the failover\'s context', async () => {
    const run = await runHook({ command: ['env'], timeout: '30s' }, { hook: 'fence', workflowId: 'wf-1', runId: 'run-1', targetRegion: 'gothenburg', drill: true }, process.env);
    expect(run.ok).toBe(true);
    const env = parseEnv(run.stdoutTail ?? '');
    expect(env).toMatchObject({ LIFEBOAT_FAILOVER_ID: 'wf-1', LIFEBOAT_TARGET_REGION: 'gothenburg', LIFEBOAT_STEP: 'fence', LIFEBOAT_DRILL: 'true' });
    for (const name of Object.keys(workerSecrets)) expect(env[name]).toBeUndefined();
  });

  it('starts a PostgreSQL cluster whose server processes hold none of the worker\'s secrets', async () => {
    // A postmaster rewrites its /proc environ for its process title; a program run by the server shows the real one.
    const root = join(dir, 'cluster');
    mkdirSync(root);
    chmodSync(dir, 0o755);
    const user = clusterUser(undefined);
    if (process.getuid?.() === 0) {
      const ids = await userIds(user);
      chownSync(root, ids.uid, ids.gid);
    }
    const dataDir = join(root, 'data');
    await execa(...asUser(user, pgBinary('initdb', '15'), ['-D', dataDir, '-U', 'postgres', '--auth-local=trust', '--no-sync']));
    const [port] = await freePorts(1);
    appendFileSync(join(dataDir, 'postgresql.auto.conf'), `port = ${port}\nlisten_addresses = ''\nunix_socket_directories = '${root}'\nfsync = off\n`);
    await startCluster(dataDir, user, join(root, 'postgres.log'), '15');
    try {
      let client: pg.Client | undefined;
      await expect.poll(async () => {
        const attempt = new pg.Client({ host: root, port, user: 'postgres', database: 'postgres' });
        client = await attempt.connect().then(() => attempt, () => undefined);
        return client !== undefined;
      }, { timeout: 30_000, interval: 300 }).toBe(true);
      await client!.query('create temp table environ (line text)');
      await client!.query("copy environ from program 'env'");
      const { rows } = await client!.query<{ line: string }>('select line from environ');
      await client!.end();
      const env = parseEnv(rows.map((r) => r.line).join('\n'));
      expect(env.PATH).toBeTruthy();
      for (const name of Object.keys(workerSecrets)) expect(env[name]).toBeUndefined();
    } finally {
      await stopCluster(dataDir, user, '15');
    }
  }, 60_000);
});
