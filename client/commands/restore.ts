import { isAbsolute } from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { RestoreResult } from '../../activities/restore';
import type { Config } from '../../lib/config/schema';
import type { restoreBackup } from '../../workflows/restore-backup';
import { searchAttributes } from '../../workflows/search-attributes';
import { checkTargetPasswordEnv, checkTargetUrl } from '../../lib/restore-target';
import { parseLsn, parseRecoveryTime } from '../../lib/recovery-target';
import { redactUrl } from '../../lib/redact';
import { requireSafePath } from '../../lib/safe-path';
import { failureToError } from '../failure';
import { bytes, type Output, usage } from '../output';
import { taskQueueOf, uiLink } from '../temporal';

export interface RestoreOptions {
  latest?: boolean;
  backup?: string;
  to: string;
  region?: string;
  clean: boolean;
  noOwner: boolean;
  /** files: keep owners and setuid/setgid bits as archived. */
  sameOwner?: boolean;
  toPasswordEnv?: string;
  serve?: number;
  port?: number;
  at?: string;
  lsn?: string;
  osUser?: string;
  /** postgres mode physical: tablespace name → directory (--tablespace NAME=DIR, repeatable). */
  tablespace?: string[];
  /** files: only these paths (--include PATTERN, repeatable). */
  include?: string[];
}

/** Every option checked before Temporal is reached: a typo costs no connection and starts nothing. */
export async function restoreCommand(connect: () => Promise<Client>, config: Config, source: string, options: RestoreOptions, out: Output): Promise<void> {
  const sourceConfig = config.sources[source];
  if (!sourceConfig) throw usage(`no source "${source}" in the config`);
  const physical = sourceConfig.kind === 'postgres' && sourceConfig.mode === 'physical';
  if (physical) {
    if (options.latest && options.backup) throw usage('name at most one of --latest or --backup ID');
    requireSafePath(options.to, '--to (the data directory on the restoring worker)');
    if (options.port === undefined) throw usage('--port is required for a physical source: the restored cluster listens there on 127.0.0.1');
    if (options.at !== undefined && options.lsn !== undefined) throw usage('name at most one of --at TIME or --lsn LSN');
    if (options.at !== undefined) options = { ...options, at: parseRecoveryTime(options.at, '--at') };
    if (options.lsn !== undefined) options = { ...options, lsn: parseLsn(options.lsn, '--lsn') };
  } else if (options.port !== undefined || options.at !== undefined || options.lsn !== undefined || options.osUser !== undefined || options.tablespace?.length) {
    throw usage('--port, --at, --lsn, --os-user and --tablespace are for postgres sources with mode: physical');
  } else if (Boolean(options.latest) === Boolean(options.backup)) {
    throw usage('name exactly one of --latest or --backup ID');
  }
  if (physical) {
    // The data directory is checked by the worker that restores into it.
  } else if (sourceConfig.kind === 'postgres') {
    checkTargetUrl(options.to, '--to');
    if (options.toPasswordEnv !== undefined) checkTargetPasswordEnv(config, options.toPasswordEnv);
  } else if (options.toPasswordEnv !== undefined) {
    throw usage('--to-password-env is for postgres sources restored into a database URL');
  } else if (!isAbsolute(options.to)) {
    throw usage(`--to must be an absolute directory on the restoring worker for a ${sourceConfig.kind} source, got "${options.to}"`);
  }
  if (options.serve !== undefined && sourceConfig.kind !== 'redis') throw usage('--serve is for redis sources');
  if (options.sameOwner && sourceConfig.kind !== 'files') throw usage('--same-owner is for files sources (postgres: owners are restored unless --no-owner)');
  if (options.include?.length && sourceConfig.kind !== 'files') throw usage('--include is for files sources (postgres: restore into a scratch database and copy the tables you need)');
  const region = options.region ?? sourceConfig.region;
  if (!(region in config.regions)) throw usage(`no region "${region}" in the config`);
  const client = await connect();
  try {
    await startAndWait(client, config, source, { ...options, region, physical }, out);
  } finally {
    await client.connection.close();
  }
}

async function startAndWait(client: Client, config: Config, source: string, options: RestoreOptions & { region: string; physical: boolean }, out: Output): Promise<void> {
  const { region, physical } = options;
  const sourceConfig = config.sources[source]!;
  const handle = await client.workflow.start<typeof restoreBackup>('restoreBackup', {
    args: [{
      source, region, backupId: options.backup ?? 'latest', target: options.to, targetPasswordEnv: options.toPasswordEnv, clean: options.clean, noOwner: options.noOwner, serve: options.serve,
      ...(options.sameOwner ? { preserveOwnership: true } : {}),
      ...(options.include?.length ? { include: options.include } : {}),
      ...(physical ? { cluster: { port: options.port!, osUser: options.osUser, time: options.at, lsn: options.lsn, ...tablespaceMapping(options.tablespace) } } : {}),
    }],
    workflowId: `lifeboat-restore-${source}-${Date.now()}`,
    taskQueue: taskQueueOf(config, region),
    typedSearchAttributes: searchAttributes({ source, region, kind: sourceConfig.kind }),
    staticSummary: `Restore of ${source} into ${redactUrl(options.to)}`,
  });
  out.note(`started restore of ${source}: ${uiLink(config, handle.workflowId, handle.firstExecutionRunId)}`);
  let result: RestoreResult;
  try {
    result = await handle.result();
  } catch (error) {
    throw error instanceof WorkflowFailedError ? failureToError(error) : error;
  }
  out.result(result, [
    `restored backup ${result.backupId} of ${source} into ${result.target}`,
    `  ${bytes(result.bytes)} verified (sha256) and restored in ${(result.durationMs / 1000).toFixed(1)} s`,
    `  ${result.checked}`,
  ].join('\n'));
}

/** --tablespace NAME=DIR, given once per tablespace; the worker checks the names against the backup and each DIR is absent or empty. */
function tablespaceMapping(given: string[] | undefined): { tablespaces?: Record<string, string> } {
  if (!given?.length) return {};
  const tablespaces: Record<string, string> = {};
  for (const pair of given) {
    const match = /^([^=]+)=(.+)$/.exec(pair);
    if (!match) throw usage(`--tablespace takes NAME=DIR, got "${pair}"`);
    const [, name, dir] = match;
    if (name! in tablespaces) throw usage(`--tablespace ${name} is given twice`);
    tablespaces[name!] = requireSafePath(dir!, `--tablespace ${name}`);
  }
  return { tablespaces };
}
