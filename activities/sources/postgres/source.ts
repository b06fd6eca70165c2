import type { PostgresSourceConfig } from '../../../lib/config/schema';
import { readSecret } from '../../../lib/config/secrets';
import type { PostgresDescription } from '../../../lib/manifest';
import type { Snapshot, Source } from '../source';
import { toolVersion } from '../../pipeline/versions';
import { classifyToolStderr, connect, databaseName } from './connect';
import { describeTables, inSnapshot } from './describe';

export function postgresSource(name: string, config: PostgresSourceConfig, env: NodeJS.ProcessEnv): Source {
  return {
    fileName: 'dump.pgcustom.zst.age',
    content: 'pg_dump custom format (-Fc -Z0), zstd, age',
    toolVersions: async () => ({ pg_dump: await toolVersion('pg_dump') }),
    restoreWith: (file) => `age -d -i IDENTITY ${file} | zstd -d | pg_restore --exit-on-error --dbname=URL`,
    async snapshot(): Promise<Snapshot> {
      const password = readSecret(config, `sources.${name}`, env);
      const client = await connect({ url: config.url, password }, `source ${name}`);
      // Export the snapshot pg_dump will use, and keep this transaction open: row counts read here
      // describe exactly the rows in the dump, not the database a few seconds later.
      await client.query('begin isolation level repeatable read read only');
      const { rows } = await client.query<{ id: string }>('select pg_export_snapshot() as id');
      const snapshotId = rows[0]!.id;
      let released = false;
      // Counted while pg_dump runs, in the same snapshot, on a second connection: its per-table
      // locks end with each batch, where this transaction's would last until the dump ends.
      const counter = await connect({ url: config.url, password }, `source ${name}`).catch(async (error: unknown) => {
        await client.end().catch(() => undefined);
        throw error;
      });
      const description: Promise<PostgresDescription> = (async () => {
        const info = await client.query<{ version: string; size: string }>(
          "select current_setting('server_version') as version, pg_database_size(current_database()) as size");
        const tables = await describeTables(client, { include: config.includeTables, exclude: config.excludeTables },
          config.rowCounts === 'exact', !config.schemaOnly, inSnapshot(counter, snapshotId));
        return {
          kind: 'postgres',
          serverVersion: info.rows[0]!.version,
          database: databaseName(config.url),
          sizeBytes: Number(info.rows[0]!.size),
          tables,
          options: { schemaOnly: config.schemaOnly, dataOnly: config.dataOnly, includeTables: config.includeTables, excludeTables: config.excludeTables },
        };
      })();
      description.catch(() => undefined);
      const args = ['--format=custom', '--compress=0', `--snapshot=${snapshotId}`, '--no-password'];
      if (config.schemaOnly) args.push('--schema-only');
      if (config.dataOnly) args.push('--data-only');
      for (const table of config.includeTables) args.push(`--table=${table}`);
      for (const table of config.excludeTables) args.push(`--exclude-table=${table}`);
      args.push(`--dbname=${config.url}`);
      return {
        producer: {
          tool: 'pg_dump',
          args,
          env: { PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'lifeboat', ...(password === undefined ? {} : { PGPASSWORD: password }) },
          what: `pg_dump of ${name}`,
          classify: classifyToolStderr(config.url, `pg_dump of ${name}`),
        },
        parent: null,
        describe: () => description,
        async release() {
          if (released) return;
          released = true;
          await client.query('commit').catch(() => undefined);
          await client.end().catch(() => undefined);
          await counter.end().catch(() => undefined);
        },
      };
    },
  };
}
