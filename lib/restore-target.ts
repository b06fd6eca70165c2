import type { Config } from './config/schema';
import { LifeboatError } from './errors';
import { redactUrl, secretQueryKeys } from './redact';

// A restore into a database URL is started by any Temporal client, not only by the CLI: the CLI
// checks these to fail early, the restore activity checks them again before using them.

/** A postgres:// URL with no password and no secret in its query string; else a Usage error. */
export function checkTargetUrl(url: string, what: string): void {
  if (!URL.canParse(url) || !['postgres:', 'postgresql:'].includes(new URL(url).protocol)) {
    throw new LifeboatError('Usage', `${what} must be a postgres://user@host:port/database URL, got "${redactUrl(url).replace(/:[^@/]*@/, ':***@')}"`);
  }
  if (new URL(url).password) {
    throw new LifeboatError('Usage', `${what} must not carry a password: it would be stored in Temporal history`,
      'put it in an environment variable of the worker that the config names and pass --to-password-env NAME');
  }
  const keys = secretQueryKeys(url);
  if (keys.length > 0) {
    throw new LifeboatError('Usage', `${what} must not carry secrets in its query string (found ${keys.map((k) => `?${k}=`).join(', ')}): it would be stored in Temporal history`,
      'put the password in an environment variable of the worker that the config names and pass --to-password-env NAME');
  }
}

/**
 * The environment variables a restore may read a target's password from: the database password
 * variables the config names (sources, verify and failover targets) and restore.targetPasswordEnvs.
 * Never any other variable of the worker (its S3 keys, webhook secrets), which would go to any host.
 */
export function targetPasswordEnvs(config: Config): Set<string> {
  const names = new Set<string>(config.restore?.targetPasswordEnvs ?? []);
  for (const source of Object.values(config.sources)) if (source.kind !== 'files' && source.passwordEnv) names.add(source.passwordEnv);
  for (const region of Object.values(config.regions)) {
    if (region.verify?.target.postgres?.passwordEnv) names.add(region.verify.target.postgres.passwordEnv);
    for (const target of Object.values(region.failover?.targets ?? {})) if (target.passwordEnv) names.add(target.passwordEnv);
  }
  return names;
}

export function checkTargetPasswordEnv(config: Config, name: string): void {
  if (targetPasswordEnvs(config).has(name)) return;
  throw new LifeboatError('Usage', `--to-password-env ${name} is not a database password variable of the config: a restore reads only those`,
    `add ${name} to restore.targetPasswordEnvs in the config (or name it as a passwordEnv), and restart the workers`);
}
