import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { connect } from '../activities/sources/postgres/connect';

const servers = inject('servers');
const url = `postgres://${servers.postgres.user}@127.0.0.1:${servers.postgres.port}/postgres`;

describe('a PostgreSQL connection the server ends while it is idle', () => {
  it('does not end the worker process: the next query fails instead, naming what happened', async () => {
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    // vitest would report it too; listening here makes the failure say what it was.
    process.on('uncaughtException', record);
    try {
      const client = await connect({ url, password: servers.postgres.password }, 'source chaos');
      const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      // What a restart, a failover or pg_terminate_backend does to a backup's open session.
      const admin = new pg.Client({ host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password, database: 'postgres' });
      await admin.connect();
      await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
      await admin.end();
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(uncaught).toEqual([]);
      await expect(client.query('select 1')).rejects.toThrow(/terminat|not queryable|Connection/i);
      await client.end().catch(() => undefined);
    } finally {
      process.off('uncaughtException', record);
    }
  });
});
