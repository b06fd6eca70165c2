import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { findBinary } from './binaries';
import { startPostgres } from './postgres';
import { groupAlive, pidAlive } from './processes';
import { startRedis } from './redis';

describe('private servers', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lifeboat-stop-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a private PostgreSQL and Redis start beside the shared ones and leave no process behind when stopped', async () => {
    const [{ postgres, stop: stopPostgres }, { redis, stop: stopRedis }] = await Promise.all([
      startPostgres({ dir: path.join(dir, 'postgres'), settings: { wal_level: 'replica' } }),
      startRedis({ dir: path.join(dir, 'redis') }),
    ]);
    expect(pidAlive(postgres.pid)).toBe(true);
    expect(pidAlive(redis.pid)).toBe(true);

    const client = new pg.Client({ host: postgres.host, port: postgres.port, user: postgres.user, password: postgres.password, database: 'postgres' });
    await client.connect();
    const { rows } = await client.query<{ wal_level: string }>('show wal_level');
    expect(rows[0]?.wal_level).toBe('replica');
    await client.end();

    await Promise.all([stopPostgres(), stopRedis()]);
    for (const pid of [postgres.pid, redis.pid]) {
      expect(pidAlive(pid), `pid ${pid}`).toBe(false);
      expect(groupAlive(pid), `process group ${pid}`).toBe(false);
    }
    // A second stop is harmless, as signal handlers and teardowns may both call it.
    await stopPostgres();
  });

  it('a missing binary is reported with the command that installs it', () => {
    expect(() => findBinary('weed-that-does-not-exist')).toThrow(/`weed-that-does-not-exist` not found.*scripts\/setup\.sh/);
  });
});
