import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, constants as fsConstants, existsSync, lchownSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { chmod, copyFile, lchown, lstat, mkdir, readdir, readlink, symlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import pg from 'pg';
import { pgClient } from './connect';
import { LifeboatError } from '../../../lib/errors';
import { checkRecoveryTarget } from '../../../lib/recovery-target';
import { requireSafePath } from '../../../lib/safe-path';
import type { Manifest, PostgresPhysicalDescription } from '../../../lib/manifest';
import { removeTree } from '../../remove-tree';
import { restoreObject, verifyObject } from '../../restore-stream';
import type { StorageBackend } from '../../storage/backend';
import { majorOf, pgBinary } from './binaries';
import { asUser, postmasterPid, startCluster, userIds } from './cluster';
import { FAILED_MARK, replayedWal, restoreCommandScript, stageWal, walToStage, type StagedWal } from './stage-wal';
import { TABLESPACE_MAP_COPY } from './base-backup-protocol';
import type { TrustedKey } from '../../../lib/signing';
import { childEnvOptions } from '../../../lib/child-env';

/** Beside the data directory: the restore's marker, staged WAL, the server's socket and log. */
export function workDirOf(dataDir: string): string {
  return `${dataDir.replace(/\/+$/, '')}.lifeboat`;
}

/**
 * The restored server's private socket directory: beside the data directory, unless that path is
 * too long for a unix socket (107 bytes with the socket's own name); then a short one in the temp
 * dir named by a hash of the data directory, so a retry and the cleanup find the same one.
 */
export function socketDirOf(dataDir: string): string {
  const beside = join(workDirOf(dataDir), 'socket');
  if (beside.length + '/.s.PGSQL.65535'.length <= 100) return beside;
  return join(tmpdir(), `lifeboat-pg-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`);
}

export interface ClusterPlan {
  storage: StorageBackend;
  /** catalog.trustedKeys: archived WAL is staged only with a record they signed. */
  trusted: TrustedKey[];
  source: string;
  manifest: Manifest;
  identity: string;
  dataDir: string;
  port: number;
  user: string;
  /** archive: stage WAL from `_wal/<source>/`; none: only what the base backup carries. */
  wal: 'archive' | 'none';
  recovery: { time?: string; lsn?: string };
  /** Tablespaces moved out of the data directory (checked by planTablespaces); the others stay in place, in pg_tblspc/<oid>/. */
  tablespaces?: PlannedTablespace[];
  onPhase(phase: string): void;
}

/** A tablespace of the backup and where the restore puts it. */
export interface PlannedTablespace {
  oid: number;
  name: string;
  /** The mapped directory, absent or empty before the restore. */
  path: string;
}

export interface RecoveredCluster {
  recoveredTo: string | null;
  recoveredLsn: string;
  timeline: number;
  walFiles: number;
  walBytes: number;
  /** From starting PostgreSQL in recovery to its promotion: WAL replay, with fetching overlapped. */
  replayMs: number;
  checks: Array<{ name: string; ok: boolean; detail: string }>;
  /** Connects over the cluster's own socket as its bootstrap superuser. */
  connection: pg.ClientConfig;
}

/**
 * Extracts a base backup into an empty data directory, proves it with pg_verifybackup, stages WAL,
 * starts PostgreSQL in archive recovery and waits until it has promoted. The caller owns cleanup.
 */
export async function restoreCluster(plan: ClusterPlan): Promise<RecoveredCluster> {
  requireSafePath(plan.dataDir, 'the data directory to restore into');
  const description = plan.manifest.description as PostgresPhysicalDescription;
  const major = majorOf(description.serverVersion);
  const ids = process.getuid?.() === 0 ? await userIds(plan.user) : undefined;
  const work = workDirOf(plan.dataDir);
  const walDir = join(work, 'wal');
  const socketDir = socketDirOf(plan.dataDir);
  const logFile = join(work, 'postgres.log');
  const own = (path: string, mode?: number) => {
    if (mode !== undefined) chmodSync(path, mode);
    if (ids) chownSync(path, ids.uid, ids.gid);
  };
  const object = plan.manifest.objects.find((o) => o.role === 'data')!;
  // The SHA-256 is only known at the end of the stream, and tar writes as it reads: prove the whole
  // object first (hash, age authentication, zstd test) so a damaged one never reaches the data directory.
  plan.onPhase('verifying');
  await verifyObject(plan.storage, object, plan.identity, `base backup ${plan.manifest.id}`);
  mkdirSync(plan.dataDir, { recursive: true });
  own(plan.dataDir, 0o700);
  for (const dir of [walDir, socketDir]) {
    mkdirSync(dir, { recursive: true });
    own(dir, 0o700);
  }
  writeFileSync(logFile, '');
  own(logFile);
  const checks: RecoveredCluster['checks'] = [];

  plan.onPhase('extracting');
  const [tar, tarArgs] = asUser(plan.user, 'tar', ['-x', '-C', plan.dataDir]);
  await restoreObject(plan.storage, object, plan.identity, `base backup ${plan.manifest.id}`, { tool: tar, args: tarArgs, what: `tar -x into ${plan.dataDir}` });
  checks.push({ name: 'restore', ok: true, detail: `base backup ${plan.manifest.id} verified whole (SHA-256, size, age, zstd) before extraction, then fetched again (and checked again), decrypted, decompressed and extracted into ${plan.dataDir}` });

  // Before any file changes: pg_verifybackup compares every file with the manifest pg_basebackup wrote, and parses the WAL it carries.
  if (description.hasBackupManifest) {
    plan.onPhase('pg_verifybackup');
    // With tablespaces, the server's tablespace_map is stored as tablespace_map.lifeboat (base-backup-protocol.ts).
    const ignore = description.tablespaces?.length ? ['--ignore=tablespace_map', `--ignore=${TABLESPACE_MAP_COPY}`] : [];
    const verify = await execa(pgBinary('pg_verifybackup', major), [...ignore, plan.dataDir], { reject: false, ...childEnvOptions() });
    const output = `${verify.stdout}\n${verify.stderr}`.trim();
    if (verify.exitCode !== 0) {
      throw new LifeboatError('VerificationFailed', `pg_verifybackup rejected base backup ${plan.manifest.id} of ${plan.source}: ${output.split('\n').slice(0, 4).join(' | ')}`,
        'the extracted files differ from the backup\'s own manifest: restore another base backup (or from another region)');
    }
    checks.push({ name: 'pg_verifybackup', ok: true, detail: output.split('\n').at(-1) ?? 'backup successfully verified' });
  }

  if (description.tablespaces?.length) {
    plan.onPhase('placing tablespaces');
    checks.push({ name: 'tablespaces', ok: true, detail: await placeTablespaces(plan, description, own) });
  }

  // Archived WAL is fetched while PostgreSQL replays it: restore_command waits for a file still
  // coming, so fetching overlaps replay instead of preceding it.
  let staging: Promise<StagedWal> = Promise.resolve({ files: 0, bytes: 0, segments: new Map(), through: null });
  const stopStaging = new AbortController();
  if (plan.wal === 'archive') {
    plan.onPhase('listing archived WAL');
    const toStage = await walToStage(plan.storage, plan.source, description);
    staging = stageWal(plan.storage, plan.trusted, plan.source, toStage, plan.identity, walDir, {
      owner: ids, segmentBytes: description.walSegmentBytes, onProgress: plan.onPhase, signal: stopStaging.signal,
    }).catch((error: unknown) => {
      // restore_command sees this and stops recovery (exit 200), instead of ending it at the last file staged.
      writeFileSync(join(walDir, FAILED_MARK), '');
      throw error;
    });
    // Awaited below; a failure meanwhile must not count as unhandled.
    staging.catch(() => undefined);
  }

  const inPlace = (description.tablespaces ?? []).some((t) => !plan.tablespaces?.some((p) => p.oid === t.oid));
  let replayStarted = Date.now();
  let outcome: Awaited<ReturnType<typeof waitForPromotion>>;
  let connection: pg.ClientConfig;
  // From here on every way out stops staging: it serves replay until told, and would poll forever.
  try {
    configureRecovery(plan, { walDir, socketDir, own }, inPlace);
    plan.onPhase('recovering');
    replayStarted = Date.now();
    await startCluster(plan.dataDir, plan.user, logFile, major);
    connection = {
      host: socketDir,
      port: plan.port,
      user: description.bootstrapSuperuser ?? 'postgres',
      database: description.databases.includes('postgres') ? 'postgres' : 'template1',
      connectionTimeoutMillis: 5000,
      application_name: 'lifeboat',
    };
    outcome = await waitForPromotion(plan, connection, logFile);
  } catch (error) {
    // Recovery that stopped because a WAL file could not be fetched is that fetch's failure, named.
    stopStaging.abort();
    await staging;
    throw error;
  }
  const replayMs = Date.now() - replayStarted;
  // Promoted at its target: files beyond it are not needed. Those in flight finish (their names are listed).
  stopStaging.abort();
  const staged = await staging;
  const replayed = replayedWal(staged, description, outcome.recoveredLsn);
  const ahead = staged.files > replayed.files ? `; ${staged.files - replayed.files} more fetched ahead, not needed` : '';
  checks.push({ name: 'recovery', ok: true, detail: `replayed ${replayed.files} archived WAL file(s) (${replayRate({ walBytes: replayed.bytes, replayMs })}, fetched while replaying${ahead})${staged.through ? `; the archive runs through ${staged.through}` : ''} and promoted on timeline ${outcome.timeline}` });
  return { ...outcome, walFiles: replayed.files, walBytes: replayed.bytes, replayMs, checks, connection };
}

/**
 * Moves each mapped tablespace from pg_tblspc/<oid>/ to its directory and links it there, as
 * PostgreSQL lays tablespaces out; the rest stay in place. The mapped directories were checked
 * absent or empty before anything was written (planTablespaces).
 */
async function placeTablespaces(plan: ClusterPlan, description: PostgresPhysicalDescription, own: (path: string, mode?: number) => void): Promise<string> {
  const placed: string[] = [];
  for (const tablespace of description.tablespaces ?? []) {
    const inside = join(plan.dataDir, 'pg_tblspc', String(tablespace.oid));
    const mapped = plan.tablespaces?.find((t) => t.oid === tablespace.oid);
    if (!mapped) {
      placed.push(`${tablespace.name} in place (${inside})`);
      continue;
    }
    mkdirSync(mapped.path, { recursive: true });
    own(mapped.path, 0o700);
    for (const entry of readdirSync(inside)) {
      try {
        renameSync(join(inside, entry), join(mapped.path, entry));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
        // Another file system: copied file by file (each a phase, so a large tablespace heartbeats), then removed here.
        await copyTree(join(inside, entry), join(mapped.path, entry), (files) => plan.onPhase(`copying tablespace ${tablespace.name} to ${mapped.path}: ${files} files`));
        await removeTree(join(inside, entry));
      }
    }
    rmdirSync(inside);
    symlinkSync(mapped.path, inside);
    if (process.getuid?.() === 0) {
      const ids = await userIds(plan.user);
      lchownSync(inside, ids.uid, ids.gid);
    }
    placed.push(`${tablespace.name} in ${mapped.path}`);
  }
  return `tablespace${placed.length > 1 ? 's' : ''} ${placed.join(', ')}`;
}

/** Copies a tree across file systems keeping modes, owners, times and links; reports the files copied. */
async function copyTree(from: string, to: string, onFile: (files: number) => void): Promise<number> {
  let files = 0;
  const copy = async (source: string, target: string): Promise<void> => {
    const stat = await lstat(source);
    if (stat.isDirectory()) {
      await mkdir(target, { mode: stat.mode & 0o7777 });
      for (const entry of await readdir(source)) await copy(join(source, entry), join(target, entry));
    } else if (stat.isSymbolicLink()) {
      await symlink(await readlink(source), target);
    } else {
      await copyFile(source, target, fsConstants.COPYFILE_EXCL);
      files += 1;
      onFile(files);
    }
    if (!stat.isSymbolicLink()) {
      await chmod(target, stat.mode & 0o7777);
      await utimes(target, stat.atime, stat.mtime);
    }
    await lchown(target, stat.uid, stat.gid);
  };
  await copy(from, to);
  return files;
}

/**
 * Checks a tablespace mapping against the backup before the restore writes anything: every name is
 * one of its tablespaces, and every directory absent or empty, outside the data directory, and
 * not shared. Returns the mapped tablespaces; unmapped ones stay in the data directory.
 */
export function planTablespaces(description: PostgresPhysicalDescription, dataDir: string, mapping: Record<string, string> | undefined): PlannedTablespace[] {
  const entries = Object.entries(mapping ?? {});
  if (entries.length === 0) return [];
  const known = description.tablespaces ?? [];
  const planned: PlannedTablespace[] = [];
  for (const [name, path] of entries) {
    const tablespace = known.find((t) => t.name === name);
    if (!tablespace) {
      throw new LifeboatError('Usage', `the backup has no tablespace named ${JSON.stringify(name)} to map to ${path}${known.length > 0 ? ` (it has: ${known.map((t) => t.name).join(', ')})` : ' (it has none of its own)'}`,
        'map only the tablespaces the backup has, by the names given above');
    }
    requireSafePath(path, `the directory for tablespace ${name}`);
    const normal = path.replace(/\/+$/, '');
    const data = dataDir.replace(/\/+$/, '');
    for (const other of [data, workDirOf(data)]) {
      if (normal === other || normal.startsWith(`${other}/`) || other.startsWith(`${normal}/`)) {
        throw new LifeboatError('Usage', `the directory for tablespace ${name}, ${path}, overlaps the data directory ${dataDir}`, 'choose a directory outside the data directory');
      }
    }
    const clash = planned.find((p) => p.path.replace(/\/+$/, '') === normal);
    if (clash) throw new LifeboatError('Usage', `tablespaces ${clash.name} and ${name} are both mapped to ${path}`, 'give each tablespace a directory of its own');
    if (existsSync(path) && readdirSync(path).length > 0) {
      throw new LifeboatError('TargetNotEmpty', `the directory for tablespace ${name}, ${path}, exists and is not empty (${readdirSync(path).slice(0, 3).join(', ')}…); Lifeboat never restores over existing data`,
        'give a new or empty directory for the tablespace');
    }
    planned.push({ oid: tablespace.oid, name, path });
  }
  return planned;
}

function configureRecovery(plan: ClusterPlan, dirs: { walDir: string; socketDir: string; own(path: string, mode?: number): void }, tablespacesInPlace: boolean): void {
  const conf = (name: string) => join(plan.dataDir, name);
  // A base backup of a Debian cluster has no postgresql.conf/pg_hba.conf (they live in /etc).
  if (!existsSync(conf('postgresql.conf'))) {
    writeFileSync(conf('postgresql.conf'), '');
    dirs.own(conf('postgresql.conf'), 0o600);
  }
  const hba = join(dirname(dirs.walDir), 'pg_hba.conf');
  const original = existsSync(conf('pg_hba.conf')) ? readFileSync(conf('pg_hba.conf'), 'utf8') : 'host all all 127.0.0.1/32 scram-sha-256\n';
  // Lifeboat checks the cluster over its private socket (0700, the cluster user's only); TCP keeps the source's rules.
  writeFileSync(hba, `# lifeboat: restore checks over the private socket\nlocal all all trust\n\n${original}`);
  dirs.own(hba, 0o600);
  const quote = (value: string | number) => (typeof value === 'number' ? String(value) : `'${value.replaceAll("'", "''")}'`);
  // The last line of defence before /bin/sh and the config file: restoreSteps checked these already.
  requireSafePath(dirs.walDir, 'the WAL staging directory');
  requireSafePath(dirs.socketDir, 'the socket directory');
  const target = checkRecoveryTarget(plan.recovery);
  // The script lives beside the staging directory, the cluster user's own: it waits for files still being fetched.
  const script = join(dirname(dirs.walDir), 'restore-wal.sh');
  writeFileSync(script, restoreCommandScript(dirs.walDir));
  dirs.own(script, 0o700);
  requireSafePath(script, 'the restore_command script');
  const settings: Record<string, string | number> = {
    restore_command: `'${script}' %f %p`,
    // PostgreSQL's check of this setting takes neither ISO's "T" nor "Z".
    ...(target.time ? { recovery_target_time: target.time.replace('T', ' ').replace('Z', '+00') } : {}),
    ...(target.lsn ? { recovery_target_lsn: target.lsn } : {}),
    recovery_target_action: 'promote',
    recovery_target_timeline: 'current',
    port: plan.port,
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dirs.socketDir,
    hba_file: hba,
    // The restored cluster must never write into the old primary's spool, nor follow it.
    archive_mode: 'off',
    primary_conninfo: '',
    logging_collector: 'off',
    ssl: 'off',
    // A tablespace kept in the data directory is a directory in pg_tblspc/, not a link: PostgreSQL 15
    // stops at the end of archive recovery on one unless this is on ("unexpected directory entry").
    ...(tablespacesInPlace ? { allow_in_place_tablespaces: 'on' } : {}),
  };
  appendFileSync(conf('postgresql.auto.conf'), `\n# lifeboat point-in-time restore\n${Object.entries(settings).map(([k, v]) => `${k} = ${quote(v)}`).join('\n')}\n`);
  dirs.own(conf('postgresql.auto.conf'), 0o600);
  writeFileSync(conf('recovery.signal'), '');
  dirs.own(conf('recovery.signal'), 0o600);
}

/** Polls until the server has left recovery; a postmaster that exits is a failure with its log. */
async function waitForPromotion(plan: ClusterPlan, connection: pg.ClientConfig, logFile: string): Promise<Pick<RecoveredCluster, 'recoveredTo' | 'recoveredLsn' | 'timeline'>> {
  let lastError = '';
  for (let round = 0; ; round += 1) {
    await sleep(round === 0 ? 200 : 500);
    if (round >= 4 && postmasterPid(plan.dataDir) === undefined) throw recoveryFailed(plan, logFile, lastError);
    const client = pgClient(connection);
    try {
      await client.connect();
      const { rows } = await client.query<{ recovering: boolean; replayed: Date | null; lsn: string | null; wal: string | null }>(`
        select pg_is_in_recovery() as recovering, pg_last_xact_replay_timestamp() as replayed, pg_last_wal_replay_lsn()::text as lsn,
               case when pg_is_in_recovery() then null else pg_walfile_name(pg_current_wal_lsn()) end as wal`);
      const row = rows[0]!;
      if (!row.recovering) {
        return { recoveredTo: row.replayed ? row.replayed.toISOString() : null, recoveredLsn: row.lsn ?? '', timeline: parseInt(row.wal!.slice(0, 8), 16) };
      }
      plan.onPhase(`recovering (replayed to ${row.lsn ?? '?'})`);
    } catch (error) {
      lastError = (error as Error).message;
      plan.onPhase('recovering (server starting)');
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

function recoveryFailed(plan: ClusterPlan, logFile: string, lastError: string): LifeboatError {
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  const tail = log.split('\n').filter(Boolean).slice(-12).join('\n');
  if (/recovery ended before configured recovery target was reached/.test(log)) {
    return new LifeboatError('VerificationFailed', `recovery of ${plan.source} ended before the recovery target (${plan.recovery.time ?? plan.recovery.lsn}) was reached: the archived WAL does not go that far\n${tail}`,
      'choose an earlier target, or check the WAL shipping (lifeboat wal status) and the continuity of _wal/ in this region');
  }
  return new LifeboatError('ToolFailed', `PostgreSQL stopped during the recovery of ${plan.source}${lastError ? ` (last connection error: ${lastError})` : ''}\n${tail}`,
    'read the log above; the restored cluster was stopped and removed');
}

/** Removes a data directory Lifeboat filled: the directory itself, or only its contents when it existed before. */
export async function removeDataDir(dataDir: string, keepDirectory: boolean): Promise<void> {
  await removeTree(dataDir, { keepRoot: keepDirectory });
}

/** "412.0 MB of archived WAL replayed at 61.3 MB/s": the figure operators compare with their RTO. Results from before replayMs have none. */
export function replayRate(result: { walBytes: number; replayMs?: number }): string {
  const mb = result.walBytes / 1e6;
  if (!result.replayMs || result.walBytes === 0) return `${mb.toFixed(1)} MB of archived WAL`;
  return `${mb.toFixed(1)} MB of archived WAL replayed at ${(mb / (result.replayMs / 1000)).toFixed(1)} MB/s`;
}
