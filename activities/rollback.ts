import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Config } from '../lib/config/schema';
import { keys } from '../lib/manifest';
import { parseTombstone } from '../lib/manifest-schema';
import { crossCheck, type CompletedRun, type RollbackFinding } from '../lib/rollback';
import { backupIdFor } from '../lib/manifest';
import type { TrustedKey } from '../lib/signing';
import { sourceKey } from '../workflows/search-attributes';
import { judgeManifest, readManifest, type UntrustedItem } from './catalog';
import type { Deps } from './deps';
import { recordHead, scanHeads } from './heads';
import { readSigned } from './signed';
import type { StorageBackend } from './storage/backend';

/** How many of a source's newest completed backup runs are checked against the catalog. */
export const RUN_WINDOW = 50;

export interface RollbackReport {
  source: string;
  /** The home region, where manifests and heads are checked. */
  region: string;
  /** Completed runs checked (at most RUN_WINDOW, the newest), and trusted heads read. */
  runs: number;
  heads: number;
  newestHead: number | null;
  findings: RollbackFinding[];
  untrustedHeads: UntrustedItem[];
  /** Set when Temporal or the catalog could not be read: nothing was checked. */
  error?: string;
}

/**
 * The newest completed backupSource runs of a source from Temporal's visibility store, on the home
 * region's queue (two deployments on one namespace differ in their queue prefix). Runs from before
 * head records carry no sequence; their backup id follows from start time and run id.
 */
export async function completedRuns(client: Client, config: Config, source: string, limit = RUN_WINDOW): Promise<CompletedRun[]> {
  const queue = `${config.temporal.taskQueuePrefix}${config.sources[source]!.region}`;
  const query = `WorkflowType = 'backupSource' AND ExecutionStatus = 'Completed' AND ${sourceKey.name} = '${source}' AND TaskQueue = '${queue}'`;
  const runs: CompletedRun[] = [];
  for await (const run of client.workflow.list({ query, pageSize: limit })) {
    const memo = run.memo ?? {};
    runs.push({
      workflowId: run.workflowId,
      runId: run.runId,
      backupId: typeof memo.backupId === 'string' ? memo.backupId : backupIdFor(run.startTime, run.runId),
      closedAt: run.closeTime?.toISOString() ?? null,
      headSequence: typeof memo.headSequence === 'number' ? memo.headSequence : null,
    });
    if (runs.length >= limit) break;
  }
  return runs;
}

/** Whether a trusted tombstone stands where the backup was: retention deleted it. */
async function tombstoned(storage: StorageBackend, trusted: TrustedKey[], source: string, id: string): Promise<boolean> {
  const key = keys.tombstone(source, id);
  if (!(await storage.stat(key))) return false;
  const { bytes, verdict } = await readSigned(storage, key, trusted);
  return verdict.trusted && 'tombstone' in parseTombstone(bytes, key);
}

/**
 * Temporal first, then the bucket: a backup that completes in between is then in both or only in
 * the bucket, never reported missing. Only the backups the runs and heads name are read.
 */
export async function checkSource(client: Client, deps: Deps, source: string): Promise<RollbackReport> {
  const region = deps.source(source).config.region;
  const storage = deps.storage(region);
  const runs = await completedRuns(client, deps.config, source);
  const { heads, untrusted } = await scanHeads(storage, deps.trusted, source, RUN_WINDOW, RUN_WINDOW);
  const ids = new Set([...runs.map((run) => run.backupId), ...heads.map((h) => h.head.backupId)]);
  const manifests: string[] = [];
  const tombstones: string[] = [];
  for (const id of ids) {
    const key = keys.manifest(source, id);
    if ((await storage.stat(key)) && 'entry' in (await judgeManifest(storage, deps.trusted, key))) manifests.push(id);
    else if (await tombstoned(storage, deps.trusted, source, id)) tombstones.push(id);
  }
  const findings = crossCheck({
    runs, manifests, tombstones,
    heads: heads.map(({ head, sha256 }) => ({ sequence: head.sequence, backupId: head.backupId, sha256, previousHeadSha256: head.previousHeadSha256 })),
  });
  return { source, region, runs: runs.length, heads: heads.length, newestHead: heads.at(-1)?.head.sequence ?? null, findings, untrustedHeads: untrusted };
}

/** Every configured source; one that cannot be read says why instead of failing the others. */
export async function checkSources(client: Client, deps: Deps): Promise<RollbackReport[]> {
  return Promise.all(Object.entries(deps.config.sources).map(([source, sourceConfig]) => checkSource(client, deps, source).catch((error: unknown): RollbackReport => ({
    source, region: sourceConfig.region, runs: 0, heads: 0, newestHead: null, findings: [], untrustedHeads: [], error: (error as Error).message,
  }))));
}

export function rollbackActivities(deps: Deps) {
  /** The head record of a backup whose manifest was just written (lib/manifest.ts Head). */
  async function writeHead({ source, backupId }: { source: string; backupId: string }): Promise<{ sequence: number; key: string }> {
    const storage = deps.storage(deps.source(source).config.region);
    const { manifest, manifestSha256 } = await readManifest(storage, deps.trusted, keys.manifest(source, backupId));
    const head = await recordHead(storage, deps.trusted, deps.signer(), { source, backupId, manifestSha256, finishedAt: manifest.finishedAt });
    return { sequence: head.sequence, key: keys.head(source, head.sequence) };
  }

  /**
   * The periodic cross-check. The worker's own client (Context.client) reads visibility: no second
   * connection, no Temporal settings beside the worker's.
   */
  async function checkRollback(): Promise<RollbackReport[]> {
    return checkSources(Context.current().client, deps);
  }

  return { writeHead, checkRollback };
}
