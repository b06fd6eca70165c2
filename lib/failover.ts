// What drFailover plans, records and reports (issue 6). Plain data shared by the workflow, its
// activities and the CLI: no secrets (target passwords and hook URLs stay in the worker's config).

export interface FailoverInput {
  targetRegion: string;
  /** 'latest', or an ISO time: the newest restorable point at or before it. */
  recoveryPoint: string;
  /** Default: every source with a target in regions.<targetRegion>.failover.targets. */
  sources?: string[];
  drill: boolean;
  /** 'auto' (drills only, e.g. scheduled ones) records the approval as given by "schedule". */
  approval?: 'operator' | 'auto';
  requestedBy?: string;
}

export type FailoverSourceKind = 'postgres-logical' | 'postgres-physical' | 'redis' | 'files';

/** One source as preflight found it in the target region's catalog. */
export interface SourcePlan {
  source: string;
  kind: FailoverSourceKind;
  /** The backup restored (physical: the base backup WAL replays onto). */
  backupId: string;
  /** The newest point this source comes back to: the backup's snapshot time, or (physical) the end of the unbroken WAL. */
  recoveryPoint: string;
  /** Physical only: what recovery is asked for (a time, or null for the end of WAL). */
  recoveryTarget?: string | null;
  /** Age of the recovery point at preflight: the RPO to expect. */
  expectedRpoMs: number;
  /** restoreMs of the newest passed restore-level verification in the region: the RTO to expect; null if never verified. */
  expectedRtoMs: number | null;
  verifiedAt: string | null;
  /** Physical only: WAL continuity from the base backup. */
  wal?: { from: string; contiguousThrough: string | null; gaps: number; reachableUntil: string | null };
  /** Where it comes back, without secrets: "postgres://u@dr:5432/app", "redis on port 6380 in /srv/redis". */
  target: string;
  warnings: string[];
}

export interface FailoverPlan {
  targetRegion: string;
  recoveryPoint: string;
  drill: boolean;
  sources: SourcePlan[];
  preparedAt: string;
  /** SHA-256 of the plan's facts (not of its ages): what an approval names. */
  planHash: string;
}

export type StepName = 'preflight' | 'approval' | 'fence' | 'restore' | 'verify' | 'cutover' | 'teardown' | 'report';
export type StepState = 'pending' | 'running' | 'done' | 'failed' | 'skipped' | 'compensated';

export interface StepStatus {
  step: StepName;
  state: StepState;
  startedAt: string | null;
  finishedAt: string | null;
  detail: string;
  /** restore and verify: one line per source. */
  sources?: Record<string, { state: StepState; detail: string }>;
}

export interface ApprovalRecord {
  by: string;
  at: string;
  planHash: string;
  comment?: string;
  /** 'schedule': an automatic approval of a drill. */
  via: 'operator' | 'schedule';
}

export interface AbortRecord {
  by: string;
  at: string;
  reason: string;
}

export interface ApproveRequest {
  by: string;
  planHash: string;
  comment?: string;
}

export interface AbortRequest {
  by: string;
  reason: string;
}

export interface HookRun {
  hook: 'fence' | 'cutover' | 'undoCutover';
  how: 'command' | 'webhook';
  ok: boolean;
  /** What ran and how it ended: "exit 0 after 120 ms", "HTTP 200". */
  detail: string;
  /** Last lines of the command's output (never the webhook's URL or key). */
  stdoutTail?: string;
  stderrTail?: string;
  ms: number;
}

export interface SourceReport {
  source: string;
  kind: FailoverSourceKind;
  backupId: string;
  /** What the restored data reaches: physical, the time recovery stopped at; others, the backup's snapshot time. */
  recoveryPoint: string;
  /** The failover's start minus the recovery point. */
  rpoMs: number;
  /** Start to cut-over done (drills and runs without a cut-over hook: to verify done). */
  rtoMs: number;
  rpoObjectiveMs: number | null;
  rtoObjectiveMs: number | null;
  rpoMet: boolean | null;
  rtoMet: boolean | null;
  restoreMs: number;
  checks: { passed: number; total: number };
  target: string;
}

export interface FailoverReport {
  workflowId: string;
  runId: string;
  drill: boolean;
  targetRegion: string;
  startedAt: string;
  approval: ApprovalRecord;
  restoredAt: string;
  verifiedAt: string;
  cutoverAt: string | null;
  finishedAt: string;
  sources: SourceReport[];
  hooks: HookRun[];
  /** Drills: what was torn down at the end. Real runs: empty, the targets serve. */
  tornDown: string[];
  leftUp: string[];
}

export type FailoverState = 'starting' | 'preflight' | 'awaiting-approval' | 'running' | 'compensating' | 'succeeded' | 'failed' | 'aborted';

export interface FailoverStatus {
  state: FailoverState;
  drill: boolean;
  targetRegion: string;
  recoveryPoint: string;
  requestedBy: string | null;
  startedAt: string;
  steps: StepStatus[];
  plan: FailoverPlan | null;
  approval: ApprovalRecord | null;
  abort: AbortRecord | null;
  hooks: HookRun[];
  /** After a failure or abort: what was undone and what state things are in, one line each. */
  outcome: string[];
  report: FailoverReport | null;
}

/** What the workflow returns when it ends without a failure: a report, or why nothing was restored. */
export interface FailoverResult {
  state: 'succeeded' | 'aborted';
  report: FailoverReport | null;
  status: FailoverStatus;
}

export const stepNames: StepName[] = ['preflight', 'approval', 'fence', 'restore', 'verify', 'cutover', 'teardown', 'report'];
