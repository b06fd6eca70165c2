// One place for every error Lifeboat reports to an operator. The `type` is stable: it becomes the
// Temporal failure type (so retry policies and the UI can match on it) and picks the CLI exit code.

export const errorTypes = {
  Config: { exitCode: 2, retryable: false },
  Usage: { exitCode: 2, retryable: false },
  SourceUnreachable: { exitCode: 3, retryable: true },
  MissingTool: { exitCode: 4, retryable: false },
  BadKey: { exitCode: 5, retryable: false },
  ChecksumMismatch: { exitCode: 6, retryable: false },
  TargetNotEmpty: { exitCode: 7, retryable: false },
  BackupNotFound: { exitCode: 8, retryable: false },
  TemporalUnreachable: { exitCode: 9, retryable: true },
  AlreadyRunning: { exitCode: 10, retryable: false },
  Storage: { exitCode: 11, retryable: true },
  ToolFailed: { exitCode: 12, retryable: true },
  Unsupported: { exitCode: 13, retryable: false },
  VerificationFailed: { exitCode: 14, retryable: false },
  /** An alert channel is down or busy (network, 429, 5xx): Temporal retries the send. */
  AlertDelivery: { exitCode: 15, retryable: true },
  /** An alert channel refused the message (4xx other than 429): retrying sends the same refusal. */
  AlertRejected: { exitCode: 16, retryable: false },
  /** Nobody took a task on a region's queue in time: that region's worker is not running. */
  WorkerUnavailable: { exitCode: 17, retryable: false },
  /** A backup's archive would write outside its target, or holds what a restore never creates (device nodes): crafted or damaged. */
  UnsafeArchive: { exitCode: 18, retryable: false },
  /** A catalog object (manifest, tombstone, record) that no trusted key signed, or that is not sane: never restored. */
  Untrusted: { exitCode: 19, retryable: false },
  /** Storage already holds other bytes under the key: nothing is ever overwritten. */
  AlreadyExists: { exitCode: 20, retryable: false },
  /** S3 Object Lock (a retention period or a legal hold) protects the object: no retry frees it early. */
  Locked: { exitCode: 21, retryable: false },
  /** The Temporal namespace lacks Lifeboat's search attributes: no run can start until they are registered. */
  SearchAttributesMissing: { exitCode: 22, retryable: false },
  /** A payload encrypted with a codec key this process lacks, or that does not decrypt with the key of that id. */
  PayloadKey: { exitCode: 23, retryable: false },
  /** A restore finished and proved itself in its staging database, which sessions kept from taking the target's name: it is kept, for the operator to rename. */
  StagingKept: { exitCode: 24, retryable: false },
  /** `lifeboat status` found a source late against its RPO, or never backed up: for monitoring checks. */
  ObjectiveMissed: { exitCode: 25, retryable: false },
} as const;

export type ErrorType = keyof typeof errorTypes;

export class LifeboatError extends Error {
  override readonly name = 'LifeboatError';
  constructor(
    readonly type: ErrorType,
    message: string,
    /** What the operator should do next; printed after the message. */
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get exitCode(): number {
    return errorTypes[this.type].exitCode;
  }

  get retryable(): boolean {
    return errorTypes[this.type].retryable;
  }
}

export function isErrorType(value: string | undefined): value is ErrorType {
  return value !== undefined && Object.hasOwn(errorTypes, value);
}

export function exitCodeFor(type: string | undefined): number {
  return isErrorType(type) ? errorTypes[type].exitCode : 1;
}

/** Failure types that no retry can fix: activities throw them as non-retryable failures. */
export const nonRetryableErrorTypes: ErrorType[] = (Object.keys(errorTypes) as ErrorType[]).filter(
  (type) => !errorTypes[type].retryable,
);
