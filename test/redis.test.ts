import { trusted } from './support/signing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { readAll } from '../activities/storage/backend';
import type { RedisDescription } from '../lib/manifest';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup, runRestore } from './support/runs';
import { failureOf, startHarness, type Harness } from './support/workers';
import { freePorts } from './harness/ports';

const servers = inject('servers');
const port = servers.redis.port;
const cli = (args: string[], extra: string[] = []) => execa('redis-cli', ['-p', String(port), ...extra, ...args]);

/** Every key of every database: type, a SHA-1 of its value, and whether it has a TTL. */
async function fingerprint(atPort: number): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const db of [0, 1]) {
    // DUMP bytes for every type but sets, whose serialisation follows hash-table order: sorted members there.
    const script = `local out = {}
      for _, k in ipairs(redis.call('KEYS', '*')) do
        local t = redis.call('TYPE', k).ok
        local value
        if t == 'set' then local m = redis.call('SMEMBERS', k) table.sort(m) value = table.concat(m, ',') else value = redis.call('DUMP', k) end
        out[#out + 1] = k .. ' ' .. t .. ' ' .. redis.sha1hex(value) .. ' ' .. tostring(redis.call('PTTL', k) > 0)
      end
      return out`;
    const { stdout } = await execa('redis-cli', ['-p', String(atPort), '-n', String(db), '--raw', 'EVAL', script, '0']);
    for (const line of stdout.split('\n').filter(Boolean)) {
      const [key, ...rest] = line.split(' ');
      result[`${db}:${key}`] = rest.join(' ');
    }
  }
  return result;
}

describe('a Redis source', () => {
  let fixture: Fixture;
  let harness: Harness;
  let servedPort: number;

  beforeAll(async () => {
    await cli(['FLUSHALL']);
    await cli(['ACL', 'SETUSER', 'lifeboat', 'on', '>redis-secret-1', '~*', '&*', '+@all']);
    await cli(['ACL', 'SETUSER', 'nosync', 'on', '>redis-secret-2', '~*', '&*', '+@all', '-sync', '-psync']);
    // Keys of every type, in two databases, some with a TTL: a few thousand in all.
    await cli(['EVAL', `
      for i = 1, 1500 do redis.call('SET', 'str:' .. i, 'value ' .. i) end
      for i = 1, 300 do redis.call('HSET', 'hash:' .. i, 'a', i, 'b', 'x' .. i) end
      for i = 1, 300 do redis.call('RPUSH', 'list:' .. i, 'one', 'two', i) end
      for i = 1, 300 do redis.call('SADD', 'set:' .. i, 'm1', 'm2', i) end
      for i = 1, 300 do redis.call('ZADD', 'zset:' .. i, 1, 'a', 2.5, 'b', i, 'c') end
      for i = 1, 100 do redis.call('XADD', 'stream:' .. i, '*', 'field', i) end
      for i = 1, 200 do redis.call('EXPIRE', 'str:' .. i, 3600) end
      redis.call('SET', 'binary', '\\0\\1\\255')
      return 1`, '0']);
    await cli(['-n', '1', 'EVAL', "for i = 1, 500 do redis.call('SET', 'db1:' .. i, i) end redis.call('EXPIRE', 'db1:1', 7200) return 1", '0']);
    fixture = await makeFixture(servers, () => ({
      cache: { kind: 'redis', region: 'stockholm', url: `redis://lifeboat@127.0.0.1:${port}`, passwordEnv: 'REDIS_TEST_PASSWORD' },
      'cache-nosync': { kind: 'redis', region: 'stockholm', url: `redis://nosync@127.0.0.1:${port}`, passwordEnv: 'REDIS_NOSYNC_PASSWORD' },
    }));
    Object.assign(process.env, { REDIS_TEST_PASSWORD: 'redis-secret-1', REDIS_NOSYNC_PASSWORD: 'redis-secret-2' });
    harness = await startHarness(fixture.config);
    [servedPort] = (await freePorts(1)) as [number];
  });

  afterAll(async () => {
    await execa('redis-cli', ['-p', String(servedPort), 'SHUTDOWN', 'NOSAVE'], { reject: false });
    await harness?.close();
    fixture?.cleanup();
  });

  it('backs up through an ACL user and records version, role, key counts and the RDB size', async () => {
    const summary = await runBackup(harness.client, fixture.config, 'cache');
    expect(summary.contents).toBe('3301 keys');
    const [entry] = await listBackups(createDeps(fixture.config).storage('stockholm'), trusted, 'cache');
    const description = entry!.manifest.description as RedisDescription;
    expect(description).toMatchObject({ kind: 'redis', role: 'master', rdbKeys: 3301, rdbExpires: 201 });
    expect(description.serverVersion).toMatch(/^7\./);
    expect(description.keyspace).toEqual({ db0: { keys: 2801, expires: 200 }, db1: { keys: 500, expires: 1 } });
    expect(entry!.manifest.tools['redis-check-rdb']).toBeTruthy();
  });

  it('stores the RDB byte for byte, without redis-cli\'s trailing EOF mark, and it restores with standard tools', async () => {
    const storage = createDeps(fixture.config).storage('stockholm');
    const [entry] = await listBackups(storage, trusted, 'cache');
    const file = join(fixture.dir, 'cache.rdb.zst.age');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, await readAll(await storage.get(entry!.manifest.objects[0]!.key)));
    const rdb = join(fixture.dir, 'dump.rdb');
    await execa('bash', ['-o', 'pipefail', '-c', `age -d -i "${fixture.key.identityFile}" "${file}" | zstd -d > "${rdb}"`]);
    const bytes = readFileSync(rdb);
    expect(bytes.length).toBe((entry!.manifest.description as RedisDescription).rdbBytes);
    expect(bytes.subarray(0, 5).toString()).toBe('REDIS');
    expect(bytes[bytes.length - 9]).toBe(0xff);
    const check = await execa('redis-check-rdb', [rdb]);
    expect(check.stdout).toContain('3301 keys read');
  });

  it('restores into a directory and serves it with every key, type, value and TTL as they were', async () => {
    const directory = join(fixture.dir, 'restored');
    const result = await runRestore(harness.client, fixture.config, { source: 'cache', target: directory, serve: servedPort });
    expect(result.checked).toMatch(/serves the restored dump\.rdb on 127\.0\.0\.1:\d+ .* with 3301 keys/);
    expect(await fingerprint(servedPort)).toEqual(await fingerprint(port));
    const ttl = Number((await execa('redis-cli', ['-p', String(servedPort), 'TTL', 'str:1'])).stdout);
    expect(ttl).toBeGreaterThan(3000);
  });

  it('refuses to restore into a directory that is not empty', async () => {
    const failure = await failureOf(runRestore(harness.client, fixture.config, { source: 'cache', target: join(fixture.dir, 'restored') }));
    expect(failure.type).toBe('TargetNotEmpty');
  });

  it('says clearly when the server refuses SYNC, and writes nothing', async () => {
    const failure = await failureOf(runBackup(harness.client, fixture.config, 'cache-nosync'));
    expect(failure.type).toBe('Unsupported');
    expect(failure.message).toMatch(/refused SYNC/);
    expect(await listBackups(createDeps(fixture.config).storage('stockholm'), trusted, 'cache-nosync')).toEqual([]);
  });
});
