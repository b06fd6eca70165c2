import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { pgUrl, recreateDatabase, withClient } from '../scripts/sample-db';
import type { Servers } from '../test/harness/servers';
import type { Fixture } from '../test/support/fixture';
import { lifeboat } from './cases';
import type { WindowReport } from './procs';
import { target, type RestoreResults } from './report';
import { dumpToFile, hasVerifyRestore, lifeboatRestore, PG_RESTORE_LABEL, pgRestoreFile, verifyRestoreRto } from './restore-cases';

const DATABASE = 'bench';
const LIFEBOAT_TARGET = 'bench_restore_lifeboat';
const PG_RESTORE_TARGET = 'bench_restore_pg';

export interface RestoreContext {
  servers: Servers;
  fixture: Fixture;
  client: Client;
  /** Runs one case once the machine is quiet, sampling CPU (bench/run.ts's sampled()). */
  measure<T extends { seconds: number }>(run: () => Promise<T>): Promise<T & { window: WindowReport }>;
  log(line: string): void;
}

/** (g) Lifeboat restore vs (h) pg_restore from a file, same dump, fresh databases; then (i) verifyRestore's RTO. */
export async function restorePart({ servers, fixture, client, measure, log }: RestoreContext, backupId: string | undefined): Promise<RestoreResults> {
  const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
  if (!backupId) {
    log('warm-up and a backup of the database to restore (the postgres part did not run; not timed)…');
    await lifeboat(client, fixture.config, 'warmup');
    backupId = (await lifeboat(client, fixture.config, DATABASE)).summary.backupId;
  }
  const passwordEnv = Object.keys(fixture.env).find((name) => name.startsWith('PG_PASSWORD_'))!;

  log('pg_dump -Fc -Z0 to a local file for (h) (not timed)…');
  const file = join(servers.workDir, 'bench.dump');
  const fileBytes = await dumpToFile({ url: pgUrl(pg, DATABASE), password: pg.password }, file);

  // Lifeboat restores into a database that does not exist yet (one pass into a staging database,
  // renamed into place; its CREATE DATABASE is timed); pg_restore needs its database made first (untimed).
  await withClient(pg, 'postgres', (c) => c.query(`drop database if exists "${LIFEBOAT_TARGET}" with (force)`));
  log(`(g) Lifeboat restore of ${backupId} through restoreBackup…`);
  const g = await measure(() => lifeboatRestore(client, fixture.config, { source: DATABASE, backupId, target: pgUrl(pg, LIFEBOAT_TARGET), targetPasswordEnv: passwordEnv }));

  await recreateDatabase(pg, PG_RESTORE_TARGET);
  log('(h) pg_restore from the local file…');
  const h = await measure(() => pgRestoreFile(file, { url: pgUrl(pg, PG_RESTORE_TARGET), password: pg.password }));
  const rows = await Promise.all([LIFEBOAT_TARGET, PG_RESTORE_TARGET].map((db) => withClient(pg, db, async (c) => Number((await c.query('select count(*) as n from orders')).rows[0].n))));
  if (rows[0] !== rows[1]) throw new Error(`the two restores differ: ${rows[0]} orders from Lifeboat, ${rows[1]} from pg_restore`);
  for (const db of [LIFEBOAT_TARGET, PG_RESTORE_TARGET]) await withClient(pg, 'postgres', (c) => c.query(`drop database if exists "${db}" with (force)`));

  let verify: RestoreResults['verify'];
  if (hasVerifyRestore()) {
    log('(i) restore-level verifyRestore of the same backup…');
    const i = await verifyRestoreRto(client, fixture.config, DATABASE, backupId);
    verify = { present: true, ...i };
  } else {
    verify = { present: false, reason: 'verifyRestore is missing from this checkout (workflows/verify-restore.ts): no RTO recorded' };
  }

  return {
    backupId,
    dumpFileBytes: fileBytes,
    ordersRestored: rows[0]!,
    cases: {
      g: {
        label: 'lifeboat restore: restoreBackup workflow → S3 → sha256 → age -d | zstd -d | pg_restore --single-transaction --no-owner into a staging database, row counts, renamed to a new database (worker warm)',
        seconds: g.seconds, outputBytes: 0, cpu: g.window.cpu, extra: { 'restore activity s': g.result.durationMs / 1000, 'stored MB read': g.result.bytes / 1e6 },
      },
      h: { label: PG_RESTORE_LABEL, seconds: h.seconds, outputBytes: 0, cpu: h.window.cpu },
    },
    ratios: { gOverH: target(g.seconds / h.seconds, 1.1) },
    verify,
  };
}
