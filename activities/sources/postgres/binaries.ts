import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LifeboatError } from '../../../lib/errors';

/**
 * Server-side tools (pg_ctl, pg_verifybackup, pg_amcheck) of the wanted major version. Debian keeps
 * them in /usr/lib/postgresql/<major>/bin, out of PATH; a cluster must be started by the binaries
 * of the major version that wrote it, so that directory wins over PATH.
 */
export function pgBinary(tool: string, major?: string): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const ordered = major ? [major, ...versions.filter((v) => v !== major)] : versions;
  if (major && existsSync(join(base, major, 'bin', tool))) return join(base, major, 'bin', tool);
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  }
  for (const version of ordered) {
    if (existsSync(join(base, version, 'bin', tool))) return join(base, version, 'bin', tool);
  }
  throw new LifeboatError('MissingTool', `${tool}${major ? ` (PostgreSQL ${major})` : ''} not found on this worker`,
    `install it: apt-get install postgresql-${major ?? '15'}`);
}

/** "15.18 (Debian …)" → "15". */
export function majorOf(serverVersion: string): string {
  return serverVersion.split(/[.\s]/)[0]!;
}
