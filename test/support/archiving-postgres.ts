import { chmodSync, chownSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import type { Config } from '../../lib/config/schema';
import { archiveCommand } from '../../lib/wal';
import { createDeps } from '../../activities/deps';
import { shipSpool } from '../../activities/wal/ship';
import { startPostgres, type PostgresInfo } from '../harness/postgres';

export interface ArchivingPostgres {
  postgres: PostgresInfo;
  /** Where archive_command copies finished WAL files (owned by postgres). */
  spool: string;
  query<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, database?: string): Promise<T[]>;
  stop(): Promise<void>;
}

/** A cluster of its own that archives WAL into a spool with the recommended (fsyncing) archive_command, as docs/wal.md tells operators to set it up. */
export async function startArchivingPostgres(dir: string): Promise<ArchivingPostgres> {
  const spool = join(dir, 'spool');
  mkdirSync(spool, { recursive: true });
  if (process.getuid?.() === 0) {
    const uid = Number((await execa('id', ['-u', 'postgres'])).stdout);
    const gid = Number((await execa('id', ['-g', 'postgres'])).stdout);
    chownSync(spool, uid, gid);
    // The postgres user must reach the spool and, later, restored data directories under dir.
    chmodSync(dir, 0o711);
  }
  const { postgres, stop } = await startPostgres({
    dir: join(dir, 'source'),
    settings: { wal_level: 'replica', archive_mode: 'on', archive_command: archiveCommand(spool), max_wal_senders: 4 },
  });
  const query = async <T extends pg.QueryResultRow>(sql: string, database = 'postgres'): Promise<T[]> => {
    const client = new pg.Client({ host: postgres.host, port: postgres.port, user: postgres.user, password: postgres.password, database });
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  };
  return { postgres, spool, query, stop };
}

/** Switches to a new segment and waits until the archiver has put the finished one into the spool. */
export async function archiveCurrentSegment(cluster: ArchivingPostgres): Promise<string> {
  const [row] = await cluster.query<{ file: string }>('select pg_walfile_name(pg_switch_wal()) as file');
  const file = row!.file;
  for (let i = 0; i < 200; i += 1) {
    if (readdirSync(cluster.spool).includes(file)) return file;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`WAL file ${file} never reached the spool ${cluster.spool}`);
}

/** One or more rounds of the WAL shipper (activities/wal/ship.ts) until nothing in the spool is still settling. */
export async function shipEverything(config: Config, source: string): Promise<string[]> {
  const deps = createDeps(config);
  const shipped: string[] = [];
  for (let round = 0; round < 20; round += 1) {
    const result = await shipSpool(config, source, deps);
    if (result.failures.length > 0) throw new Error(`shipping WAL failed: ${JSON.stringify(result.failures)}`);
    shipped.push(...result.shipped);
    if (result.settling.length === 0 && result.waiting.length === 0) return shipped;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error('the spool never settled');
}

/** A physical source on the cluster, its password in the environment under `passwordEnv`. */
export function physicalSource(cluster: ArchivingPostgres, passwordEnv: string): Record<string, unknown> {
  process.env[passwordEnv] = cluster.postgres.password;
  return {
    kind: 'postgres', region: 'stockholm', mode: 'physical', passwordEnv,
    url: `postgres://${cluster.postgres.user}@127.0.0.1:${cluster.postgres.port}/postgres`,
    wal: { spool: cluster.spool },
  };
}
