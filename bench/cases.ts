import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import { startBackup } from '../client/commands/backup';
import type { Config } from '../lib/config/schema';
import type { BackupSummary } from '../workflows/backup-source';
import { watchPeakRss } from './procs';

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

export const peerPipelineLabel = (level: number, threads: number) =>
  `pg_dump -Fc -Z0 | zstd -${level} -T${threads} | age -r RECIPIENT | aws s3 cp - s3://BUCKET/KEY (the same SeaweedFS; AWS CLI defaults, path-style addressing)`;

export interface S3Target {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * (b) What an operator would script instead of Lifeboat: the same dump, zstd at Lifeboat's level
 * and threads, age to the same recipient, streamed by the AWS CLI to the same S3 server. No
 * checksum pass, no manifest, no catalog, no workflow: the floor Lifeboat's data path is held to.
 * The AWS CLI reads its settings from a file of its own, so the user's ~/.aws never counts.
 */
export async function peerPipeline(db: DumpTarget, s3: S3Target, key: string, recipient: string, level: number, threads: number, configFile: string): Promise<{ seconds: number; bytes: number }> {
  writeFileSync(configFile, '[default]\ns3 =\n  addressing_style = path\n');
  const script = `${DUMP} | zstd -${level} -T${threads} -q | age -r "$BENCH_RECIPIENT" | aws s3 cp --only-show-errors --endpoint-url "$BENCH_ENDPOINT" - "s3://$BENCH_BUCKET/$BENCH_KEY"`;
  const env = {
    ...dumpEnv(db), BENCH_RECIPIENT: recipient, BENCH_ENDPOINT: s3.endpoint, BENCH_BUCKET: s3.bucket, BENCH_KEY: key,
    AWS_CONFIG_FILE: configFile, AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_DEFAULT_REGION: s3.region,
  };
  const { seconds } = await timed(() => bash(script, env));
  const size = await bash(`aws s3api head-object --endpoint-url "$BENCH_ENDPOINT" --bucket "$BENCH_BUCKET" --key "$BENCH_KEY" --query ContentLength --output text`, env);
  return { seconds, bytes: Number(size.trim()) };
}

export const localPipelineLabel = (level: number, threads: number) =>
  `pg_dump -Fc -Z0 | zstd -${level} -T${threads} | age -r RECIPIENT > FILE; sync FILE DIR (the disk the local region is on)`;

/**
 * (b2) The same pipeline as (b) into a file on the disk of (c2)'s local region. Lifeboat's local
 * driver fsyncs each object and the directory holding its name before the object counts as
 * stored; the peer's clock stops only once `sync` has done the same for its file and directory,
 * so neither is timed with its data still in the page cache.
 */
export async function localPipeline(db: DumpTarget, recipient: string, file: string, level: number, threads: number): Promise<{ seconds: number; bytes: number }> {
  const script = `${DUMP} | zstd -${level} -T${threads} -q | age -r "$BENCH_RECIPIENT" > "$BENCH_FILE" && sync "$BENCH_FILE" "$(dirname "$BENCH_FILE")"`;
  const { seconds } = await timed(() => bash(script, { ...dumpEnv(db), BENCH_RECIPIENT: recipient, BENCH_FILE: file }));
  return { seconds, bytes: statSync(file).size };
}

export const AWS_INSTALL_HINT = 'npm run bench installs it (scripts/setup.sh --bench); by hand: python3 -m pip install awscli';

/** (c) A Lifeboat backup through the workflow, from start request to its result, on an already-running worker. */
export async function lifeboat(client: Client, config: Config, source: string): Promise<{ seconds: number; summary: BackupSummary; workflowId: string }> {
  let workflowId = '';
  const { seconds, value } = await timed(async () => {
    const handle = await startBackup(client, config, source);
    workflowId = handle.workflowId;
    return handle.result();
  });
  return { seconds, summary: value, workflowId };
}


/** Untimed: the size of a plain tar of the tree, and a pass that leaves every file in the page cache for every case alike. */
export async function rawTarBytes(dir: string): Promise<number> {
  return Number((await bash('tar -C "$BENCH_DIR" -cf - . | wc -c', { BENCH_DIR: dir })).trim());
}

export const tarPipelineLabel = (level: number, threads: number) =>
  `tar -cf - . | zstd -${level} -T${threads} | age -r RECIPIENT > FILE (local file, no upload; zstd level/threads as Lifeboat's config)`;

/**
 * (e) What one would script by hand for a file tree: plain tar (Lifeboat's tar adds
 * --listed-incremental, --sparse, --acls and --xattrs), zstd at Lifeboat's level and thread
 * count, age to the same recipient, into a local file: no checksum pass and no upload.
 */
export async function tarPipeline(dir: string, recipient: string, file: string, level: number, threads: number): Promise<{ seconds: number; bytes: number }> {
  const script = `tar -C "$BENCH_DIR" -cf - . | zstd -${level} -T${threads} -q | age -r "$BENCH_RECIPIENT" > "$BENCH_FILE"`;
  const { seconds } = await timed(() => bash(script, { BENCH_DIR: dir, BENCH_RECIPIENT: recipient, BENCH_FILE: file }));
  return { seconds, bytes: statSync(file).size };
}

export const RESTIC_INSTALL_HINT = 'install it: apt-get install restic';

/** "0.14.0" from `restic version`; fails with the install hint when restic is missing or older than 0.14 (no compression). */
export async function resticVersion(): Promise<string> {
  let out: string;
  try {
    out = await bash('restic version', {});
  } catch {
    throw new Error(`restic is not installed (the files benchmark compares against it); ${RESTIC_INSTALL_HINT}`);
  }
  const version = /restic (\d+)\.(\d+)\.(\d+)/.exec(out);
  if (!version) throw new Error(`cannot read the restic version from ${JSON.stringify(out.trim())}`);
  const [, major, minor] = version.map(Number);
  if (major! === 0 && minor! < 14) throw new Error(`restic ${version[0]} has no compression (0.14 or later needed); ${RESTIC_INSTALL_HINT} from a newer release`);
  return version.slice(1).join('.');
}

export interface ResticRepo {
  /** s3:http://host:port/bucket/prefix */
  repository: string;
  /** S3 region: restic then skips its bucket-location lookup. */
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  password: string;
  cacheDir: string;
}

/** Runs restic with the repository in its environment; resolves with stdout and the process's peak RSS (VmHWM polled every 100 ms). */
function restic(repo: ResticRepo, args: string[]): Promise<{ stdout: string; peakRss: number }> {
  const env = {
    ...process.env, RESTIC_REPOSITORY: repo.repository, RESTIC_PASSWORD: repo.password,
    AWS_ACCESS_KEY_ID: repo.accessKeyId, AWS_SECRET_ACCESS_KEY: repo.secretAccessKey,
  };
  const all = ['--cache-dir', repo.cacheDir, '-o', `s3.region=${repo.region}`, '-o', 's3.bucket-lookup=path', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('restic', all, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const peak = watchPeakRss(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', (error) => { peak.stop(); reject(error); });
    child.once('exit', (code, signal) => {
      const peakRss = peak.stop();
      if (code === 0) resolve({ stdout, peakRss });
      else reject(new Error(`restic ${args.join(' ')} ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${stderr.trim().slice(-800)}`));
    });
  });
}

/** Untimed by the case: a new repository in format 2 (the one with compression). */
export async function resticInit(repo: ResticRepo): Promise<{ seconds: number }> {
  const { seconds } = await timed(() => restic(repo, ['init', '--repository-version', '2']));
  return { seconds };
}

/** restic's closing JSON line: what it read and what it added to the repository (data_added: before compression, in 0.14). */
export interface ResticSummary {
  files_new: number;
  dirs_new: number;
  data_blobs: number;
  tree_blobs: number;
  data_added: number;
  total_files_processed: number;
  total_bytes_processed: number;
  total_duration: number;
  snapshot_id: string;
}

export const resticLabel = (version: string) => `restic ${version} backup DIR --compression auto → the same SeaweedFS (repo v2, defaults otherwise)`;

/** (f) restic backing up the tree into an initialised, empty repository. */
export async function resticBackup(repo: ResticRepo, dir: string): Promise<{ seconds: number; peakRss: number; summary: ResticSummary }> {
  const { seconds, value } = await timed(() => restic(repo, ['backup', '--json', '--quiet', '--compression', 'auto', dir]));
  const line = value.stdout.trim().split('\n').reverse().find((text) => text.includes('"message_type":"summary"'));
  if (!line) throw new Error(`restic backup printed no summary: ${value.stdout.slice(-500)}`);
  return { seconds, peakRss: value.peakRss, summary: JSON.parse(line) as ResticSummary };
}

/** Untimed, between cases: writes back what the previous case left dirty, so the next does not pay for it. */
export async function flushDisks(): Promise<void> {
  await bash('sync', {});
}
