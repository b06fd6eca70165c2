import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { sleep } from '../../harness/processes';

/** A small seeded generator (mulberry32): one printed seed replays every choice of the campaign. */
export function seeded(seed: number): { int(min: number, max: number): number; pick<T>(items: readonly T[]): T; chance(p: number): boolean } {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    chance: (p) => next() < p,
  };
}

/** One run the campaign watched: the fault, where it landed, and how the run ended. */
export interface RunRecord {
  fault: string;
  workflow: string;
  /** Where the fault landed: the delay and what was running then. */
  point: string;
  /** `completed`, `failed <ErrorType>`, `failed unnamed: …`, or `stuck`. */
  outcome: string;
  seconds: number;
}

export const isNamed = (outcome: string) => outcome === 'completed' || (outcome.startsWith('failed ') && !outcome.startsWith('failed unnamed'));

/** The first failure type in a workflow failure's chain (ApplicationFailure types are Lifeboat's error names). */
function failureName(error: unknown): string | undefined {
  for (let at: unknown = error; at; at = (at as { cause?: unknown }).cause) {
    if (at instanceof ApplicationFailure && at.type && at.type !== 'Error') return at.type;
    if (!(at instanceof TemporalFailure) && !(at instanceof WorkflowFailedError)) break;
  }
  return undefined;
}

/**
 * How a workflow ended, waited for at most `boundMs` from `startedAt`. Errors reaching the server
 * (a Temporal restart) are waited out; a run still going at the bound is terminated and `stuck`.
 */
export async function settle(handle: WorkflowHandle, startedAt: number, boundMs: number): Promise<{ outcome: string; seconds: number }> {
  const deadline = startedAt + boundMs;
  const seconds = () => Math.round((Date.now() - startedAt) / 100) / 10;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) {
      await handle.terminate('still running at the chaos campaign bound').catch(() => undefined);
      return { outcome: 'stuck', seconds: seconds() };
    }
    try {
      const ended = await Promise.race([handle.result().then(() => true), sleep(left).then(() => false)]);
      if (ended) return { outcome: 'completed', seconds: seconds() };
    } catch (error) {
      if (error instanceof WorkflowFailedError) {
        const name = failureName(error.cause);
        return { outcome: name ? `failed ${name}` : `failed unnamed: ${(error.cause ?? error).message.slice(0, 80)}`, seconds: seconds() };
      }
      await sleep(1000);
    }
  }
}

/** The pending activity types of a workflow, or its status once it ended. */
export async function runningNow(handle: WorkflowHandle): Promise<string> {
  try {
    const description = await handle.describe();
    const pending = (description.raw.pendingActivities ?? []).map((a) => a.activityType?.name ?? '?');
    return pending.length > 0 ? pending.join('+') : description.status.name.toLowerCase();
  } catch {
    return 'unknown';
  }
}

/** Waits until the workflow has a pending activity of this type (or ended, or the time is up); true when it has. */
export async function untilActivity(handle: WorkflowHandle, type: string, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const now = await runningNow(handle);
    if (now.split('+').includes(type)) return true;
    if (['completed', 'failed', 'terminated', 'timed_out', 'canceled'].includes(now)) return false;
    await sleep(100);
  }
  return false;
}

export interface Expectation {
  what: string;
  found: string;
  ok: boolean;
}

/** The campaign's closing table: every run, then every expectation with what was found. */
export function campaignTable(seed: number, runs: RunRecord[], expectations: Expectation[]): string {
  const widths = [34, 22, 34, 44];
  const row = (cells: string[]) => cells.map((c, i) => (i < widths.length ? c.padEnd(widths[i]!) : c)).join(' ').trimEnd();
  const lines = [
    `fault campaign, seed ${seed} (replay with LIFEBOAT_CHAOS_SEED=${seed})`,
    row(['FAULT', 'WORKFLOW', 'POINT', 'OUTCOME', 'SECONDS']),
    ...runs.map((r) => row([r.fault, r.workflow, r.point, r.outcome, String(r.seconds)])),
    '',
    ...[['EXPECTED', 'FOUND', 'OK'], ...expectations.map((e) => [e.what, e.found, e.ok ? 'yes' : 'NO'])].map(([what, found, ok]) => `${what!.padEnd(58)} ${found!.padEnd(44)} ${ok}`),
  ];
  return lines.join('\n');
}
