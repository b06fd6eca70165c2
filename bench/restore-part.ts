import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createDeps } from '../activities/deps';
import { restoreActivities, type RestoreResult } from '../activities/restore';
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
const LIFEBOAT_JOBS_TARGET = 'bench_restore_lifeboat_j2';
const PG_RESTORE_JOBS_TARGET = 'bench_restore_pg_j2';

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
  // restore.jobs: 2 beside pg_restore -j 2, each into a new database: on two cores parallelism has little room; on more it should.
  await withClient(pg, 'postgres', (c) => c.query(`drop database if exists "${LIFEBOAT_JOBS_TARGET}" with (force)`));
  log('(g2) Lifeboat restore with restore.jobs 2 (the restore activity in this process)…');
  const jobsConfig = { ...fixture.config, restore: { targetPasswordEnvs: [], jobs: 2, scratchDir: servers.workDir } };
  const g2 = await measure(async () => {
    const start = performance.now();
    const result: RestoreResult = await new MockActivityEnvironment().run(restoreActivities(createDeps(jobsConfig)).restoreBackupTo, {
      source: DATABASE, region: fixture.config.sources[DATABASE]!.region, backupId: backupId!, target: pgUrl(pg, LIFEBOAT_JOBS_TARGET), targetPasswordEnv: passwordEnv, clean: false, noOwner: true,
    });
    return { seconds: (performance.now() - start) / 1000, result };
  });
  await recreateDatabase(pg, PG_RESTORE_JOBS_TARGET);
  log('(h2) pg_restore -j 2 from the local file…');
  const h2 = await measure(() => pgRestoreFile(file, { url: pgUrl(pg, PG_RESTORE_JOBS_TARGET), password: pg.password }, 2));
  const rows = await Promise.all([LIFEBOAT_TARGET, PG_RESTORE_TARGET, LIFEBOAT_JOBS_TARGET, PG_RESTORE_JOBS_TARGET].map((db) => withClient(pg, db, async (c) => Number((await c.query('select count(*) as n from orders')).rows[0].n))));
  if (new Set(rows).size !== 1) throw new Error(`the restores differ: ${rows.join(', ')} orders (Lifeboat, pg_restore, Lifeboat -j 2, pg_restore -j 2)`);
  for (const db of [LIFEBOAT_TARGET, PG_RESTORE_TARGET, LIFEBOAT_JOBS_TARGET, PG_RESTORE_JOBS_TARGET]) await withClient(pg, 'postgres', (c) => c.query(`drop database if exists "${db}" with (force)`));

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
        seconds: g.seconds, outputBytes: 0, cpu: g.window.cpu, extra: { 'restore activity s': g.result.durationMs / 1000, 'stored MB read': g.result.bytes / 1e6, ...Object.fromEntries((g.result.steps ?? []).map((s) => [`${s.step} s`, s.ms / 1000])) },
      },
      h: { label: PG_RESTORE_LABEL, seconds: h.seconds, outputBytes: 0, cpu: h.window.cpu },
      g2: {
        label: 'lifeboat restore with restore.jobs 2: S3 → sha256 → age -d | zstd -d > scratch file, then pg_restore -j 2 into a staging database, row counts, renamed (activity run in the bench process)',
        seconds: g2.seconds, outputBytes: 0, cpu: g2.window.cpu, extra: Object.fromEntries((g2.result.steps ?? []).map((s) => [`${s.step} s`, s.ms / 1000])),
      },
      h2: { label: PG_RESTORE_LABEL.replace('pg_restore', 'pg_restore -j 2'), seconds: h2.seconds, outputBytes: 0, cpu: h2.window.cpu },
    },
    ratios: { gOverH: target(g.seconds / h.seconds, 1.1), g2OverH2: g2.seconds / h2.seconds },
    verify,
  };
}
