import { isAbsolute } from 'node:path';
import { Context } from '@temporalio/activity';
import { requireEnv } from '../lib/config/secrets';
import { LifeboatError } from '../lib/errors';
import { checkTargetPasswordEnv, checkTargetUrl } from '../lib/restore-target';
import { isPhysical, type StoredObject } from '../lib/manifest';
import { findBackup } from './catalog';
import type { Deps } from './deps';
import { advance, stallTimeoutMs, watched } from './progress';
import { identityFile } from './restore-stream';
import { restoreFiles } from './sources/files/restore';
import { redact } from './sources/postgres/connect';
import { restorePointInTime, type PitrResult } from './sources/postgres/pitr';
import { replayRate } from './sources/postgres/restore-cluster';
import { restorePostgres } from './sources/postgres/restore';
import { restoreRedis } from './sources/redis/restore';

export interface RestoreInput {
  source: string;
  /** The region whose copy is restored; its worker runs the restore. */
  region: string;
  /** A backup id, or "latest". */
  backupId: string;
  /** postgres: a postgres:// URL without a password; redis and files: an absolute directory on the worker. */
  target: string;
  /** postgres: the worker's environment variable holding the target's password. */
  targetPasswordEnv?: string;
  clean: boolean;
  noOwner: boolean;
  /** redis: serve the restored dump.rdb with redis-server on this port. */
  serve?: number;
  /** files: keep owners, setuid/setgid/sticky bits and every xattr as archived; default: owned by the worker's user, no special bits. */
  preserveOwnership?: boolean;
  /** files: only the paths these patterns select (config files.include rules); the rest of the tree is not written. */
  include?: string[];
  /**
   * postgres mode physical: `target` is a new or empty data directory; the restored cluster listens
   * on 127.0.0.1:port, recovered to `time` or `lsn` (neither: the end of the archived WAL).
   * backupId "latest" then means the newest base backup before the target.
   */
  cluster?: { port: number; osUser?: string; time?: string; lsn?: string; tablespaces?: Record<string, string> };
}

export interface RestoreResult {
  backupId: string;
  kind: string;
  target: string;
  bytes: number;
  durationMs: number;
  /** What was checked after the restore, in words. */
  checked: string;
  /** postgres logical: how long each step took, in order ("pg_restore", "row counts", "rename"; "verify pass" into an existing database). */
  steps?: Array<{ step: string; ms: number }>;
  /** postgres mode physical: where recovery ended, and what it replayed. */
  pitr?: PitrResult;
}

export function restoreActivities(deps: Deps) {
  async function resolveBackup(input: { source: string; region: string; backupId: string }): Promise<{ id: string; kind: string; object: StoredObject }> {
    const { manifest } = await findBackup(deps.storage(input.region), deps.trusted, input.source, input.backupId);
    return { id: manifest.id, kind: manifest.kind, object: manifest.objects[0]! };
  }

  /** Verifies, restores and checks one backup (for files: its whole chain) into the target. */
  async function restoreBackupTo(input: RestoreInput): Promise<RestoreResult> {
    // The whole restore beats, not only its streams: creating the target and counting the rows
    // of a large database afterwards take longer than a heartbeat timeout too.
    return watched({ step: `restore of ${input.source}`, stallMs: stallTimeoutMs(deps.config), details: { phase: 'reading the manifest' } }, () => restoreWithin(input));
  }

  async function restoreWithin(input: RestoreInput): Promise<RestoreResult> {
    const started = Date.now();
    const storage = deps.storage(input.region);
    const { manifest } = await findBackup(storage, deps.trusted, input.source, input.backupId);
    const identity = identityFile(deps.config.encryption.identityFile);
    if (input.cluster) return restoreCluster(storage, identity, input, started);
    if (isPhysical(manifest.description)) {
      throw new LifeboatError('Usage', `backup ${manifest.id} of ${input.source} is a physical base backup: it restores into a data directory, not into a database`,
        `lifeboat restore ${input.source} --to DATADIR --port PORT [--at TIME]`);
    }
    let checked: string;
    const steps: Array<{ step: string; ms: number }> = [];
    switch (manifest.kind) {
      case 'postgres':
        // The input may come from any Temporal client: the same rules as the CLI's.
        checkTargetUrl(input.target, 'restore target');
        if (input.targetPasswordEnv) checkTargetPasswordEnv(deps.config, input.targetPasswordEnv);
        checked = await restorePostgres(storage, manifest, identity, {
          target: { url: input.target, password: input.targetPasswordEnv ? requireEnv(input.targetPasswordEnv, 'restore target', deps.env) : undefined },
          clean: input.clean,
          noOwner: input.noOwner,
          jobs: deps.config.restore?.jobs,
          scratchDir: deps.config.restore?.scratchDir,
          onStep: (step, ms) => steps.push({ step, ms }),
        });
        break;
      case 'redis':
        checked = await restoreRedis(storage, manifest, identity, { directory: directoryOf(input.target), clean: input.clean, serve: input.serve });
        break;
      case 'files':
        checked = await restoreFiles(storage, deps.trusted, manifest, identity, directoryOf(input.target), { preserveOwnership: input.preserveOwnership, include: input.include });
        break;
    }
    return {
      backupId: manifest.id,
      kind: manifest.kind,
      target: manifest.kind === 'postgres' ? redact(input.target) : input.target,
      bytes: manifest.objects.filter((o) => o.role === 'data').reduce((sum, o) => sum + o.size, 0),
      durationMs: Date.now() - started,
      checked,
      ...(steps.length > 0 ? { steps } : {}),
    };
  }

  /** A physical source: a new cluster recovered to a point in time; a retried attempt (same workflow) takes over its own. */
  async function restoreCluster(storage: ReturnType<Deps['storage']>, identity: string, input: RestoreInput, started: number): Promise<RestoreResult> {
    const cluster = input.cluster!;
    const context = Context.current();
    const target = { dataDir: directoryOf(input.target), port: cluster.port, osUser: cluster.osUser, ...(cluster.tablespaces ? { tablespaces: cluster.tablespaces } : {}) };
    const pitr = await restorePointInTime(storage, input.source, identity, target, { time: cluster.time, lsn: cluster.lsn }, {
      owner: `restore:${context.info.workflowExecution?.workflowId ?? context.info.activityId}`,
      backupId: input.backupId,
      trusted: deps.trusted,
      onPhase: (phase) => advance({ phase }),
    });
    const { manifest } = await findBackup(storage, deps.trusted, input.source, pitr.baseBackupId);
    return {
      backupId: pitr.baseBackupId,
      kind: manifest.kind,
      target: `${target.dataDir} (127.0.0.1:${target.port})`,
      bytes: manifest.objects.filter((o) => o.role === 'data').reduce((sum, o) => sum + o.size, 0),
      durationMs: Date.now() - started,
      checked: `recovered to ${pitr.recoveredTo ?? 'the end of the base backup'} (LSN ${pitr.recoveredLsn}, timeline ${pitr.timeline}) with ${pitr.walFiles} archived WAL file(s), ${replayRate(pitr)}; ${pitr.checks.map((c) => c.name).join(', ')} passed; the cluster runs on 127.0.0.1:${target.port}`,
      pitr,
    };
  }

  return { resolveBackup, restoreBackupTo };
}

function directoryOf(target: string): string {
  if (!isAbsolute(target)) throw new LifeboatError('Usage', `restore target must be an absolute directory on the worker, got "${target}"`);
  return target;
}
