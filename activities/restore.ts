import { accessSync, constants } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline as pipe } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { requireEnv } from '../lib/config/secrets';
import { LifeboatError } from '../lib/errors';
import type { Manifest, StoredObject } from '../lib/manifest';
import { findBackup } from './catalog';
import type { Deps } from './deps';
import { VerifyingStream } from './pipeline/digest';
import { decodeSteps } from './pipeline/encode';
import { startPipeline, type Step } from './pipeline/processes';
import { classifyToolStderr, redact, type PgTarget } from './sources/postgres/connect';
import { createDatabase, dropDatabase, inspectTarget, restoredRowCounts } from './sources/postgres/target';

export interface RestoreInput {
  source: string;
  /** The region whose copy is restored; its worker runs the restore. */
  region: string;
  /** A backup id, or "latest". */
  backupId: string;
  /** A postgres:// URL without a password; the password comes from the worker's env var. */
  targetUrl: string;
  targetPasswordEnv?: string;
  clean: boolean;
  noOwner: boolean;
}

export interface RestoreResult {
  backupId: string;
  target: string;
  bytes: number;
  tables: number;
  rowsCompared: number;
  durationMs: number;
}

export function restoreActivities(deps: Deps) {
  async function resolveBackup(input: { source: string; region: string; backupId: string }): Promise<{ id: string; kind: string; object: StoredObject }> {
    const { manifest } = await findBackup(deps.storage(input.region), input.source, input.backupId);
    return { id: manifest.id, kind: manifest.kind, object: manifest.objects[0]! };
  }

  async function restorePostgres(input: RestoreInput): Promise<RestoreResult> {
    const started = Date.now();
    const storage = deps.storage(input.region);
    const { manifest } = await findBackup(storage, input.source, input.backupId);
    const object = manifest.objects[0]!;
    const identityFile = identity(deps);
    const target: PgTarget = {
      url: input.targetUrl,
      password: input.targetPasswordEnv ? requireEnv(input.targetPasswordEnv, 'restore target', deps.env) : undefined,
    };
    const where = redact(target.url);

    const before = await inspectTarget(target);
    if (before.relations > 0 && !input.clean) {
      throw new LifeboatError('TargetNotEmpty', `restore target ${where} already holds ${before.relations} tables or other relations`,
        'restore into a new database, or pass --clean to replace its contents');
    }
    // First pass: prove the object is whole and decryptable before the target is touched at all.
    await streamThrough(storage.get(object.key), object, decodeSteps(identityFile, `backup ${manifest.id}`).slice(0, 1).concat({
      tool: 'zstd', args: ['-t', '-q'], what: `decompression test of backup ${manifest.id}`,
    }));

    if (!before.exists) await createDatabase(target);
    try {
      const args = ['--single-transaction', '--exit-on-error', '--no-password', `--dbname=${target.url}`];
      if (input.clean) args.push('--clean', '--if-exists');
      if (input.noOwner) args.push('--no-owner', '--no-privileges');
      await streamThrough(storage.get(object.key), object, [
        ...decodeSteps(identityFile, `backup ${manifest.id}`),
        {
          tool: 'pg_restore',
          args,
          env: target.password === undefined ? {} : { PGPASSWORD: target.password },
          what: `pg_restore into ${where}`,
          classify: classifyToolStderr(target.url, `pg_restore into ${where}`),
        },
      ]);
    } catch (error) {
      // A database that Lifeboat created for this restore is dropped again, never one that existed.
      if (!before.exists) await dropDatabase(target).catch(() => undefined);
      throw error;
    }
    const compared = await compareRows(target, manifest);
    return { backupId: manifest.id, target: where, bytes: object.size, tables: manifest.description.tables.length, rowsCompared: compared, durationMs: Date.now() - started };
  }

  return { resolveBackup, restorePostgres };
}

function identity(deps: Deps): string {
  const file = deps.config.encryption.identityFile;
  if (!file) {
    throw new LifeboatError('BadKey', 'encryption.identityFile is not set in this worker\'s config: restoring needs the private key',
      'set encryption.identityFile on the restore worker to the age identity file');
  }
  try {
    accessSync(file, constants.R_OK);
  } catch {
    throw new LifeboatError('BadKey', `identity file ${file} is missing or not readable by this worker`, 'check encryption.identityFile and its permissions');
  }
  return file;
}

/** Feeds a stored object, checked against its SHA-256 and size, into the steps' stdin. */
async function streamThrough(body: Promise<Readable>, object: StoredObject, steps: Step[]): Promise<void> {
  const context = Context.current();
  const running = startPipeline(steps, 'pipe');
  running.output.resume();
  const onCancel = () => running.kill();
  context.cancellationSignal.addEventListener('abort', onCancel);
  let bytes = 0;
  const beat = setInterval(() => context.heartbeat({ bytes }), 5000);
  try {
    const verifier = new VerifyingStream(object, (actual) => new LifeboatError('ChecksumMismatch',
      `${object.key}: stored object does not match its manifest (sha256 ${actual.sha256.slice(0, 16)}…, ${actual.size} bytes; expected ${object.sha256.slice(0, 16)}…, ${object.size} bytes)`,
      'the object was damaged or tampered with: restore from another backup or region; nothing was written to the target'));
    verifier.on('data', (chunk: Buffer) => { bytes += chunk.length; });
    const feeding = pipe(await body, verifier, running.input!).catch((error: unknown) => {
      running.kill();
      throw error;
    });
    await Promise.all([feeding, running.finished]).catch(async (error: unknown) => {
      // The checksum verdict explains the tools' failures that follow from it; report it first.
      const fed = await feeding.then(() => undefined, (feedError: unknown) => feedError);
      throw fed instanceof LifeboatError ? fed : error;
    });
  } finally {
    clearInterval(beat);
    context.cancellationSignal.removeEventListener('abort', onCancel);
  }
}

async function compareRows(target: PgTarget, manifest: Manifest): Promise<number> {
  const expected = manifest.description.tables.filter((t) => t.rowsExact && t.rows !== null);
  if (expected.length === 0) return 0;
  const actual = await restoredRowCounts(target);
  const wrong = expected.filter((t) => actual.get(`${t.schema}.${t.name}`) !== t.rows);
  if (wrong.length > 0) {
    const list = wrong.slice(0, 5).map((t) => `${t.schema}.${t.name}: ${actual.get(`${t.schema}.${t.name}`) ?? 'missing'} rows, manifest says ${t.rows}`);
    throw new LifeboatError('VerificationFailed', `restored database ${redact(target.url)} differs from backup ${manifest.id}: ${list.join('; ')}`,
      'the restore is incomplete: do not use it; report this');
  }
  return expected.length;
}
