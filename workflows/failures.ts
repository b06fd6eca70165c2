import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/workflow';

/**
 * An activity's (or child workflow's) typed failure becomes the workflow's own, with the same type name and message,
 * so `lifeboat` and the Temporal UI show "ChecksumMismatch: …" rather than "activity failed".
 */
export function surface(error: unknown): unknown {
  if ((error instanceof ActivityFailure || error instanceof ChildWorkflowFailure) && error.cause instanceof ApplicationFailure) {
    const cause = error.cause;
    return ApplicationFailure.create({ type: cause.type ?? 'Error', message: cause.message, nonRetryable: true, details: cause.details ?? [] });
  }
  return error;
}
