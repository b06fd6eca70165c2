import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSecret } from '../../lib/config/secrets';
import type { Config } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { withDatabase, type PgTarget } from '../sources/postgres/connect';

// Scratch names derive from the workflow's scratchId alone, so a retried attempt and the cleanup
// that follows a crash find exactly what the first attempt created, and nothing else.

/** Printable, path-safe and identifier-safe; long or unusual ids keep a hash so they stay distinct. */
function slug(scratchId: string, max: number): string {
  const plain = scratchId.toLowerCase().replace(/[^a-z0-9_]+/g, '_');
  if (plain === scratchId && plain.length <= max) return plain;
  const hash = createHash('sha256').update(scratchId).digest('hex').slice(0, 12);
  return `${plain.slice(0, max - 13)}_${hash}`;
}

/** PostgreSQL identifiers stop at 63 bytes: the prefix leaves 47 for the id. */
export function scratchDatabaseName(scratchId: string): string {
  return `lifeboat_verify_${slug(scratchId, 47)}`;
}

export function scratchDirectory(config: Config, region: string, scratchId: string): string {
  const base = config.regions[region]?.verify?.target.scratchDir ?? tmpdir();
  return join(base, `lifeboat-verify-${slug(scratchId, 100)}`);
}

/**
 * The region's restore-test server (its configured database, for CREATE/DROP) and the scratch
 * database on it; the password is read here, in the worker, never passed in.
 */
export function scratchDatabase(config: Config, region: string, scratchId: string, env: NodeJS.ProcessEnv): { server: PgTarget; scratch: PgTarget } {
  const server = config.regions[region]?.verify?.target.postgres;
  if (!server) {
    throw new LifeboatError('Config', `regions.${region}.verify.target.postgres is not set: a restore-level verification of PostgreSQL needs a server to restore into`,
      `set regions.${region}.verify.target.postgres.url (and passwordEnv or passwordFile) to a server where this user may CREATE DATABASE`);
  }
  const password = readSecret(server, `regions.${region}.verify.target.postgres`, env);
  return { server: { url: server.url, password }, scratch: { url: withDatabase(server.url, scratchDatabaseName(scratchId)), password } };
}
