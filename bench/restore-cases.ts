import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { RestoreResult } from '../activities/restore';
import type { Config } from '../lib/config/schema';
import type { VerifyResult } from '../workflows/verify-restore';
import type { DumpTarget } from './cases';

// The restore part: (g) a Lifeboat restore through restoreBackup against (h) pg_restore of the
// same dump from a local file, each into a fresh empty database; then (i) what verifyRestore
// measures as the RTO when it restores the same backup into its scratch database.

/**
 * A failed workflow's own reason, not just "Workflow execution failed", with every failed or timed
 * out activity attempt before it: a retry that meets a half-restored target hides the first cause.
 */
export async function explained<T>(client: Client, workflowId: string, result: Promise<T>, what: string): Promise<T> {
  try {
    return await result;
  } catch (error) {
    const cause = error instanceof WorkflowFailedError ? error.cause : undefined;
    const attempts: string[] = [];
    const history = await client.workflow.getHandle(workflowId).fetchHistory().catch(() => undefined);
    for (const event of history?.events ?? []) {
      // Retries are not events: the started event of the last attempt carries the attempt before it.
      const failed = event.activityTaskStartedEventAttributes?.lastFailure ?? event.activityTaskFailedEventAttributes?.failure ?? event.activityTaskTimedOutEventAttributes?.failure;
      if (failed) attempts.push(`${failed.message ?? '?'}${failed.cause?.message ? ` (${failed.cause.message})` : ''}`);
    }
    throw new Error(`${what} failed: ${cause ? `${cause.name}: ${cause.message}` : (error as Error).message}; attempts: ${attempts.join(' | ') || 'none recorded'}`, { cause: error });
  }
}

/** Runs one command with its environment; rejects with the tail of stderr. */
function run(command: string, args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${command} ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${stderr.trim().slice(-800)}`))));
  });
}

/** Untimed: the dump (h) restores, the same format and flags as Lifeboat's backup dump. Returns its size. */
export async function dumpToFile(db: DumpTarget, file: string): Promise<number> {
  await run('pg_dump', ['--format=custom', '--compress=0', `--dbname=${db.url}`, `--file=${file}`], { PGPASSWORD: db.password });
  return statSync(file).size;
}

export const PG_RESTORE_LABEL = 'pg_restore --no-owner -d FRESH_DB FILE (pg_dump -Fc -Z0 to a local file beforehand, not timed)';

/** (h) The floor for a restore: pg_restore from a local, uncompressed, unencrypted file, one job (as Lifeboat streams). */
export async function pgRestoreFile(file: string, target: DumpTarget, jobs = 1): Promise<{ seconds: number }> {
  const start = performance.now();
  await run('pg_restore', ['--no-owner', '--exit-on-error', `--jobs=${jobs}`, `--dbname=${target.url}`, file], { PGPASSWORD: target.password });
  return { seconds: (performance.now() - start) / 1000 };
}

/** (g) A Lifeboat restore of one backup through restoreBackup, from start request to its result, on a running worker. */
export async function lifeboatRestore(client: Client, config: Config, input: { source: string; backupId: string; target: string; targetPasswordEnv: string }): Promise<{ seconds: number; result: RestoreResult }> {
  const region = config.sources[input.source]!.region;
  const start = performance.now();
  const workflowId = `bench-restore-${input.source}-${Date.now()}`;
  const result = await explained(client, workflowId, client.workflow.execute('restoreBackup', {
    args: [{ source: input.source, region, backupId: input.backupId, target: input.target, targetPasswordEnv: input.targetPasswordEnv, clean: false, noOwner: true }],
    workflowId,
    taskQueue: `${config.temporal.taskQueuePrefix}${region}`,
  }), 'restoreBackup') as RestoreResult;
  return { seconds: (performance.now() - start) / 1000, result };
}

/** Whether this checkout has helper V's workflow yet: the bench reports its RTO only when it does. */
export const hasVerifyRestore = () => existsSync(new URL('../workflows/verify-restore.ts', import.meta.url));

/** (i) A restore-level verifyRestore of one backup in the source's region: its recorded restoreMs is the measured RTO. */
export async function verifyRestoreRto(client: Client, config: Config, source: string, backupId: string): Promise<{ seconds: number; restoreMs: number | null; outcome: string; failed: string[] }> {
  const region = config.sources[source]!.region;
  const start = performance.now();
  const workflowId = `bench-verify-${source}-${Date.now()}`;
  const result = await explained(client, workflowId, client.workflow.execute('verifyRestore', {
    args: [{ source, region, level: 'restore', backupId }],
    workflowId,
    taskQueue: `${config.temporal.taskQueuePrefix}${config.primaryRegion}`,
  }), 'verifyRestore') as VerifyResult;
  const regional = result.regions.find((r) => r.region === region);
  return {
    seconds: (performance.now() - start) / 1000,
    restoreMs: regional?.restoreMs ?? null,
    outcome: regional?.outcome ?? result.outcome,
    failed: (regional?.checks ?? []).filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`),
  };
}
