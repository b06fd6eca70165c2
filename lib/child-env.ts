// Every process Lifeboat starts (pg_dump, age, tar, the restored postmaster, redis-server,
// failover hooks) gets this environment and nothing else of the worker's: the worker holds S3
// keys, database passwords and webhook secrets in its environment, and a child that inherited
// them could leak them (core dumps, /proc/<pid>/environ, a hook's own logging).

/** What any tool needs to find programs, its home (~/.pgpass, ~/.postgresql/root.crt), locale and zone. */
const passed = new Set(['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR']);

/**
 * The environment for a child process: the harmless variables above, taken from `from`, plus
 * `extra` — what the child explicitly needs (PGPASSWORD, REDISCLI_AUTH, hook context). Pass it
 * with `extendEnv: false` (execa) or as `env` (child_process), never merged into process.env.
 */
export function childEnv(extra: Record<string, string | undefined> = {}, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(from)) {
    if (value !== undefined && (passed.has(name) || name.startsWith('LC_'))) env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) if (value !== undefined) env[name] = value;
  return env;
}

/** execa options that give the child exactly childEnv(extra). */
export function childEnvOptions(extra: Record<string, string | undefined> = {}): { env: Record<string, string>; extendEnv: false } {
  return { env: childEnv(extra), extendEnv: false };
}
