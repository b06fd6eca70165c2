import type { DataConverter, PayloadCodec } from '@temporalio/common';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client, HistoryAndWorkflowId } from '@temporalio/client';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils';
import { Worker, type ReplayResult } from '@temporalio/worker';
import { execa } from 'execa';
import { inBatches } from '../../activities/catalog';

// Replay (issue 13, item 5): every history a test run produced, and the histories earlier versions
// committed in test/histories/, run against today's workflow bundle. A change to workflow code that
// alters the commands of a running workflow without patched() fails here, before a worker ships it.

export const committedDir = fileURLToPath(new URL('../histories', import.meta.url));
const indexFile = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

/** The workflow types the worker bundles (workflows/index.ts): histories of anything else are not ours to replay. */
export function bundledTypes(): string[] {
  return [...readFileSync(indexFile, 'utf8').matchAll(/^export \{ (\w+) \}/gm)].map((match) => match[1]!);
}

export interface RunHistory extends HistoryAndWorkflowId {
  runId: string;
  history: History;
  type: string;
  status: string;
  events: number;
}

/** Every execution of a bundled workflow type in the namespace, with its history. */
export async function* historiesOfRun(client: Client): AsyncGenerator<RunHistory> {
  const types = new Set(bundledTypes());
  const runs = [];
  for await (const run of client.workflow.list()) if (types.has(run.type)) runs.push(run);
  // Hundreds of runs by the end of a test run: fetched eight at a time rather than one after another.
  const fetched = await inBatches(runs, async (run) => ({ run, history: await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory() }), 8);
  for (const { run, history } of fetched) {
    yield { workflowId: run.workflowId, runId: run.runId, history, type: run.type, status: run.status.name, events: history.events?.length ?? 0 };
  }
}

/** Replays each history against the bundle; the results of those that failed, whatever the reason. */
export async function replayFailures(bundle: string, histories: AsyncIterable<HistoryAndWorkflowId> | Iterable<HistoryAndWorkflowId>, dataConverter?: DataConverter): Promise<{ replayed: number; failed: ReplayResult[] }> {
  const failed: ReplayResult[] = [];
  let replayed = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle: { code: bundle }, ...(dataConverter ? { dataConverter } : {}) }, histories)) {
    replayed += 1;
    if (result.error) failed.push(result);
  }
  return { replayed, failed };
}

/** test/histories/*.json: <type>.json as the record script wrote them, and older versions' files kept under other names. */
export function committedHistories(): Array<HistoryAndWorkflowId & { file: string; type: string }> {
  if (!existsSync(committedDir)) return [];
  return readdirSync(committedDir).filter((name) => name.endsWith('.json')).sort().map((file) => {
    const stored = JSON.parse(readFileSync(join(committedDir, file), 'utf8')) as { workflowId: string; type: string; history: unknown };
    return { file, type: stored.type, workflowId: stored.workflowId, history: historyFromJSON(stored.history) };
  });
}

/**
 * Picks one history per workflow type (the one with the most events that still fits `maxEvents`:
 * the most code paths in a file small enough to commit) and writes it to `dir`, every payload
 * decoded by `codec` first: the file must stay readable after the key that wrote it is gone.
 * Returns the types written.
 */
export async function recordHistories(dir: string, histories: RunHistory[], codec: PayloadCodec, temporal: { address: string; namespace: string }, maxEvents = 1500): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const best = new Map<string, RunHistory & { kinds: number }>();
  for (const run of histories) {
    if (run.events > maxEvents) continue;
    const current = best.get(run.type);
    // The run that ran the most kinds of activity covers the most code; then the longest.
    const kinds = activityKinds(run);
    if (!current || kinds > current.kinds || (kinds === current.kinds && run.events > current.events)) best.set(run.type, { ...run, kinds });
  }
  for (const [type, run] of best) {
    // The history as the Temporal CLI exports it (what an operator would commit too); historyToJSON
    // refuses the client's History object when npm installs two copies of protobufjs.
    const { stdout } = await execa('temporal', ['workflow', 'show', '--address', temporal.address, '--namespace', temporal.namespace,
      '--workflow-id', run.workflowId, '--run-id', run.runId, '--output', 'json']);
    const history = await decodedJson(JSON.parse(stdout) as unknown, codec);
    writeFileSync(join(dir, `${type}.json`), `${JSON.stringify({ workflowId: run.workflowId, type, status: run.status, history }, null, 1)}\n`);
  }
  return [...best.keys()].sort();
}

function activityKinds(run: RunHistory): number {
  return new Set((run.history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean)).size;
}

interface JsonPayload { metadata: Record<string, string>; data?: string }

const isJsonPayload = (value: object): value is JsonPayload => {
  const { metadata } = value as { metadata?: unknown };
  return typeof metadata === 'object' && metadata !== null && typeof (metadata as Record<string, unknown>).encoding === 'string';
};

/** A history in proto JSON with every payload (failure attributes included) run through the codec's decode. */
async function decodedJson(value: unknown, codec: PayloadCodec): Promise<unknown> {
  if (Array.isArray(value)) return Promise.all(value.map((item) => decodedJson(item, codec)));
  if (typeof value !== 'object' || value === null) return value;
  if (isJsonPayload(value)) {
    const [decoded] = await codec.decode([{
      metadata: Object.fromEntries(Object.entries(value.metadata).map(([key, text]) => [key, Buffer.from(text, 'base64')])),
      data: Buffer.from(value.data ?? '', 'base64'),
    }]);
    return {
      metadata: Object.fromEntries(Object.entries(decoded!.metadata ?? {}).map(([key, bytes]) => [key, Buffer.from(bytes).toString('base64')])),
      data: Buffer.from(decoded!.data ?? new Uint8Array()).toString('base64'),
    };
  }
  return Object.fromEntries(await Promise.all(Object.entries(value).map(async ([key, inner]) => [key, await decodedJson(inner, codec)])));
}
