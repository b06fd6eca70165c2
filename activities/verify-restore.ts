import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { execa } from 'execa';
import type { SourceConfig } from '../lib/config/schema';
import { LifeboatError } from '../lib/errors';
import { isPhysical, type FilesDescription, type Manifest, type RedisDescription } from '../lib/manifest';
import type { CheckOutcome, RestoreLevelResult } from '../lib/verify';
import { findBackup } from './catalog';
import type { Deps } from './deps';
import { advance, stallTimeoutMs, watched } from './progress';
import { removeTree } from './remove-tree';
import { identityFile } from './restore-stream';
import { chainOf, restoreFiles } from './sources/files/restore';
import { databaseName, redact } from './sources/postgres/connect';
import { restoreRedis } from './sources/redis/restore';
import { checkFiles } from './verify/files';
import { checkPostgres, restoreIntoScratch } from './verify/postgres';
import { removePhysicalScratch, restorePhysicalScratch } from './verify/postgres-physical';
import { dropScratchDatabase } from './verify/postgres-scratch';
import { checkRedis } from './verify/redis';
import { killScratchRedis, startScratchRedis, type ScratchRedis } from './verify/redis-server';
import { scratchDatabase, scratchDirectory } from './verify/scratch';
import { childEnvOptions } from '../lib/child-env';

export interface RestoreLevelInput {
  source: string;
  /** The region whose copy is restored; its worker runs this, into that region's scratch target. */
  region: string;
  backupId: string;
  /** Names the scratch database and directory: the same on every attempt and in cleanupScratch. */
  scratchId: string;
}

export type CleanupScratchInput = Omit<RestoreLevelInput, 'backupId'>;

/** What one kind's restore left for its checks. */
interface Restored {
  /** Outcomes found while restoring (e.g. redis-check-rdb). */
  checks: CheckOutcome[];
  /** Runs the checks; restoreMs stops before this. */
  check(): Promise<CheckOutcome[]>;
  tools: Record<string, string>;
}

