import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createNoiseDatabase, recreateDatabase, withClient } from '../scripts/sample-db';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup, runRestore } from './support/runs';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };

describe('a restore that outlasts the heartbeat timeout', () => {
  let fixture: Fixture;
  let harness: Harness;

  beforeAll(async () => {
    await createNoiseDatabase(pg, 'heartbeat_src', 120000);
    // A 2 s heartbeat timeout: the restore below (120 MB of random rows, verified, restored, counted) takes longer.
    fixture = await makeFixture(servers, (ctx) => ({ 'app-db': ctx.postgres('heartbeat_src') }), { compression: { level: 1 }, sync: { afterBackup: false } });
    fixture.config.temporal.heartbeatTimeout = '2s';
    harness = await startHarness(fixture.config);
    await runBackup(harness.client, fixture.config, 'app-db');
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
  });

  it('heartbeats all the way through and completes', async () => {
    await recreateDatabase(pg, 'heartbeat_dst');
    const target = `postgres://${servers.postgres.user}@127.0.0.1:${servers.postgres.port}/heartbeat_dst`;
    const passwordEnv = Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_'))!;
    const result = await runRestore(harness.client, fixture.config, { source: 'app-db', target, targetPasswordEnv: passwordEnv });
    // Longer than the heartbeat timeout: without heartbeats all the way, Temporal would have timed it out.
    expect(result.durationMs).toBeGreaterThan(2000);
    const rows = await withClient(pg, 'heartbeat_dst', async (c) => Number((await c.query('select count(*) as n from noise')).rows[0].n));
    expect(rows).toBe(120000);
  }, 180_000);
});
