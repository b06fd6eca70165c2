import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { inject } from 'vitest';
import { s3Client } from '../harness/seaweedfs';
import { codecKeyOf, decrypted } from './codec';
import { inBatches } from '../../activities/catalog';
import type { Servers } from '../harness/servers';

// The secret scan (issue 11): every secret the test run knows, looked for in everything the run
// left where secrets must never be — Temporal history, worker logs, manifests, process lists.

export interface KnownSecret {
  /** Names the secret in a finding; the value itself is never printed. */
  label: string;
  value?: string;
  pattern?: RegExp;
}

export interface Finding {
  where: string;
  secret: string;
  /** Up to 60 characters either side, the secret replaced by its label. */
  context: string;
}

/** Where test files register secrets they make up (a webhook key, a ?password= value): one file per run. */
const registryOf = (servers: Servers) => join(servers.workDir, 'known-secrets.jsonl');

/** Where in-process workers and worker processes of every test file write their logs. */
export const workerLogDir = (servers: Servers) => join(servers.workDir, 'worker-logs');

export function registerSecret(servers: Servers, label: string, value: string): void {
  appendFileSync(registryOf(servers), `${JSON.stringify({ label, value })}\n`);
}

/** The harness's own secrets, every age identity by its form, and what test files registered. */
export function knownSecrets(servers: Servers): KnownSecret[] {
  const secrets: KnownSecret[] = [
    { label: 'database password', value: servers.postgres.password },
    ...Object.entries(servers.s3).map(([region, s3]) => ({ label: `S3 secret key of ${region}`, value: s3.secretAccessKey })),
    { label: 'age identity', pattern: /AGE-SECRET-KEY-1[0-9A-Z]{20,}/ },
    // Every catalog signing key by its form (PKCS#8 PEM): each test process makes its own.
    { label: 'catalog signing key', pattern: /-----BEGIN PRIVATE KEY-----/ },
    { label: 'payload codec key', value: codecKeyOf(servers) },
  ];
  if (existsSync(registryOf(servers))) {
    for (const line of readFileSync(registryOf(servers), 'utf8').split('\n').filter(Boolean)) secrets.push(JSON.parse(line) as KnownSecret);
  }
  return secrets;
}

export function scanText(where: string, text: string, secrets: KnownSecret[]): Finding[] {
  const findings: Finding[] = [];
  for (const secret of secrets) {
    const at = secret.value !== undefined ? text.indexOf(secret.value) : text.search(secret.pattern!);
    if (at < 0) continue;
    const length = secret.value?.length ?? text.slice(at).match(secret.pattern!)![0].length;
    findings.push({ where, secret: secret.label, context: `${text.slice(Math.max(0, at - 60), at)}<${secret.label}>${text.slice(at + length, at + length + 60)}` });
  }
  return findings;
}

/**
 * A history as text with every payload's bytes decoded as UTF-8. JSON.stringify alone is no good:
 * protobuf messages' toJSON writes payload bytes as base64, in which no secret would ever be found.
 */
export function historyText(history: unknown): string {
  return JSON.stringify(plain(history));
}

function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]));
  return value;
}

/** The history of every workflow execution in the namespace, and every schedule's action, decrypted: the codec hides nothing from whoever holds its key. */
export async function scanTemporal(client: Client, secrets: KnownSecret[]): Promise<{ executions: number; findings: Finding[] }> {
  const findings: Finding[] = [];
  const runs = [];
  for await (const run of client.workflow.list()) runs.push(run);
  // Hundreds of histories by the end of a test run: fetched a few at a time, not one after another.
  await inBatches(runs, async (run) => {
    const history = await decrypted(client, await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory());
    findings.push(...scanText(`history of ${run.workflowId} (${run.type})`, historyText(history), secrets));
  }, 8);
  const executions = runs.length;
  for await (const schedule of client.schedule.list()) {
    const described = await client.schedule.getHandle(schedule.scheduleId).describe();
    findings.push(...scanText(`schedule ${schedule.scheduleId}`, historyText(await decrypted(client, described.raw)), secrets));
  }
  return { executions, findings };
}

/** Every JSON object (manifests, verify records, tombstones, WAL indexes) in every bucket of the run. */
export async function scanBuckets(servers: Servers, secrets: KnownSecret[]): Promise<{ objects: number; findings: Finding[] }> {
  const findings: Finding[] = [];
  let objects = 0;
  for (const server of Object.values(servers.s3)) {
    const s3 = s3Client(server);
    for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: server.bucket })) {
      const keys = (page.Contents ?? []).map((object) => object.Key!).filter((key) => key.endsWith('.json'));
      await inBatches(keys, async (key) => {
        const body = await (await s3.send(new GetObjectCommand({ Bucket: server.bucket, Key: key }))).Body!.transformToString();
        objects += 1;
        findings.push(...scanText(`s3://${server.bucket}/${key} (${server.region})`, body, secrets));
      }, 8);
    }
    s3.destroy();
  }
  return { objects, findings };
}

/** Every file under `dir` (a local region, the worker logs): JSON and logs are read as text. */
export function scanFiles(dir: string, secrets: KnownSecret[], accept: (name: string) => boolean = () => true): { files: number; findings: Finding[] } {
  const findings: Finding[] = [];
  let files = 0;
  if (!existsSync(dir)) return { files, findings };
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (accept(name)) {
        files += 1;
        findings.push(...scanText(full, readFileSync(full, 'utf8'), secrets));
      }
    }
  };
  walk(dir);
  return { files, findings };
}

/** The run's servers, when this runs inside vitest with the harness (not in a bench script). */
export function serversOfRun(): Servers | undefined {
  try {
    return inject('servers');
  } catch {
    return undefined;
  }
}

/** Appends one line to this process's worker log (test/support/workers.ts and worker-process.ts write here). */
export function workerLog(servers: Servers | undefined, name: string, line: string): void {
  if (!servers) return;
  mkdirSync(workerLogDir(servers), { recursive: true });
  appendFileSync(join(workerLogDir(servers), name), line.endsWith('\n') ? line : `${line}\n`);
}

export interface ProcessSample {
  pid: number;
  command: string;
  args: string;
  /** Only for descendants of this test process (the in-process worker's tools). */
  environ?: string;
}

/** The children, grandchildren… of `root`, from /proc. */
function descendants(root: number): Set<number> {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found = new Set<number>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (!found.has(pid) && (ppid === root || found.has(ppid))) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return found;
}

/**
 * Samples `ps -eo pid,comm,args` every `intervalMs` until stopped, plus the environment of every
 * descendant of this process: what anyone on the machine could read while a backup runs.
 */
export function sampleProcesses(intervalMs = 50): { stop(): Promise<ProcessSample[]> } {
  const samples: ProcessSample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const ps = await execa('ps', ['-eo', 'pid=,comm=,args=', '-ww'], { reject: false });
      const children = descendants(process.pid);
      for (const line of `${ps.stdout}`.split('\n')) {
        const match = /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(line);
        if (!match) continue;
        const pid = Number(match[1]);
        let environ: string | undefined;
        if (children.has(pid)) {
          try {
            environ = readFileSync(`/proc/${pid}/environ`, 'utf8').replaceAll('\0', '\n');
          } catch {
            // exited between ps and now
          }
        }
        samples.push({ pid, command: match[2]!, args: match[3]!, environ });
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples;
    },
  };
}

