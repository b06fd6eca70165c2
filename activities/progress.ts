import { AsyncLocalStorage } from 'node:async_hooks';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../lib/config/schema';
import { parseDuration } from '../lib/config/duration';

/** What a heartbeat carries: counts, keys and the phase, never lists that grow with the data. */
export type ProgressDetails = Record<string, unknown>;

export interface WatchOptions {
  /** Names the step in the stall failure: "pg_restore into postgres://…/app made no progress for 15m". */
  step: string;
  /** temporal.stallTimeout; a nested watch keeps its outer one's. */
  stallMs?: number;
  /** What the first heartbeat carries, e.g. the upload an earlier attempt left, so a crash before the next beat loses nothing. */
  details?: ProgressDetails;
}

/** At most one heartbeat per this many ms reaches the SDK; what changed in between rides on the next. */
const BEAT_EVERY_MS = 100;

/** Used where no activity set a stall time (a nested step called on its own): temporal.stallTimeout's default. */
const DEFAULT_STALL_MS = 15 * 60_000;

/** The running activity's progress: one per attempt, however deep the step that reports it. */
class Watch {
  advancedAt = Date.now();
  readonly controller = new AbortController();
  /** Fires when the activity is cancelled (which includes a heartbeat timeout) or stalls: tools and streams stop on it. */
  readonly signal: AbortSignal;

  constructor(private readonly context: Context, public step: string, readonly stallMs: number, readonly details: ProgressDetails) {
    this.signal = AbortSignal.any([context.cancellationSignal, this.controller.signal]);
  }

  /** Merges what changed; only a change counts as progress, so a step repeating "waiting" does not keep the watchdog quiet. */
  advance(update: ProgressDetails): void {
    for (const [key, value] of Object.entries(update)) {
      if (this.details[key] !== value) {
        this.details[key] = value;
        this.advancedAt = Date.now();
      }
    }
    this.beat();
  }

  private lastBeat = 0;

  beat(): void {
    // The SDK throttles what reaches the server (to 80% of the heartbeat timeout), but converts and
    // encrypts the details of every call first: a stream advancing per 64 KiB chunk made that most
    // of a base backup's CPU. The ticker sends the latest details within its period.
    const now = Date.now();
    if (now - this.lastBeat < BEAT_EVERY_MS) return;
    this.lastBeat = now;
    this.context.heartbeat(this.details);
  }

  stalled(): ApplicationFailure | undefined {
    const idle = Date.now() - this.advancedAt;
    if (idle < this.stallMs) return undefined;
    const phase = typeof this.details.phase === 'string' && this.details.phase !== this.step ? ` (${this.details.phase})` : '';
    // Retryable: a hung tool or a stalled connection is worth a fresh attempt; the retry policy bounds how many.
    return ApplicationFailure.retryable(`${this.step} made no progress for ${spoken(this.stallMs)}${phase}; last progress: ${JSON.stringify(this.details).slice(0, 300)}`,
      'Stalled', `nothing advanced for temporal.stallTimeout (${spoken(this.stallMs)}): find out what ${this.step} waits for (a lock, a dead connection, a full disk)`);
  }
}

const current = new AsyncLocalStorage<Watch>();

/**
 * Runs an activity's work heartbeating from its first line to its return, with the details it
 * reports, and fails the attempt (retryably, type Stalled, naming the step) when nothing advanced
 * for stallMs. Nested calls (a stream inside a restore) name the step that runs and share the
 * activity's one ticker. Steps report with advance().
 */
export async function watched<T>(options: WatchOptions, work: () => Promise<T>): Promise<T> {
  const outer = current.getStore();
  if (outer) {
    const { step } = outer;
    const phase = outer.details.phase;
    outer.step = options.step;
    outer.advance({ ...options.details, phase: options.step });
    try {
      return await work();
    } finally {
      outer.step = step;
      outer.advance({ phase });
    }
  }
  const context = Context.current();
  const watch = new Watch(context, options.step, options.stallMs ?? DEFAULT_STALL_MS, { ...options.details });
  watch.beat();
  let ticker: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    // Often enough for the shortest heartbeat timeout a config allows (1 s), and for a short stall time.
    ticker = setInterval(() => {
      const failure = watch.stalled();
      if (!failure) return watch.beat();
      clearInterval(ticker);
      watch.controller.abort(failure);
      reject(failure);
    }, Math.min(500, Math.max(50, watch.stallMs / 4)));
  });
  try {
    return await Promise.race([current.run(watch, work), stalled]);
  } finally {
    clearInterval(ticker);
  }
}

/** Reports progress to the running watch; a no-op outside one (the CLI reading a catalog). */
export function advance(update: ProgressDetails): void {
  current.getStore()?.advance(update);
}

/** Aborts on the activity's cancellation or on a stall: what long tools and streams should stop on. Undefined outside a watch. */
export function stopSignal(): AbortSignal | undefined {
  return current.getStore()?.signal;
}

/** temporal.stallTimeout in milliseconds. */
export function stallTimeoutMs(config: Config): number {
  return parseDuration(config.temporal.stallTimeout);
}

function spoken(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * An activity that heartbeats from its first line to its return (catalog scans, deletes, manifests):
 * what it reads and removes reports progress through advance(), and the watchdog bounds a hang.
 */
export function watchedActivity<A extends unknown[], R>(name: string, stallMs: number, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return (...args: A) => watched({ step: `${name}${sourceOf(args[0])}`, stallMs, details: { phase: name } }, () => fn(...args));
}

function sourceOf(input: unknown): string {
  const source = typeof input === 'string' ? input : (input as { source?: unknown } | null)?.source;
  return typeof source === 'string' ? ` of ${source}` : '';
}
