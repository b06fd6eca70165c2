import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { childEnvOptions } from '../../../lib/child-env';
import { LifeboatError } from '../../../lib/errors';
import type { Manifest, PostgresDescription } from '../../../lib/manifest';
import { restoreObject, verifyObject } from '../../restore-stream';
import type { StorageBackend } from '../../storage/backend';
import { lastLines } from '../../pipeline/processes';
import { advance } from '../../progress';
import { classifyToolStderr, databaseName, redact, withDatabase, type PgTarget } from './connect';
import { createDatabase, databaseSize, dropDatabase, inspectTarget, renameDatabase, restoredRowCounts, stagingName } from './target';

export interface PostgresRestoreOptions {
  target: PgTarget;
  clean: boolean;
  noOwner: boolean;
  /** restore.jobs: pg_restore --jobs into a new database, through a scratch file in `scratchDir`. */
  jobs?: number;
  scratchDir?: string;
  /**
   * The target is a throwaway database its caller owns and drops (restore verification's scratch):
   * restored in one pass straight into it, created if missing. A damaged object fails the restore
   * there; nothing else ever carries its name.
   */
  scratch?: boolean;
  /** Told how long each step took ("pg_restore", "row counts", "rename"), for the restore's result. */
  onStep?: (step: string, ms: number) => void;
}

/**
 * Restores one logical backup into a database that must not hold anything yet.
 *
 * A new database is restored in one pass: into a staging database of its own, renamed into place
 * only after the stored bytes proved to be exactly the manifest's (SHA-256 and size) and the rows
 * counted as recorded; dropped otherwise. A tampered object therefore never reaches the target's
 * name, although no pass over it came first.
 *
 * An existing database (an empty one, or any with --clean) keeps its identity, grants and sessions,
 * so it cannot be swapped: the object is proved by a first pass that writes nothing, then restored.
 */
export async function restorePostgres(storage: StorageBackend, manifest: Manifest, identity: string, options: PostgresRestoreOptions): Promise<string> {
  const { target } = options;
  const where = redact(target.url);
  const before = await inspectTarget(target);
  if (before.relations > 0 && !options.clean) {
    throw new LifeboatError('TargetNotEmpty', `restore target ${where} already holds ${before.relations} tables or other relations`,
      'restore into a new database, or pass --clean to replace its contents');
  }
  const description = manifest.description as PostgresDescription;
  const step = timer(options.onStep);
  if (options.scratch) {
    if (!before.exists) await createDatabase(target);
    try {
      await pgRestore(storage, manifest, identity, target, options, where);
    } catch (error) {
      if (!before.exists) await dropDatabase(target).catch(() => undefined);
      throw error;
    }
    return rowsChecked(await compareRows(target, description, manifest.id), description);
  }
  if (!before.exists) {
    const staging = { ...target, url: withDatabase(target.url, stagingName(databaseName(target.url), manifest.id)) };
    // A staging database left by an attempt that died is this restore's own: its name says which.
    await dropDatabase(staging);
    await createDatabase(staging);
    try {
      if ((options.jobs ?? 1) > 1) await step('pg_restore', () => pgRestoreParallel(storage, manifest, identity, staging, options, where));
      else await step('pg_restore', () => pgRestore(storage, manifest, identity, staging, options, where));
      advance({ phase: 'counting the restored rows' });
      const compared = await step('row counts', () => compareRows(staging, description, manifest.id));
      advance({ phase: `renaming the staging database to ${databaseName(target.url)}` });
      await step('rename', () => renameDatabase(staging, databaseName(target.url)));
      return rowsChecked(compared, description);
    } catch (error) {
      // Kept only when it holds a verified restore that sessions kept from its name: the error says how to finish.
      if (!(error instanceof LifeboatError && error.type === 'StagingKept')) await dropDatabase(staging).catch(() => undefined);
      throw error;
    }
  }
  // First pass: prove the object is whole and decryptable before the target is touched at all.
  await step('verify pass', () => verifyObject(storage, manifest.objects[0]!, identity, `backup ${manifest.id}`));
  await step('pg_restore', () => pgRestore(storage, manifest, identity, target, options, where));
  return rowsChecked(await step('row counts', () => compareRows(target, description, manifest.id)), description);
}

/** Runs a step and tells `onStep` how long it took. */
function timer(onStep: PostgresRestoreOptions['onStep']) {
  return async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    const value = await run();
    onStep?.(name, Date.now() - started);
    return value;
  };
}

