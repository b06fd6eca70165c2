import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import { S3Storage } from '../activities/storage/s3';
import { startBackup } from '../client/commands/backup';
import type { Config } from '../lib/config/schema';
import type { BackupSummary } from '../workflows/backup-source';

export interface DumpTarget {
  url: string;
  password: string;
}

/**
 * Runs a bash script with pipefail, so a failing pg_dump at the head of a pipe is not hidden by
 * gzip exiting 0. Values reach the script through the environment: no quoting of URLs or paths.
 */
function bash(script: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`bash -c '${script}' ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${stderr.trim().slice(-800)}`));
    });
  });
}

const dumpEnv = (db: DumpTarget): Record<string, string> => ({ BENCH_URL: db.url, PGPASSWORD: db.password });

// pg_dump from PATH, as the worker runs it, so all cases use the same binary (Debian's pg_wrapper).
const DUMP = 'pg_dump --format=custom --compress=0 --dbname="$BENCH_URL"';

async function timed<T>(run: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const start = performance.now();
  const value = await run();
  return { seconds: (performance.now() - start) / 1000, value };
}

/** Untimed: the size of the uncompressed dump, and a pass that leaves the database in the page cache for every case alike. */
export async function rawDumpBytes(db: DumpTarget): Promise<number> {
  return Number((await bash(`${DUMP} | wc -c`, dumpEnv(db))).trim());
}

/** (a) The floor: pg_dump alone, writing nowhere. */
export async function dumpToNull(db: DumpTarget): Promise<{ seconds: number }> {
  const { seconds } = await timed(() => bash(`${DUMP} > /dev/null`, dumpEnv(db)));
  return { seconds };
}

export const CLASSIC_PIPELINE = 'pg_dump -Fc -Z0 | gzip -6 | openssl enc -aes-256-cbc -pbkdf2 > FILE, then S3Storage.putStream(FILE)';

/**
 * (b) The classic cron job. The dump is -Fc -Z0 piped into gzip (default level 6), the same dump
 * bytes as (a) and (c), with compression in its own process beside pg_dump, as Lifeboat's zstd is;
 * plain `pg_dump -Fc` would compress inside pg_dump's single process and be slower, flattering c/b.
 * The upload uses the repo's own S3Storage.putStream (8 MiB multipart parts, 2 in flight), so the
 * two cases differ in compression, encryption and the temp file, not in the uploader.
 */
export async function classic(db: DumpTarget, file: string, storage: S3Storage): Promise<{ seconds: number; pipelineSeconds: number; uploadSeconds: number; bytes: number }> {
  const script = `${DUMP} | gzip -6 | openssl enc -aes-256-cbc -pbkdf2 -salt -pass env:BENCH_PASS > "$BENCH_FILE"`;
  const pipeline = await timed(() => bash(script, { ...dumpEnv(db), BENCH_FILE: file, BENCH_PASS: 'bench-not-a-secret' }));
  const upload = await timed(() => storage.putStream('classic.dump.gz.enc', createReadStream(file)));
  return { seconds: pipeline.seconds + upload.seconds, pipelineSeconds: pipeline.seconds, uploadSeconds: upload.seconds, bytes: upload.value.size };
}

/** (c) A Lifeboat backup through the workflow, from start request to its result, on an already-running worker. */
export async function lifeboat(client: Client, config: Config, source: string): Promise<{ seconds: number; summary: BackupSummary }> {
  const { seconds, value } = await timed(async () => (await startBackup(client, config, source)).result());
  return { seconds, summary: value };
}

