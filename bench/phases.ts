import type { Client } from '@temporalio/client';
import type { google } from '@temporalio/proto';

// Where a backup's time goes, read from its own Temporal history, so the figures are the server's
// and no timer in the workflow is needed: each activity's wait in its queue and its run, the
// workflow's own work between them, and what the client paid outside the run.

type Timestamp = google.protobuf.ITimestamp | null | undefined;
const ms = (t: Timestamp) => (t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : Number.NaN);

export interface Phase {
  /** The activity type, or "start sync (child)" for the sync the backup starts. */
  name: string;
  /** From scheduled to picked up by a worker. */
  queuedSeconds: number;
  /** From picked up to completed. */
  ranSeconds: number;
}

export interface Phases {
  phases: Phase[];
  /** From the run's first event to its last. */
  workflowSeconds: number;
  /** The run's time outside any activity: workflow tasks, their round trips, timers. */
  betweenSeconds: number;
  /** The caller's time outside the run: the start request and the result's delivery. */
  clientSeconds: number;
  /** Everything but the snapshot's run: what a backup costs beyond streaming its data. */
  fixedSeconds: number;
}

/** The phases of one finished run of a workflow, and the fixed overhead around its data stream (`dataActivity`). */
export async function phasesOf(client: Client, workflowId: string, measuredSeconds: number, dataActivity = 'snapshotToStorage'): Promise<Phases> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = new Map<number, { name: string; at: number }>();
  const started = new Map<number, number>();
  const phases: Phase[] = [];
  for (const event of events) {
    const id = Number(event.eventId);
    const at = ms(event.eventTime);
    const s = event.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(id, { name: s.activityType?.name ?? '?', at });
    const st = event.activityTaskStartedEventAttributes;
    if (st) started.set(Number(st.scheduledEventId), at);
    const done = event.activityTaskCompletedEventAttributes;
    if (done) {
      const from = scheduled.get(Number(done.scheduledEventId));
      const pickedUp = started.get(Number(done.scheduledEventId));
      if (from && pickedUp !== undefined) phases.push({ name: from.name, queuedSeconds: (pickedUp - from.at) / 1000, ranSeconds: (at - pickedUp) / 1000 });
    }
    const child = event.startChildWorkflowExecutionInitiatedEventAttributes;
    if (child) scheduled.set(id, { name: 'start sync (child)', at });
    const childStarted = event.childWorkflowExecutionStartedEventAttributes;
    if (childStarted) {
      const from = scheduled.get(Number(childStarted.initiatedEventId));
      if (from) phases.push({ name: from.name, queuedSeconds: 0, ranSeconds: (at - from.at) / 1000 });
    }
  }
  const workflowSeconds = events.length > 0 ? (ms(events[events.length - 1]!.eventTime) - ms(events[0]!.eventTime)) / 1000 : 0;
  const inActivities = phases.reduce((sum, p) => sum + p.queuedSeconds + p.ranSeconds, 0);
  const data = phases.filter((p) => p.name === dataActivity).reduce((sum, p) => sum + p.ranSeconds, 0);
  return {
    phases,
    workflowSeconds,
    betweenSeconds: workflowSeconds - inActivities,
    clientSeconds: measuredSeconds - workflowSeconds,
    fixedSeconds: measuredSeconds - data,
  };
}

/** "planBackup 0.02+0.01, snapshotToStorage 0.00+8.91, …": queued+ran seconds per phase, in order. */
export function phasesLine(p: Phases): string {
  const each = p.phases.map((phase) => `${phase.name} ${phase.queuedSeconds.toFixed(2)}+${phase.ranSeconds.toFixed(2)}`).join(', ');
  return `phases (queued+ran s): ${each}; between activities ${p.betweenSeconds.toFixed(2)}; client ${p.clientSeconds.toFixed(2)}; fixed overhead ${p.fixedSeconds.toFixed(2)} s`;
}
