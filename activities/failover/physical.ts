import { execa } from 'execa';
import { pgClient } from '../sources/postgres/connect';
import type { FailoverTargetConfig, VerifyCheckConfig } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import type { Manifest, PostgresPhysicalDescription } from '../../lib/manifest';
import type { CheckOutcome } from '../../lib/verify';
import { majorOf, pgBinary } from '../sources/postgres/binaries';
import { removeRestoredCluster, restorePointInTime, type ClusterTarget } from '../sources/postgres/pitr';
import { replayRate, socketDirOf } from '../sources/postgres/restore-cluster';
import type { StorageBackend } from '../storage/backend';
import type { TrustedKey } from '../../lib/signing';
import { runUserChecks } from '../verify/postgres';
import { childEnvOptions } from '../../lib/child-env';

export function clusterOf(target: FailoverTargetConfig): ClusterTarget {
  return { dataDir: target.dataDir!, port: target.port!, ...(target.osUser ? { osUser: target.osUser } : {}), ...(target.tablespaces ? { tablespaces: target.tablespaces } : {}) };
}

/**
 * Base backup + archived WAL to the time (or the end of WAL), promoted, serving on the target's
 * port. The owner is this run's marker: a retry returns the finished cluster or redoes its own.
 */
export async function restorePhysical(storage: StorageBackend, trusted: TrustedKey[], manifest: Manifest, identity: string, target: FailoverTargetConfig, marker: string,
  recoveryTarget: string | null | undefined, onPhase: (phase: string) => void): Promise<{ detail: string; recoveredTo: string }> {
  const result = await restorePointInTime(storage, manifest.source, identity, clusterOf(target), recoveryTarget ? { time: recoveryTarget } : {},
    { owner: marker, trusted, backupId: manifest.id, onPhase });
  const failed = result.checks.filter((c) => !c.ok);
  if (failed.length > 0) {
    throw new LifeboatError('VerificationFailed', `the cluster restored into ${target.dataDir} failed ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}`, 'do not serve from it: restore another base backup or region');
  }
  return {
    detail: `base backup ${result.baseBackupId} + ${result.walFiles} archived WAL file(s) replayed to ${result.recoveredTo ?? 'the end of WAL'} (LSN ${result.recoveredLsn}, timeline ${result.timeline}; ${replayRate(result)}); PostgreSQL serves ${target.dataDir} on port ${target.port}`,
    // Without a commit in the replayed WAL, the base backup's own end is the point reached.
    recoveredTo: result.recoveredTo ?? manifest.finishedAt,
  };
}

/** pg_amcheck over every database, then the source's SQL checks, over the restored cluster's socket. */
export async function checkPhysical(manifest: Manifest, target: FailoverTargetConfig, database: string, checks: VerifyCheckConfig[]): Promise<CheckOutcome[]> {
  const description = manifest.description as PostgresPhysicalDescription;
  const connection = { host: socketDirOf(target.dataDir!), port: target.port!, user: description.bootstrapSuperuser ?? 'postgres' };
  const amcheck = await execa(pgBinary('pg_amcheck', majorOf(description.serverVersion)),
    ['--all', '--install-missing', '--heapallindexed', '-h', connection.host, '-p', String(connection.port), '-U', connection.user, '--no-password'], { reject: false, ...childEnvOptions() });
  const outcomes: CheckOutcome[] = [amcheck.exitCode === 0
    ? { name: 'pg_amcheck', ok: true, detail: `no corruption found in the tables and B-tree indexes of all ${description.databases.length} databases (heapallindexed)` }
    : { name: 'pg_amcheck', ok: false, detail: `expected no corruption, found: ${`${amcheck.stdout}\n${amcheck.stderr}`.split('\n').filter(Boolean).slice(0, 3).join(' | ')}` }];
  const client = pgClient({ ...connection, database: description.databases.includes(database) ? database : 'postgres', connectionTimeoutMillis: 10_000, application_name: 'lifeboat' });
  await client.connect();
  try {
    outcomes.push(...await runUserChecks(client, checks));
  } finally {
    await client.end();
  }
  return outcomes;
}

export async function teardownPhysical(target: FailoverTargetConfig, marker: string): Promise<string[]> {
  const outcome = await removeRestoredCluster(clusterOf(target), marker);
  return outcome.removed ? [outcome.detail] : [];
}
