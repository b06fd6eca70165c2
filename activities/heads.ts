import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { LifeboatError } from '../lib/errors';
import { parseHead, sequenceOfHeadKey } from '../lib/head-schema';
import { HEAD_FORMAT, keys, type Head } from '../lib/manifest';
import type { Signer, TrustedKey } from '../lib/signing';
import type { UntrustedItem } from './catalog';
import { putSigned, readSigned } from './signed';
import type { StorageBackend } from './storage/backend';

export interface TrustedHead {
  head: Head;
  /** SHA-256 of its bytes: what the next head chains to. */
  sha256: string;
}

export interface HeadScan {
  /** The newest trusted heads read, lowest sequence first. */
  heads: TrustedHead[];
  /** Head keys that no trusted key signed, or that are not the head they are stored as. */
  untrusted: UntrustedItem[];
}

/** The head keys of a source, highest sequence first; other keys under the prefix are left out. */
async function headKeys(storage: StorageBackend, source: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of storage.list(keys.headPrefix(source))) {
    if (sequenceOfHeadKey(source, object.key) !== undefined) found.push(object.key);
  }
  return found.sort().reverse();
}

async function judgeHead(storage: StorageBackend, trusted: TrustedKey[], source: string, key: string): Promise<{ trusted: TrustedHead } | { untrusted: UntrustedItem }> {
  const { bytes, verdict } = await readSigned(storage, key, trusted);
  const parsed = parseHead(bytes, key, source);
  if ('problem' in parsed) return { untrusted: { key, reason: parsed.problem } };
  if (!verdict.trusted) return { untrusted: { key, reason: verdict.reason } };
  return { trusted: { head: parsed.head, sha256: createHash('sha256').update(bytes).digest('hex') } };
}

/**
 * Up to `want` of the newest trusted heads, read from the highest key down. A check stops after
 * `untrustedLimit` untrusted ones, so a bucket flooded with forged heads stays cheap to check (and
 * then shows as untrusted, and as a head behind Temporal's); the writer reads on to a trusted one.
 */
export async function scanHeads(storage: StorageBackend, trusted: TrustedKey[], source: string, want: number, untrustedLimit = Infinity): Promise<HeadScan> {
  const scan: HeadScan = { heads: [], untrusted: [] };
  for (const key of await headKeys(storage, source)) {
    if (scan.heads.length >= want || scan.untrusted.length >= untrustedLimit) break;
    const judged = await judgeHead(storage, trusted, source, key);
    if ('trusted' in judged) scan.heads.unshift(judged.trusted);
    else scan.untrusted.push(judged.untrusted);
  }
  return scan;
}

/** Attempts at a sequence another writer took meanwhile, each after reading the heads again. */
const HEAD_ATTEMPTS = 6;

/**
 * The head of a backup whose manifest was just written: the newest trusted head's sequence + 1,
 * chained to it. Idempotent: a retry finds its own head as the newest and returns it. One backup
 * of a source runs at a time (its workflow id), but backups started under other ids (a second
 * deployment, a workflow started by hand) can finish together: the one that finds its sequence
 * taken reads the heads again and chains to the winner's, rather than failing a good backup.
 */
export async function recordHead(storage: StorageBackend, trusted: TrustedKey[], signer: Signer, backup: Omit<Head, 'format' | 'sequence' | 'previousHeadSha256'>): Promise<Head> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await recordHeadOnce(storage, trusted, signer, backup);
    } catch (error) {
      if (!(error instanceof LifeboatError && error.type === 'AlreadyExists') || attempt >= HEAD_ATTEMPTS) throw error;
      // The other writer's signature may be stored before its head: give it time to finish.
      await sleep(100 * 2 ** attempt);
    }
  }
}

async function recordHeadOnce(storage: StorageBackend, trusted: TrustedKey[], signer: Signer, backup: Omit<Head, 'format' | 'sequence' | 'previousHeadSha256'>): Promise<Head> {
  const newest = (await scanHeads(storage, trusted, backup.source, 1)).heads.at(-1);
  if (newest?.head.backupId === backup.backupId) return newest.head;
  // A key at the next sequence that is not a trusted head (a forger's) is never overwritten
  // (storage is write-once): the head takes the next free sequence, and the gap shows in the check.
  let sequence = (newest?.head.sequence ?? 0) + 1;
  for (let taken = 0; await storage.stat(keys.head(backup.source, sequence)); taken += 1, sequence += 1) {
    if (taken >= 100) {
      throw new LifeboatError('Untrusted', `${storage.location}: the 100 head records after sequence ${sequence - 100} of ${backup.source} are all taken and none is trusted`,
        'someone with write access to the bucket planted them: treat it as an incident; "lifeboat status" lists them as untrusted');
    }
  }
  const head: Head = {
    format: HEAD_FORMAT,
    source: backup.source,
    sequence,
    backupId: backup.backupId,
    manifestSha256: backup.manifestSha256,
    finishedAt: backup.finishedAt,
    previousHeadSha256: newest?.sha256 ?? null,
  };
  await putSigned(storage, keys.head(backup.source, head.sequence), Buffer.from(`${JSON.stringify(head, null, 2)}\n`), signer);
  return head;
}
