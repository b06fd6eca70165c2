import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { pgClient } from '../sources/postgres/connect';
import type { VerifyCheckConfig } from '../../lib/config/schema';
import type { Manifest, PostgresPhysicalDescription } from '../../lib/manifest';
import type { CheckOutcome } from '../../lib/verify';
import { freePort } from '../ports';
import { majorOf, pgBinary } from '../sources/postgres/binaries';
import { removeRestoredCluster, restoreOwned, type ClusterTarget } from '../sources/postgres/pitr';
import type { RecoveredCluster } from '../sources/postgres/restore-cluster';
import type { StorageBackend } from '../storage/backend';
import type { TrustedKey } from '../../lib/signing';
import { runUserChecks } from './postgres';
import { childEnvOptions } from '../../lib/child-env';

/** The scratch cluster of one verification: in its scratch directory, owned by its scratch id. */
export function physicalScratch(directory: string, scratchId: string): { target: ClusterTarget; owner: string } {
  return { target: { dataDir: join(directory, 'cluster'), port: 0 }, owner: `verify:${scratchId}` };
}

export async function removePhysicalScratch(directory: string, scratchId: string): Promise<string | undefined> {
  const { target, owner } = physicalScratch(directory, scratchId);
  const outcome = await removeRestoredCluster(target, owner);
  return outcome.removed ? `PostgreSQL cluster ${target.dataDir}` : undefined;
}

/**
 * Restores a base backup into a scratch cluster with only the WAL it carries (the backup itself is
 * proven, not the archive), then checks it: pg_amcheck over every database and the source's SQL checks.
 */
export async function restorePhysicalScratch(run: { storage: StorageBackend; trusted: TrustedKey[]; manifest: Manifest; identity: string; directory: string; scratchId: string; database: string; checks: VerifyCheckConfig[]; onPhase(phase: string): void }):
  Promise<{ checks: CheckOutcome[]; check(): Promise<CheckOutcome[]>; tools: Record<string, string> }> {
  const description = run.manifest.description as PostgresPhysicalDescription;
  const { target, owner } = physicalScratch(run.directory, run.scratchId);
  let cluster: RecoveredCluster | undefined;
  const result = await restoreOwned(run.storage, run.manifest.source, run.identity, { ...target, port: await freePort() }, { wal: 'none' },
    { owner, trusted: run.trusted, backupId: run.manifest.id, onPhase: run.onPhase }, async (recovered) => {
      cluster = recovered;
      return [];
    });
  const connection = cluster!.connection;
  const database = description.databases.includes(run.database) ? run.database : String(connection.database);
  return {
    checks: result.checks,
    tools: { pg_ctl: (await execa(pgBinary('pg_ctl', majorOf(description.serverVersion)), ['--version'], childEnvOptions())).stdout.trim() },
    async check() {
      const outcomes = [await amcheckAll(connection, description)];
      if (run.checks.length > 0) {
        const client = pgClient({ ...connection, database });
        await client.connect();
        try {
          outcomes.push(...await runUserChecks(client, run.checks));
        } finally {
          await client.end();
        }
      }
      return outcomes;
    },
  };
}

async function amcheckAll(connection: pg.ClientConfig, description: PostgresPhysicalDescription): Promise<CheckOutcome> {
  const name = 'pg_amcheck';
  const result = await execa(pgBinary('pg_amcheck', majorOf(description.serverVersion)),
    ['--all', '--install-missing', '--heapallindexed', '-h', String(connection.host), '-p', String(connection.port), '-U', String(connection.user), '--no-password'],
    { reject: false, ...childEnvOptions() });
  if (result.exitCode === 0) return { name, ok: true, detail: `no corruption found in the tables and B-tree indexes of all ${description.databases.length} databases (heapallindexed)` };
  const report = `${result.stdout}\n${result.stderr}`.split('\n').filter(Boolean);
  return { name, ok: false, detail: `expected no corruption, found: ${report.slice(0, 3).join(' | ')}` };
}
