import { ApplicationFailure, type WorkflowFailedError } from '@temporalio/client';
import { isErrorType, LifeboatError } from '../lib/errors';

/** A failed workflow's typed cause, back as the LifeboatError the activity threw. */
export function failureToError(error: WorkflowFailedError): LifeboatError {
  const cause = error.cause;
  const type = cause instanceof ApplicationFailure ? cause.type ?? undefined : undefined;
  if (cause instanceof ApplicationFailure && isErrorType(type)) {
    const hint = typeof cause.details?.[0] === 'string' ? cause.details[0] : undefined;
    return new LifeboatError(type, cause.message, hint);
  }
  return new LifeboatError('ToolFailed', `workflow failed: ${cause?.message ?? error.message}`, 'see the run in the Temporal UI');
}
