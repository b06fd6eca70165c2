import { trusted } from './support/signing';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findBackup } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { restoreRedisTarget, stopRedis } from '../activities/failover/targets';
import type { RedisDescription } from '../lib/manifest';
import { freePorts } from './harness/ports';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the redis-server a failover leaves serving', () => {
  let fixture: Fixture;
  let harness: Harness;
  let port: number;
  let directory: string;
  const passwordEnv = `FO_REDIS_PASSWORD_${process.pid}`;
  const password = `fo-redis-${Date.now()}-"quoted"\\x`;
  const cli = (args: string[], auth = true) => execa('redis-cli', ['-p', String(port), '--no-auth-warning', ...args], { env: auth ? { REDISCLI_AUTH: password } : {}, reject: false });

  beforeAll(async () => {
    process.env[passwordEnv] = password;
    await execa('redis-cli', ['-p', String(servers.redis.port), 'SET', `fo-target:${process.pid}`, 'before the cut-over']);
    fixture = await makeFixture(servers, () => ({ cache: { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${servers.redis.port}` } }));
    harness = await startHarness(fixture.config);
    [port] = (await freePorts(1)) as [number];
    directory = join(fixture.dir, 'redis-target');
  });

  afterAll(async () => {
    if (directory) await stopRedis(directory, port).catch(() => undefined);
    await harness?.close();
    fixture?.cleanup();
  });

  it('persists writes taken after the cut-over across a crash, requires the password, and never shows it on a command line', async () => {
    const summary = await runBackup(harness.client, fixture.config, 'cache');
    const storage = createDeps(fixture.config).storage('stockholm');
    const { manifest } = await findBackup(storage, trusted, 'cache', summary.backupId);
    const detail = await new MockActivityEnvironment().run(restoreRedisTarget, {
      storage, trusted, manifest, identity: fixture.key.identityFile, marker: `test ${process.pid}`, target: { directory, port, passwordEnv },
    }, { [passwordEnv]: password });
    expect(detail).toContain('appendonly, appendfsync everysec');
    const keys = Number((await cli(['DBSIZE'])).stdout);
    expect(keys).toBeGreaterThan(0);
    expect(keys).toBeLessThanOrEqual((manifest.description as RedisDescription).rdbKeys);

    // No password, no data.
    expect((await cli(['GET', `fo-target:${process.pid}`], false)).stdout).toMatch(/NOAUTH/);
    const pid = Number(readFileSync(join(directory, 'redis.pid'), 'utf8'));
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(password);
    expect(statSync(join(directory, 'redis.conf')).mode & 0o777).toBe(0o600);
    expect(statSync(directory).mode & 0o777).toBe(0o700);

    // The application writes, then the machine loses the process (appendfsync everysec: one second).
    expect((await cli(['SET', 'after-cutover', 'must survive'])).stdout).toBe('OK');
    await sleep(1500);
    process.kill(pid, 'SIGKILL');
    await sleep(300);
    await execa('redis-server', [join(directory, 'redis.conf')]);
    await expect.poll(async () => (await cli(['GET', 'after-cutover'])).stdout, { timeout: 10_000, interval: 100 }).toBe('must survive');
    expect((await cli(['DBSIZE'])).stdout).toBe(String(keys + 1));
    expect((await cli(['GET', `fo-target:${process.pid}`])).stdout).toBe('before the cut-over');
  });
});
