import { setMaxListeners } from 'node:events';
import { LifeboatError } from '../lib/errors';
import { inBatches } from './catalog';
import type { Deps } from './deps';
import { advance, stopSignal } from './progress';
import type { CopyObjectInput, CopyObjectResult, PublishManifestInput } from './sync';
import type { BackupToCopy } from './sync-types';

export interface CopyBackupsInput {
  source: string;
  from: string;
  to: string;
  backups: BackupToCopy[];
}

/** Per backup: copied (bytes written, 0 when the destination held them) or why not. */
export type BackupCopyOutcome = { id: string; copiedBytes: number } | { id: string; type: string; message: string };

interface CopySteps {
  copyOne(input: CopyObjectInput): Promise<CopyObjectResult>;
  publishManifest(input: PublishManifestInput): Promise<void>;
  discardPartialCopy(input: { source: string; backupId: string; to: string }): Promise<number>;
}

export function syncBatchActivities(deps: Deps, steps: CopySteps) {
  /**
   * Copies a page of small backups, each as copyObject and publishManifest would: objects verified
   * by SHA-256, the manifest last. A backup that cannot be copied for a reason retrying does not
   * mend (other bytes there, a damaged source, an untrusted manifest) is reported for itself and its
   * partial copy discarded; anything else (the region did not answer) fails the page once the rest
   * ran, and Temporal retries it: a copy already there is proved by hash, not written again.
   */
  async function copyBackups({ source, from, to, backups }: CopyBackupsInput): Promise<BackupCopyOutcome[]> {
    const outcomes: BackupCopyOutcome[] = [];
    let toRetry: unknown;
    let done = 0;
    advance({ to, backups: backups.length, done });
    const concurrency = Math.max(1, deps.config.sync.concurrency);
    // Each copy in flight listens on the activity's one stop signal (a few listeners each), and removes them when done.
    const signal = stopSignal();
    if (signal) setMaxListeners(10 + 4 * concurrency, signal);
    await inBatches(backups, async (backup) => {
      try {
        const verified: CopyObjectResult[] = [];
        let failed: unknown;
        // Every object is tried even when one fails: a repair copies each absent object beside one that holds other bytes.
        for (const object of backup.objects) {
          try {
            verified.push(await steps.copyOne({ source, backupId: backup.id, from, to, object }));
          } catch (error) {
            // The backup's own problem (other bytes there) before a region that did not answer.
            if (failed === undefined || (retryable(failed) && !retryable(error))) failed = error;
          }
        }
        if (failed) throw failed;
        await steps.publishManifest({ source, backupId: backup.id, from, to, manifestSha256: backup.manifestSha256, verified: verified.map(({ key, sha256, size }) => ({ key, sha256, size })) });
        outcomes.push({ id: backup.id, copiedBytes: verified.filter((v) => v.copied).reduce((sum, v) => sum + v.size, 0) });
      } catch (error) {
        if (retryable(error) || !(error instanceof LifeboatError)) {
          toRetry ??= error;
        } else {
          // Other bytes already there stay as evidence; a half copy beside a sound region does not.
          if (error.type !== 'AlreadyExists') await steps.discardPartialCopy({ source, backupId: backup.id, to }).catch(() => undefined);
          outcomes.push({ id: backup.id, type: error.type, message: error.message });
        }
      }
      advance({ done: ++done });
    }, concurrency);
    if (toRetry) throw toRetry;
    return outcomes;
  }

  return { copyBackups };
}

const retryable = (error: unknown): boolean => !(error instanceof LifeboatError) || error.retryable;
