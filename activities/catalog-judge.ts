import { createHash } from 'node:crypto';
import { parseManifest } from '../lib/manifest-schema';
import type { Manifest } from '../lib/manifest';
import type { TrustedKey } from '../lib/signing';
import { readSigned } from './signed';
import type { StorageBackend } from './storage/backend';

export interface CatalogEntry {
  manifest: Manifest;
  /** SHA-256 of the manifest's bytes as stored: what the next manifest chains to. */
  manifestSha256: string;
  /** The trusted key that signed it (catalog.trustedKeys). */
  keyId: string;
}

/** A manifest that is never restored, counted or chosen as latest: unsigned, signed by an unknown key, or not sane. */
export interface UntrustedItem {
  key: string;
  reason: string;
}

export type Judged = { entry: CatalogEntry } | { untrusted: UntrustedItem };

/** Reads and judges one manifest; a storage error is thrown (and retried), never taken for distrust. */
export async function judgeManifest(storage: StorageBackend, trusted: TrustedKey[], key: string): Promise<Judged> {
  const { bytes, verdict } = await readSigned(storage, key, trusted);
  const parsed = parseManifest(bytes, key);
  if ('problem' in parsed) return { untrusted: { key, reason: parsed.problem } };
  if (!verdict.trusted) return { untrusted: { key, reason: verdict.reason } };
  return { entry: { manifest: parsed.manifest, manifestSha256: createHash('sha256').update(bytes).digest('hex'), keyId: verdict.keyId } };
}

type Finished = { manifest: Pick<CatalogEntry['manifest'], 'finishedAt' | 'id'> };
export const byFinish = (a: Finished, b: Finished) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt) || a.manifest.id.localeCompare(b.manifest.id);

/** Reads at most 16 objects at once: enough to hide the round trips, few enough for any endpoint. */
export async function inBatches<T, R>(items: T[], read: (item: T) => Promise<R>, size = 16): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) results.push(...await Promise.all(items.slice(i, i + size).map(read)));
  return results;
}

