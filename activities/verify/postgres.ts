import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type pg from 'pg';
import type { VerifyCheckConfig } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import type { Manifest, PostgresDescription } from '../../lib/manifest';
import type { CheckOutcome } from '../../lib/verify';
import { restoreObject } from '../restore-stream';
import { connect, type PgTarget } from '../sources/postgres/connect';
import { restorePostgres } from '../sources/postgres/restore';
import { restoredRowCounts } from '../sources/postgres/target';
import type { StorageBackend } from '../storage/backend';
import { compareNumber } from './compare';
import { childEnvOptions } from '../../lib/child-env';

export interface PostgresScratch {
  storage: StorageBackend;
  manifest: Manifest;
  identity: string;
  scratch: PgTarget;
  /** Holds the dump's table of contents. */
  directory: string;
}

/** Restores into the (new, empty) scratch database through the ordinary restore path. */
export async function restoreIntoScratch(run: PostgresScratch): Promise<void> {
  try {
    // --no-owner: the restore-test server need not have the source's roles.
    await restorePostgres(run.storage, run.manifest, run.identity, { target: run.scratch, clean: false, noOwner: true, scratch: true });
  } catch (error) {
    // A restore whose row counts differ is a finding, reported table by table by the checks below.
    if (!(error instanceof LifeboatError && error.type === 'VerificationFailed')) throw error;
  }
}

export async function checkPostgres(run: PostgresScratch, checks: VerifyCheckConfig[]): Promise<CheckOutcome[]> {
  const description = run.manifest.description as PostgresDescription;
  return [
    await tableOfContents(run, description),
    ...await rowCounts(run.scratch, description),
    await amcheck(run.scratch),
    ...await userChecks(run.scratch, checks),
  ];
}

/** pg_restore --list of the stored dump (fetched and hash-checked once more) names every table of the manifest. */
async function tableOfContents(run: PostgresScratch, description: PostgresDescription): Promise<CheckOutcome> {
  mkdirSync(run.directory, { recursive: true });
  const file = join(run.directory, 'toc.list');
  // pg_restore --list stops reading after the TOC; cat drains the rest so the hash check sees every byte.
  await restoreObject(run.storage, run.manifest.objects[0]!, run.identity, `backup ${run.manifest.id}`, {
    tool: 'sh', args: ['-c', 'pg_restore --list --file="$1" && cat > /dev/null', 'sh', file], what: 'pg_restore --list of the dump',
  });
  const toc = readFileSync(file, 'utf8');
  const withData = !description.options.schemaOnly;
  const missing = description.tables.filter((t) => !toc.includes(` TABLE ${t.schema} ${t.name} `)
    || (withData && !toc.includes(` TABLE DATA ${t.schema} ${t.name} `)));
  const entries = toc.split('\n').filter((line) => /^\d+;/.test(line)).length;
  return missing.length === 0
    ? { name: 'pg_restore --list', ok: true, detail: `the dump's table of contents (${entries} entries) lists all ${description.tables.length} tables of the manifest${withData ? ' with their data' : ''}` }
    : { name: 'pg_restore --list', ok: false, detail: `expected the ${description.tables.length} tables of the manifest in the dump's table of contents, missing: ${missing.slice(0, 5).map((t) => `${t.schema}.${t.name}`).join(', ')}${missing.length > 5 ? ', …' : ''}` };
}

/** Exact counts must match exactly; the planner's estimates are only reported. */
async function rowCounts(scratch: PgTarget, description: PostgresDescription): Promise<CheckOutcome[]> {
  const actual = await restoredRowCounts(scratch);
  return description.tables.filter((t) => t.rows !== null).map((t) => {
    const table = `${t.schema}.${t.name}`;
    const found = actual.get(table);
    const name = `row count ${table}`;
    if (found === undefined) return { name, ok: false, detail: `expected ${t.rows} rows, found no such table in the restored database` };
    if (!t.rowsExact) return { name, ok: true, detail: `${found} rows; the manifest holds only the planner's estimate (${t.rows}), so this is not compared` };
    return { name, ok: found === t.rows, detail: `expected ${t.rows} rows, found ${found}` };
  });
}

/** The Debian packages keep pg_amcheck out of PATH, in /usr/lib/postgresql/<major>/bin. */
function findAmcheck(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'pg_amcheck'))) return join(dir, 'pg_amcheck');
  }
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  return readdirSync(base).sort((a, b) => Number(b) - Number(a)).map((v) => join(base, v, 'bin', 'pg_amcheck')).find((p) => existsSync(p));
}

async function amcheck(scratch: PgTarget): Promise<CheckOutcome> {
  const name = 'pg_amcheck';
  const binary = findAmcheck();
  if (!binary) return { name, ok: true, detail: 'skipped: pg_amcheck not installed' };
  const result = await execa(binary, ['--install-missing', '--heapallindexed', '--no-password', scratch.url], {
    reject: false, ...childEnvOptions({ PGPASSWORD: scratch.password }),
  });
  if (result.exitCode === 0) return { name, ok: true, detail: 'no corruption found in tables and B-tree indexes (heapallindexed)' };
  const stderr = `${result.stderr}`;
  if (/permission denied|must be superuser|must be owner/i.test(stderr)) {
    return { name, ok: true, detail: `skipped: the verify target's user may not run amcheck (${stderr.split('\n')[0]})` };
  }
  const report = `${result.stdout}\n${stderr}`.split('\n').filter(Boolean);
  return { name, ok: false, detail: `expected no corruption, found: ${report.slice(0, 3).join(' | ')}` };
}

async function userChecks(scratch: PgTarget, checks: VerifyCheckConfig[]): Promise<CheckOutcome[]> {
  const client = await connect(scratch, 'scratch database');
  try {
    return await runUserChecks(client, checks);
  } finally {
    await client.end();
  }
}

/** The source's verify.checks on an open connection (a scratch database, or a restored cluster). */
export async function runUserChecks(client: pg.Client, checks: VerifyCheckConfig[]): Promise<CheckOutcome[]> {
  const outcomes: CheckOutcome[] = [];
  for (const [index, check] of checks.entries()) {
    const name = check.name ?? `user check ${index + 1}`;
    if (!('sql' in check)) {
      outcomes.push({ name, ok: false, detail: `expected an sql check on a PostgreSQL source, found ${JSON.stringify(check)}` });
      continue;
    }
    try {
      const { rows, fields } = await client.query(check.sql);
      const first = rows[0] && fields[0] ? (rows[0] as Record<string, unknown>)[fields[0].name] : undefined;
      const found = Number(first);
      const ok = first !== undefined && first !== null && !Number.isNaN(found) && compareNumber(found, check.expect);
      outcomes.push({ name, ok, detail: `${check.sql}: expected ${check.expect.trim()}, found ${first === undefined ? 'no row' : String(first)}` });
    } catch (error) {
      outcomes.push({ name, ok: false, detail: `${check.sql}: expected ${check.expect.trim()}, the query failed: ${(error as Error).message}` });
    }
  }
  return outcomes;
}