export function verifyRestoreActivities(deps: Deps) {
  /** Removes whatever the scratch id names: database, scratch redis-server, directory. Safe to repeat. */
  async function cleanupScratch(input: CleanupScratchInput): Promise<{ removed: string[] }> {
    const removed: string[] = [];
    const sourceConfig = deps.config.sources[input.source];
    if (sourceConfig?.kind === 'postgres' && sourceConfig.mode !== 'physical' && deps.config.regions[input.region]?.verify?.target.postgres) {
      const { server, scratch } = scratchDatabase(deps.config, input.region, input.scratchId, deps.env);
      if (await dropScratchDatabase(server, scratch)) removed.push(`database ${databaseName(scratch.url)} on ${redact(server.url)}`);
    }
    const directory = scratchDirectory(deps.config, input.region, input.scratchId);
    const cluster = await removePhysicalScratch(directory, input.scratchId);
    if (cluster) removed.push(cluster);
    const pid = await killScratchRedis(directory);
    if (pid !== undefined) removed.push(`redis-server (pid ${pid})`);
    if (existsSync(directory)) {
      await removeTree(directory);
      removed.push(`directory ${directory}`);
    }
    return { removed };
  }

  /** Removes whatever the scratch id names, heartbeating: a restored tree can take minutes to delete. */
  async function cleanupScratchActivity(input: CleanupScratchInput): Promise<{ removed: string[] }> {
    return watched({ step: `scratch cleanup of ${input.source}`, stallMs: stallTimeoutMs(deps.config), details: { phase: 'cleanup' } }, () => cleanupScratch(input));
  }

  /**
   * Restores one backup into a scratch target and checks it. Failed checks are results; only
   * infrastructure errors throw (and are retried). The scratch target is gone when this returns.
   */
  async function restoreLevelCheck(input: RestoreLevelInput): Promise<RestoreLevelResult> {
    // From the first line to the return, the cleanup included: removing a restored tree takes time too.
    return watched({ step: `restore check of ${input.source}`, stallMs: stallTimeoutMs(deps.config), details: { phase: 'preparing' } }, () => restoreAndCheck(input));
  }

  async function restoreAndCheck(input: RestoreLevelInput): Promise<RestoreLevelResult> {
    const context = Context.current();
    const phase = (text: string) => advance({ phase: text });
    try {
      const storage = deps.storage(input.region);
      const { manifest } = await findBackup(storage, deps.trusted, input.source, input.backupId);
      const identity = identityFile(deps.config.encryption.identityFile);
      // A retried attempt starts from nothing: whatever a crashed attempt left is removed first.
      phase('removing what an earlier attempt left');
      await cleanupScratch(input);
      const directory = scratchDirectory(deps.config, input.region, input.scratchId);
      const started = Date.now();
      phase('restoring');
      let restored: Restored;
      let bytes = manifest.objects.filter((o) => o.role === 'data').reduce((sum, o) => sum + o.size, 0);
      switch (manifest.kind) {
        case 'postgres': {
          if (isPhysical(manifest.description)) {
            restored = await restorePhysicalScratch({
              storage, trusted: deps.trusted, manifest, identity, directory, scratchId: input.scratchId, checks: checksOf(input.source),
              database: sourceDatabase(deps.source(input.source).config), onPhase: phase,
            });
            break;
          }
          const { scratch } = scratchDatabase(deps.config, input.region, input.scratchId, deps.env);
          const run = { storage, manifest, identity, scratch, directory };
          await restoreIntoScratch(run);
          restored = { checks: [restoreOutcome(manifest, `pg_restore into ${redact(scratch.url)}`)], check: () => checkPostgres(run, checksOf(input.source)), tools: {} };
          break;
        }
        case 'redis':
          restored = await restoreRedisScratch(storage, manifest, identity, directory, input.source);
          break;
        case 'files': {
          const chain = await chainOf(storage, deps.trusted, manifest);
          bytes = chain.reduce((sum, member) => sum + member.objects.filter((o) => o.role === 'data').reduce((s, o) => s + o.size, 0), 0);
          const tree = join(directory, 'tree');
          const summary = await restoreFiles(storage, deps.trusted, manifest, identity, tree).catch(ignoreVerificationFailed);
          restored = {
            checks: [restoreOutcome(manifest, summary ?? `${chain.length} backup(s) of the chain extracted into ${tree}`)],
            check: () => checkFiles(tree, manifest.description as FilesDescription),
            tools: {},
          };
          break;
        }
      }
      const restoreMs = Date.now() - started;
      phase('checking');
      const checks = [...restored.checks, ...await restored.check()];
      const tools = { ...restored.tools, ...await versions(...restoreTools[manifest.kind], ['age', '--version'], ['zstd', '--version']) };
      return { checks, restoreMs, bytes, tools };
    } finally {
      phase('cleaning up');
      // Belt and braces: the workflow calls cleanupScratch too, and its failure is reported there.
      await cleanupScratch(input).catch((error: unknown) => context.log.warn('scratch cleanup after the restore check failed; the workflow\'s cleanupScratch retries it', { error: String(error) }));
    }
  }

  function checksOf(source: string) {
    return deps.source(source).config.verify?.checks ?? [];
  }

  async function restoreRedisScratch(storage: ReturnType<Deps['storage']>, manifest: Manifest, identity: string, directory: string, source: string): Promise<Restored> {
    let summary: string;
    try {
      summary = await restoreRedis(storage, manifest, identity, { directory, clean: false });
    } catch (error) {
      if (!(error instanceof LifeboatError && error.type === 'VerificationFailed')) throw error;
      // A dump that redis-check-rdb rejects cannot be served: that is the whole verdict.
      return { checks: [{ name: 'redis-check-rdb', ok: false, detail: error.message }], check: async () => [], tools: {} };
    }
    const server: ScratchRedis = await startScratchRedis(directory);
    return {
      checks: [restoreOutcome(manifest, `${summary}; a scratch redis-server ${server.version} loaded it on 127.0.0.1:${server.target.port}`)],
      check: () => checkRedis(server, manifest.description as RedisDescription, checksOf(source)),
      tools: { 'redis-server': server.version },
    };
  }

  return { restoreLevelCheck, cleanupScratch: cleanupScratchActivity };
}

/** Versions recorded with the result; redis-server reports its own over INFO. */
const restoreTools: Record<Manifest['kind'], Array<[string, string]>> = {
  postgres: [['pg_restore', '--version']],
  redis: [],
  files: [['tar', '--version']],
};

/** The database the source's URL names: where its SQL checks run in a restored cluster. */
function sourceDatabase(config: SourceConfig): string {
  return config.kind === 'postgres' ? databaseName(config.url) : 'postgres';
}

function restoreOutcome(manifest: Manifest, what: string): CheckOutcome {
  return { name: 'restore', ok: true, detail: `backup ${manifest.id} fetched, SHA-256 and size verified, decrypted and decompressed: ${what}` };
}

/** A restore whose counts differ still leaves a target to check: the checks report it, item by item. */
function ignoreVerificationFailed(error: unknown): undefined {
  if (error instanceof LifeboatError && error.type === 'VerificationFailed') return undefined;
  throw error;
}

async function versions(...commands: Array<[string, string]>): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  for (const [tool, flag] of commands) {
    const result = await execa(tool, [flag], { reject: false, ...childEnvOptions() });
    if (result.exitCode === 0) found[tool] = `${result.stdout}`.split('\n')[0]!.trim();
  }
  return found;
}
