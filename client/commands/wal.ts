import type { ShipResult } from '../../activities/wal/ship';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { createDeps } from '../../activities/deps';
import { walRegionState, type WalRegionState } from '../../activities/wal/region-state';
import type { Config } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { walShipperWorkflowId } from '../../lib/workflow-ids';
import { spoolPollersLine } from './doctor-workers';
import { walStatusQuery, type shipWal, type WalStatus } from '../../workflows/ship-wal';
import { searchAttributes } from '../../workflows/search-attributes';
import { table, type Output, usage } from '../output';
import { taskQueueOf, uiLink } from '../temporal';
import { age } from './ages';

export interface ShipperStart {
  source: string;
  workflowId: string;
  runId: string;
  /** false: it was already running, nothing was started. */
  started: boolean;
  /** Dry run: not running, would be started. */
  missing?: boolean;
}

/** The sources whose WAL Lifeboat ships: postgres with a wal block (the schema allows it only with mode: physical). */
export function walSources(config: Config, source?: string): string[] {
  const all = Object.entries(config.sources).filter(([, s]) => s.kind === 'postgres' && s.wal).map(([name]) => name);
  if (source === undefined) return all;
  if (!config.sources[source]) throw usage(`no source "${source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ') || '(none)'}`);
  if (!all.includes(source)) throw usage(`source ${source} does not archive WAL`, 'give it mode: physical and a wal block with wal.spool (see docs/wal.md)');
  return [source];
}

/**
 * Starts the shipper of each source unless it runs already: one workflow id per source and
 * USE_EXISTING, so two starts at once still make one shipper.
 */
export async function startShippers(client: Client, config: Config, source?: string, dryRun = false): Promise<ShipperStart[]> {
  const results: ShipperStart[] = [];
  for (const name of walSources(config, source)) {
    const sourceConfig = config.sources[name]!;
    const workflowId = walShipperWorkflowId(config.temporal.taskQueuePrefix, name);
    const running = await runningRunId(client, workflowId);
    if (running || dryRun) {
      results.push({ source: name, workflowId, runId: running ?? '', started: false, ...(running ? {} : { missing: true }) });
      continue;
    }
    const handle = await client.workflow.start<typeof shipWal>('shipWal', {
      args: [{ source: name }],
      workflowId,
      workflowIdConflictPolicy: 'USE_EXISTING',
      // Its rounds run where the spool is: the source's region.
      taskQueue: taskQueueOf(config, sourceConfig.region),
      typedSearchAttributes: searchAttributes({ source: name, region: sourceConfig.region, kind: sourceConfig.kind }),
      staticSummary: `WAL shipper of ${name} (${sourceConfig.region} spool to every region)`,
    });
    results.push({ source: name, workflowId, runId: handle.firstExecutionRunId, started: true });
  }
  return results;
}

async function runningRunId(client: Client, workflowId: string): Promise<string | undefined> {
  try {
    const description = await client.workflow.getHandle(workflowId).describe();
    return description.status.name === 'RUNNING' ? description.runId : undefined;
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return undefined;
    throw error;
  }
}

/**
 * For doctor: a source that archives WAL needs its shipper running, or the spool only grows and
 * point-in-time recovery ends where shipping stopped. A shipper that stopped fails; one never
 * started, or that runs but failed its last round, warns.
 */
export async function shipperDoctorLine(client: Client, config: Config, source: string): Promise<string | { warn: string }> {
  const workflowId = walShipperWorkflowId(config.temporal.taskQueuePrefix, source);
  let status: string;
  try {
    status = (await client.workflow.getHandle(workflowId).describe()).status.name;
  } catch (error) {
    if (!(error instanceof WorkflowNotFoundError)) throw error;
    // A new installation runs doctor before anything was started: not yet a failure.
    return { warn: `not started yet (workflow ${workflowId}): run "lifeboat schedules apply" (or "lifeboat wal start")` };
  }
  if (status !== 'RUNNING') {
    throw new LifeboatError('Config', `the WAL shipper of ${source} (workflow ${workflowId}) is not running (${status.toLowerCase()}): WAL stays in the spool and point-in-time recovery ends where shipping stopped`,
      'run "lifeboat schedules apply" (or "lifeboat wal start") to start it again');
  }
  // A query needs a worker of the shipper's queue; without one it would wait.
  const round = await Promise.race([
    client.workflow.getHandle(workflowId).query(walStatusQuery).catch(() => null),
    new Promise<null>((resolve) => setTimeout(() => resolve(null), 5_000).unref()),
  ]);
  const lastError = round?.shipError ? `its last round (${round.at}) failed: ${round.shipError.type}: ${round.shipError.message}` : undefined;
  const shippers = await spoolPollersLine(client, config, source, lastError);
  if (lastError) return { warn: `running, but ${lastError}` };
  return round ? `running, last round ${round.at}, ${shippers}` : `running (no round finished yet, or its worker does not answer), ${shippers}`;
}

