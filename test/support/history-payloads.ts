import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';

/** What a workflow left in Temporal: every run (continued as new, children) and its largest payload. */
export interface HistoryPayloads {
  /** Bytes of the largest payload (data plus metadata) in any run reached. */
  largest: number;
  /** Where it is: "<workflowId>/<runId> event <id> <event type>". */
  largestAt: string;
  runs: Array<{ workflowId: string; runId: string; events: number; largest: number }>;
  /** Events of every run reached, summed. */
  events: number;
  /** The longest single run's history. */
  longestRun: number;
  /** Activities scheduled in every run reached, by type. */
  activities: Record<string, number>;
}

type Payload = temporal.api.common.v1.IPayload;

function isPayload(value: object): value is Payload {
  return 'data' in value && (value as Payload).data instanceof Uint8Array && 'metadata' in value;
}

function sizeOf(payload: Payload): number {
  const metadata = Object.entries(payload.metadata ?? {}).reduce((n, [key, v]) => n + key.length + (v?.length ?? 0), 0);
  return (payload.data?.length ?? 0) + metadata;
}

/** Every payload anywhere in a value (events nest them in inputs, results, failures, heartbeat details). */
function* payloadsIn(value: unknown): Generator<Payload> {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return;
  if (isPayload(value)) {
    yield value;
    return;
  }
  for (const inner of Array.isArray(value) ? value : Object.values(value)) yield* payloadsIn(inner);
}

/**
 * Fetches the history of a workflow run, of every run it continued as new into and of every child
 * it started (recursively), and measures their payloads: what "no payload exceeds 256 KiB" is
 * asserted on. Without runId, the first run of the chain the id's latest run belongs to is the start.
 */
export async function historyPayloads(client: Client, workflowId: string, runId?: string): Promise<HistoryPayloads> {
  const result: HistoryPayloads = { largest: 0, largestAt: '', runs: [], events: 0, longestRun: 0, activities: {} };
  const queue: Array<{ workflowId: string; runId?: string }> = [{ workflowId, runId }];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const next = queue.shift()!;
    const history = await client.workflow.getHandle(next.workflowId, next.runId).fetchHistory();
    const events = history.events ?? [];
    const started = events[0]?.workflowExecutionStartedEventAttributes;
    const run = next.runId ?? started?.originalExecutionRunId ?? '?';
    // Without a run id the server answers with the latest run: begin again from the first of the chain.
    const first = started?.firstExecutionRunId;
    if (!next.runId && first && first !== run) {
      queue.unshift({ workflowId: next.workflowId, runId: first });
      continue;
    }
    if (seen.has(`${next.workflowId}/${run}`)) continue;
    seen.add(`${next.workflowId}/${run}`);
    let largest = 0;
    for (const event of events) {
      for (const payload of payloadsIn(event)) {
        const size = sizeOf(payload);
        largest = Math.max(largest, size);
        if (size > result.largest) {
          result.largest = size;
          result.largestAt = `${next.workflowId}/${run} event ${String(event.eventId)} ${eventName(event)}`;
        }
      }
      const activity = event.activityTaskScheduledEventAttributes?.activityType?.name;
      if (activity) result.activities[activity] = (result.activities[activity] ?? 0) + 1;
      const child = event.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
      if (child?.workflowId && child.runId) queue.push({ workflowId: child.workflowId, runId: child.runId });
      const continued = event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
      if (continued) queue.push({ workflowId: next.workflowId, runId: continued });
    }
    result.runs.push({ workflowId: next.workflowId, runId: run, events: events.length, largest });
    result.events += events.length;
    result.longestRun = Math.max(result.longestRun, events.length);
  }
  return result;
}

function eventName(event: temporal.api.history.v1.IHistoryEvent): string {
  return Object.keys(event).find((key) => key.endsWith('Attributes')) ?? String(event.eventType);
}

export const KiB = 1024;
