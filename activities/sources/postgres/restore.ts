import { LifeboatError } from '../../../lib/errors';
import type { Manifest, PostgresDescription } from '../../../lib/manifest';
import { restoreObject, verifyObject } from '../../restore-stream';
import type { StorageBackend } from '../../storage/backend';
import { classifyToolStderr, redact, type PgTarget } from './connect';
import { createDatabase, dropDatabase, inspectTarget, restoredRowCounts } from './target';

export interface PostgresRestoreOptions {
  target: PgTarget;
  clean: boolean;
  noOwner: boolean;
}

/** Checks the target, proves the object, then pg_restore in one transaction; compares row counts. */
export async function restorePostgres(storage: StorageBackend, manifest: Manifest, identity: string, options: PostgresRestoreOptions): Promise<string> {
  const { target } = options;
  const where = redact(target.url);
  const object = manifest.objects[0]!;
  const before = await inspectTarget(target);
  if (before.relations > 0 && !options.clean) {
    throw new LifeboatError('TargetNotEmpty', `restore target ${where} already holds ${before.relations} tables or other relations`,
      'restore into a new database, or pass --clean to replace its contents');
  }
  // First pass: prove the object is whole and decryptable before the target is touched at all.
  await verifyObject(storage, object, identity, `backup ${manifest.id}`);
  if (!before.exists) await createDatabase(target);
  try {
    const args = ['--single-transaction', '--exit-on-error', '--no-password', `--dbname=${target.url}`];
    if (options.clean) args.push('--clean', '--if-exists');
    if (options.noOwner) args.push('--no-owner', '--no-privileges');
    await restoreObject(storage, object, identity, `backup ${manifest.id}`, {
      tool: 'pg_restore',
      args,
      env: target.password === undefined ? {} : { PGPASSWORD: target.password },
      what: `pg_restore into ${where}`,
      classify: classifyToolStderr(target.url, `pg_restore into ${where}`),
    });
  } catch (error) {
    // A database that Lifeboat created for this restore is dropped again, never one that existed.
    if (!before.exists) await dropDatabase(target).catch(() => undefined);
    throw error;
  }
  const compared = await compareRows(target, manifest.description as PostgresDescription, manifest.id);
  return `${compared} of ${(manifest.description as PostgresDescription).tables.length} tables have exactly the row counts recorded in the manifest`;
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