const rowsChecked = (compared: number, description: PostgresDescription) =>
  `${compared} of ${description.tables.length} tables have exactly the row counts recorded in the manifest`;

/** The stored object through age and zstd into pg_restore, in one transaction, behind the SHA-256 check. */
async function pgRestore(storage: StorageBackend, manifest: Manifest, identity: string, into: PgTarget, options: PostgresRestoreOptions, where: string): Promise<void> {
  const args = ['--single-transaction', '--exit-on-error', '--no-password', `--dbname=${into.url}`, ...restoreFlags(options)];
  await restoreObject(storage, manifest.objects[0]!, identity, `backup ${manifest.id}`, {
    tool: 'pg_restore',
    args,
    env: into.password === undefined ? {} : { PGPASSWORD: into.password },
    what: `pg_restore into ${where}`,
    classify: classifyToolStderr(into.url, `pg_restore into ${where}`),
  });
}

/**
 * restore.jobs > 1: pg_restore -j reads the archive out of order, so the stream is first written to
 * a scratch file (0700 directory, removed afterwards), proven by its SHA-256 before pg_restore
 * starts; then the dump is restored by `jobs` connections. Not one transaction: this path only
 * fills a staging database, which a failure drops.
 */
async function pgRestoreParallel(storage: StorageBackend, manifest: Manifest, identity: string, into: PgTarget, options: PostgresRestoreOptions, where: string): Promise<void> {
  const jobs = options.jobs!;
  const dir = mkdtempSync(join(options.scratchDir ?? tmpdir(), 'lifeboat-restore-'));
  const file = join(dir, 'dump');
  try {
    advance({ phase: `writing the dump to the scratch file ${file}` });
    await restoreObject(storage, manifest.objects[0]!, identity, `backup ${manifest.id}`, {
      tool: 'sh',
      args: ['-c', 'exec cat > "$1"', 'sh', file],
      what: `the scratch file ${file}`,
      // A full disk stays full on a retry: named, and not retried.
      classify: (stderr) => (/No space left/i.test(stderr)
        ? new LifeboatError('Config', `restore.scratchDir (${dir}) is full: ${lastLines(stderr, 1)}`, 'point restore.scratchDir at a filesystem with room for the uncompressed dump, or set restore.jobs: 1 (no scratch file)')
        : undefined),
    });
    const args = ['--jobs', String(jobs), '--exit-on-error', '--no-password', `--dbname=${into.url}`, ...restoreFlags(options)];
    const running = execa('pg_restore', [...args, file], { reject: false, ...childEnvOptions(into.password === undefined ? {} : { PGPASSWORD: into.password }) });
    // No bytes flow through Lifeboat meanwhile: the database's growth is the progress the watchdog sees.
    const sizes = setInterval(() => {
      void databaseSize(into).then((bytes) => advance({ phase: `pg_restore --jobs ${jobs}`, restoredBytes: bytes }), () => undefined);
    }, 2000);
    const run = await running.finally(() => clearInterval(sizes));
    if (run.exitCode !== 0) {
      const what = `pg_restore --jobs ${jobs} into ${where}`;
      throw classifyToolStderr(into.url, what)(run.stderr) ?? new LifeboatError('ToolFailed', `${what} exited with ${run.exitCode}: ${lastLines(run.stderr, 4)}`, 'read the error above; the staging database was dropped');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What --clean and --no-owner mean to pg_restore, whichever way it reads the dump. */
function restoreFlags(options: PostgresRestoreOptions): string[] {
  return [...(options.clean ? ['--clean', '--if-exists'] : []), ...(options.noOwner ? ['--no-owner', '--no-privileges'] : [])];
}

async function compareRows(target: PgTarget, description: PostgresDescription, id: string): Promise<number> {
  const expected = description.tables.filter((t) => t.rowsExact && t.rows !== null);
  if (expected.length === 0) return 0;
  const actual = await restoredRowCounts(target);
  const wrong = expected.filter((t) => actual.get(`${t.schema}.${t.name}`) !== t.rows);
  if (wrong.length > 0) {
    const list = wrong.slice(0, 5).map((t) => `${t.schema}.${t.name}: ${actual.get(`${t.schema}.${t.name}`) ?? 'missing'} rows, manifest says ${t.rows}`);
    throw new LifeboatError('VerificationFailed', `restored database ${redact(target.url)} differs from backup ${id}: ${list.join('; ')}`,
      'the restore is incomplete: do not use it; report this');
  }
  return expected.length;
}
