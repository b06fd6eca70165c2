import { LifeboatError } from './errors';

// A data directory reaches /bin/sh (restore_command), postgresql.auto.conf (quoted values,
// unix_socket_directories is a comma-separated list) and pg_ctl's argv. Quoting it right for all
// three at once is fragile, so such paths are restricted to characters none of them interprets.
const safePath = /^\/[A-Za-z0-9._/+@=-]*$/;

export const safePathRule = 'an absolute path of letters, digits and . _ / + @ = - only (no spaces, quotes, %, commas or shell characters)';

/** Why `path` cannot be used where a shell or a PostgreSQL config file reads it; undefined when it can. */
export function unsafePathProblem(path: string): string | undefined {
  if (safePath.test(path)) return undefined;
  return safePathRule;
}

/** Throws a non-retryable Usage error naming `what` when `path` is not a safe path. */
export function requireSafePath(path: string, what: string): string {
  const problem = unsafePathProblem(path);
  if (problem) {
    throw new LifeboatError('Usage', `${what} must be ${problem}, got ${JSON.stringify(path)}`,
      'choose a directory such as /srv/pg/restored: the path is written into restore_command (run by /bin/sh) and postgresql.auto.conf');
  }
  return path;
}
