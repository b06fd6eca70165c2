import { createCipheriv, createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { listBackups } from '../../../activities/catalog';
import type { StorageBackend } from '../../../activities/storage/backend';
import { keys } from '../../../lib/manifest';
import { trusted } from '../signing';

/** What the campaign requires of a region's catalog once every run has ended. */
export interface CatalogFindings {
  manifests: number;
  /** Manifests naming an object that is missing or of another size. */
  withoutData: string[];
  /** Objects under a backup's prefix that has neither manifest nor tombstone. */
  orphans: string[];
  /** Unfinished multipart uploads. */
  incomplete: string[];
  /** Workflow runs with more than one backup. */
  duplicates: string[];
}

export async function checkCatalog(storage: StorageBackend, sources: string[]): Promise<CatalogFindings> {
  const findings: CatalogFindings = { manifests: 0, withoutData: [], orphans: [], incomplete: [], duplicates: [] };
  for (const source of sources) {
    const entries = await listBackups(storage, trusted, source);
    findings.manifests += entries.length;
    const byRun = new Map<string, number>();
    for (const { manifest } of entries) {
      const run = `${manifest.workflow.workflowId} ${manifest.workflow.runId}`;
      byRun.set(run, (byRun.get(run) ?? 0) + 1);
      for (const object of manifest.objects) {
        const stat = await storage.stat(object.key);
        if (stat?.size !== object.size) findings.withoutData.push(`${object.key}: ${stat ? `${stat.size} bytes, manifest says ${object.size}` : 'missing'}`);
      }
    }
    findings.duplicates.push(...[...byRun].filter(([, n]) => n > 1).map(([id, n]) => `${source} ${id} ×${n}`));
    const kept = new Set(entries.map((e) => e.manifest.id));
    for await (const object of storage.list(keys.sourcePrefix(source))) {
      const id = object.key.slice(source.length + 1).split('/')[0]!;
      if (kept.has(id) || object.key.startsWith(keys.tombstone(source, id))) continue;
      findings.orphans.push(object.key);
    }
    for await (const upload of storage.listIncomplete(keys.sourcePrefix(source))) findings.incomplete.push(upload.key);
  }
  return findings;
}

/** Relative path → SHA-256 of every regular file under dir. */
export function treeHashes(dir: string): Record<string, string> {
  const hashes: Record<string, string> = {};
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) hashes[relative(dir, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(dir);
  return hashes;
}

/** Key → DUMP of its value, for every key of a Redis server: equal maps mean equal contents. */
export async function redisContents(port: number): Promise<Record<string, string>> {
  const { stdout } = await execa('redis-cli', ['-p', String(port), '--scan']);
  const names = stdout.split('\n').filter(Boolean).sort();
  if (names.length === 0) return {};
  const dumps = await execa('redis-cli', ['-p', String(port)], { input: names.map((name) => `DUMP ${name}`).join('\n') });
  const values = dumps.stdout.split('\n');
  return Object.fromEntries(names.map((name, i) => [name, createHash('sha256').update(values[i] ?? '').digest('hex')]));
}

/** Keys chaos:0… of `size` bytes each, the same for one seed: what the campaign's Redis holds. */
export async function fillRedis(port: number, count: number, size: number, seed: number): Promise<void> {
  // An AES-CTR key stream: random-looking (Redis cannot compress it), yet the same for one seed.
  const key = createHash('sha256').update(String(seed)).digest().subarray(0, 16);
  const stream = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const lines: string[] = [];
  for (let i = 0; i < count; i += 1) lines.push(`SET chaos:${i} ${stream.update(Buffer.alloc(size / 2)).toString('hex')}`);
  await execa('redis-cli', ['-p', String(port)], { input: lines.join('\n'), stdout: 'ignore' });
}
