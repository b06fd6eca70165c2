import { isAbsolute } from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { RestoreResult } from '../../activities/restore';
import type { Config } from '../../lib/config/schema';
import type { restoreBackup } from '../../workflows/restore-backup';
import { searchAttributes } from '../../workflows/search-attributes';
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
}

export async function restoreCommand(client: Client, config: Config, source: string, options: RestoreOptions, out: Output): Promise<void> {
  const sourceConfig = config.sources[source];
  if (!sourceConfig) throw usage(`no source "${source}" in the config`);
  const physical = sourceConfig.kind === 'postgres' && sourceConfig.mode === 'physical';
  if (physical) {
    if (options.latest && options.backup) throw usage('name at most one of --latest or --backup ID');
    if (!isAbsolute(options.to)) throw usage(`--to must be an absolute data directory on the restoring worker for a physical source, got "${options.to}"`);
    if (options.port === undefined) throw usage('--port is required for a physical source: the restored cluster listens there on 127.0.0.1');
    if (options.at !== undefined && options.lsn !== undefined) throw usage('name at most one of --at TIME or --lsn LSN');
    if (options.at !== undefined && Number.isNaN(Date.parse(options.at))) throw usage(`--at must be a time such as 2026-11-24T16:30:00Z, got "${options.at}"`);
  } else if (options.port !== undefined || options.at !== undefined || options.lsn !== undefined || options.osUser !== undefined) {
    throw usage('--port, --at, --lsn and --os-user are for postgres sources with mode: physical');
  } else if (Boolean(options.latest) === Boolean(options.backup)) {
    throw usage('name exactly one of --latest or --backup ID');
  }
  if (physical) {
    // The data directory is checked by the worker that restores into it.
  } else if (sourceConfig.kind === 'postgres') {
    if (!URL.canParse(options.to) || !['postgres:', 'postgresql:'].includes(new URL(options.to).protocol)) {
      throw usage(`--to must be a postgres://user@host:port/database URL, got "${options.to.replace(/:[^@/]*@/, ':***@')}"`);
    }
    if (new URL(options.to).password) {
      throw usage('--to must not carry a password: it would be stored in Temporal history', 'put it in an environment variable of the worker and pass --to-password-env NAME');
    }
  } else if (!isAbsolute(options.to)) {
    throw usage(`--to must be an absolute directory on the restoring worker for a ${sourceConfig.kind} source, got "${options.to}"`);
  }
  if (options.serve !== undefined && sourceConfig.kind !== 'redis') throw usage('--serve is for redis sources');
  if (options.sameOwner && sourceConfig.kind !== 'files') throw usage('--same-owner is for files sources (postgres: owners are restored unless --no-owner)');
  const region = options.region ?? sourceConfig.region;
  if (!(region in config.regions)) throw usage(`no region "${region}" in the config`);
  const handle = await client.workflow.start<typeof restoreBackup>('restoreBackup', {
    args: [{
      source, region, backupId: options.backup ?? 'latest', target: options.to, targetPasswordEnv: options.toPasswordEnv, clean: options.clean, noOwner: options.noOwner, serve: options.serve,
      ...(options.sameOwner ? { preserveOwnership: true } : {}),
      ...(physical ? { cluster: { port: options.port!, osUser: options.osUser, time: options.at, lsn: options.lsn } } : {}),
    }],
    workflowId: `lifeboat-restore-${source}-${Date.now()}`,
    taskQueue: taskQueueOf(config, region),
    typedSearchAttributes: searchAttributes({ source, region, kind: sourceConfig.kind }),
    staticSummary: `Restore of ${source} into ${options.to}`,
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
