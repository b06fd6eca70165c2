import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { stepNames, type AbortRecord, type AbortRequest, type ApprovalRecord, type ApproveRequest, type FailoverInput, type FailoverStatus, type StepName, type StepState, type StepStatus } from '../lib/failover';
import { alertTime } from './alert';

// The failover's queries and updates, defined next to it so the CLI imports the same names:
//   temporal workflow query --workflow-id ID --name status
//   temporal workflow update execute --workflow-id ID --name approve --input '{"by":"alice","planHash":"…"}'

export const failoverStatusQuery = defineQuery<FailoverStatus>('status');
export const approveUpdate = defineUpdate<ApprovalRecord, [ApproveRequest]>('approve');
export const abortUpdate = defineUpdate<AbortRecord, [AbortRequest]>('abort');

/** The live step list the status query returns; the workflow changes it as it goes. */
export class FailoverProgress {
  readonly status: FailoverStatus;

  constructor(input: FailoverInput, startedAt: string) {
    this.status = {
      state: 'starting', drill: input.drill, targetRegion: input.targetRegion, recoveryPoint: input.recoveryPoint,
      requestedBy: input.requestedBy ?? null, startedAt,
      steps: stepNames.map((step): StepStatus => ({ step, state: 'pending', startedAt: null, finishedAt: null, detail: '' })),
      plan: null, approval: null, abort: null, hooks: [], outcome: [], report: null,
    };
  }

  step(name: StepName): StepStatus {
    return this.status.steps.find((s) => s.step === name)!;
  }

  begin(name: StepName, detail = ''): void {
    Object.assign(this.step(name), { state: 'running', startedAt: alertTime(), detail });
  }

  end(name: StepName, state: StepState, detail: string): void {
    const step = this.step(name);
    Object.assign(step, { state, finishedAt: alertTime(), detail, startedAt: step.startedAt ?? (state === 'skipped' ? null : alertTime()) });
  }

  source(name: StepName, source: string, state: StepState, detail: string): void {
    const step = this.step(name);
    step.sources = { ...step.sources, [source]: { state, detail } };
  }

  /** Steps that never started once the run ends early. */
  skipRest(detail: string): void {
    for (const step of this.status.steps) if (step.state === 'pending') Object.assign(step, { state: 'skipped', detail });
  }
}

/** "4 min 10 s", for alert text. */
export function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}