export async function walStartCommand(client: Client, config: Config, source: string | undefined, out: Output): Promise<void> {
  const results = await startShippers(client, config, source);
  const text = results.length === 0
    ? 'no source archives WAL (mode: physical with a wal block)'
    : results.map((r) => `${r.source}: ${r.started ? 'started' : 'already running'} ${uiLink(config, r.workflowId, r.runId)}`).join('\n');
  out.result(results, text);
}

export type WalRegionRow = (WalRegionState & { newestAgeSeconds: number | null }) | { region: string; error: string };

export interface WalSourceStatus {
  source: string;
  shipper: { workflowId: string; running: boolean; lastRound: WalStatus | null };
  regions: WalRegionRow[];
}

/** Read straight from every region's storage, like the catalog; the shipper's last round from its query when it runs. */
export async function walStatusOf(config: Config, client: Client | undefined, source?: string, now = Date.now()): Promise<WalSourceStatus[]> {
  const deps = createDeps(config);
  const statuses: WalSourceStatus[] = [];
  for (const name of walSources(config, source)) {
    const workflowId = walShipperWorkflowId(config.temporal.taskQueuePrefix, name);
    const shipper: WalSourceStatus['shipper'] = { workflowId, running: false, lastRound: null };
    if (client && (await runningRunId(client, workflowId))) {
      shipper.running = true;
      // A query needs a worker of the shipper's queue; without one it would wait, so it gets ten seconds.
      shipper.lastRound = await Promise.race([
        client.workflow.getHandle(workflowId).query(walStatusQuery).catch(() => null),
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000).unref()),
      ]);
    }
    const regions = await Promise.all(Object.keys(config.regions).map(async (region): Promise<WalRegionRow> => {
      try {
        const state = await walRegionState(deps.storage(region), deps.trusted, name, region);
        return { ...state, newestAgeSeconds: state.newest ? Math.max(0, Math.round((now - Date.parse(state.newest.modified)) / 1000)) : null };
      } catch (error) {
        return { region, error: (error as Error).message };
      }
    }));
    statuses.push({ source: name, shipper, regions });
  }
  return statuses;
}

export async function walStatusCommand(config: Config, connect: () => Promise<Client>, source: string | undefined, out: Output): Promise<void> {
  let client: Client | undefined;
  try {
    client = await connect();
  } catch {
    out.note('Temporal unreachable: the shipper\'s state is not shown, the regions\' WAL is');
  }
  try {
    const statuses = await walStatusOf(config, client, source);
    out.result({ sources: statuses }, statuses.map(describeSource).join('\n\n') || 'no source archives WAL (mode: physical with a wal block)');
  } finally {
    await client?.connection.close();
  }
}

/** Rounds recorded before counts were carried list every file. */
function countsOf(ship: ShipResult): { shipped: number; waiting: number; settling: number } {
  return ship.counts ?? { shipped: ship.shipped.length, waiting: ship.waiting.length, settling: ship.settling.length };
}

function describeSource(status: WalSourceStatus): string {
  const round = status.shipper.lastRound;
  const shipper = !status.shipper.running
    ? 'shipper NOT RUNNING: run "lifeboat wal start"'
    : round
      ? `shipper running, last round ${round.at}: ${round.ship ? countsOf(round.ship).shipped : 0} shipped, ${round.ship ? countsOf(round.ship).waiting + countsOf(round.ship).settling : '?'} in the spool${round.shipError ? `, FAILED ${round.shipError.type}: ${round.shipError.message}` : ''}${round.ship?.failures.length ? `, failing: ${round.ship.failures.map((f) => `${f.region} (${f.type})`).join(', ')}` : ''}`
      : 'shipper running (no round finished yet, or its worker does not answer)';
  const rows = status.regions.map((row) => {
    if ('error' in row) return [row.region, 'UNREADABLE', '-', '-', '-', row.error];
    const gaps = row.gaps.length === 0 ? (row.base ? 'none' : '-') : row.gaps.map((g) => `${g.missing} missing from ${g.firstMissing}`).join('; ');
    return [
      row.region,
      row.newest?.name ?? '(none)',
      age(row.newestAgeSeconds),
      row.base ? `${row.base.id} from ${row.base.startWalFile}` : '(no base backup)',
      row.base ? row.continuity?.contiguousThrough ?? 'NOTHING (start segment missing)' : '-',
      gaps,
    ];
  });
  return `${status.source}: ${shipper}\n${table([['REGION', 'NEWEST SEGMENT', 'AGE (RPO)', 'BASE BACKUP', 'CONTIGUOUS THROUGH', 'GAPS'], ...rows])}`;
}
