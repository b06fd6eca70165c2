import { ApplicationFailure, Context } from '@temporalio/activity';
import { LifeboatError } from '../lib/errors';
import { countFailure } from './metrics';

/**
 * Turns Lifeboat's typed errors into Temporal failures with the same stable type name, so the
 * workflow, the UI and the CLI's exit code all agree on what went wrong.
 */
export function toFailure(error: unknown, options: { sourceAttempts?: number } = {}): unknown {
  if (!(error instanceof LifeboatError)) return error;
  let nonRetryable = !error.retryable;
  let message = error.message;
  if (error.type === 'SourceUnreachable' && options.sourceAttempts !== undefined) {
    const attempt = Context.current().info.attempt;
    if (attempt >= options.sourceAttempts) {
      nonRetryable = true;
      message = `${message} (gave up after ${attempt} attempts)`;
    }
  }
  return ApplicationFailure.create({ type: error.type, message, nonRetryable, details: error.hint ? [error.hint] : [], cause: error });
}

export function withFailures<A extends unknown[], R>(fn: (...args: A) => Promise<R>, options: { sourceAttempts?: number } = {}): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (error) {
      const failure = toFailure(error, options);
      count(failure);
      throw failure;
    }
  };
}

/** Every failed attempt, by type: the one place all activity errors pass, so none is missed. */
function count(failure: unknown): void {
  const info = Context.current().info;
  const maximumAttempts = info.retryPolicy?.maximumAttempts ?? 0;
  const typed = failure instanceof ApplicationFailure;
  const type = typed ? failure.type ?? 'Error' : failure instanceof Error ? failure.name : 'Error';
  const final = (typed && failure.nonRetryable) || (maximumAttempts > 0 && info.attempt >= maximumAttempts);
  countFailure(type, info.activityType, final);
}
