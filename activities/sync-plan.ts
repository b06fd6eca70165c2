import { Context } from '@temporalio/activity';
import { LifeboatError } from '../lib/errors';
import { listBackups, refreshing } from './catalog';
import type { Deps } from './deps';
import { putSigned, readSigned, removeSigned } from './signed';
import type { BackupRef, BackupToCopy, DivergentCopy } from './sync';
import { classify } from './sync-compare';

/** Divergent copies a plan names in the history; the rest are counted. */
export const LISTED_DIVERGENT = 20;

export interface PlanCopiesInput {
  source: string;
  from: string;
  to: string;
  /** Where the whole plan is stored in the destination: `_sync/<source>/<run id>-<region>.json`. */
  key: string;
  pageSize: number;
}

/** What the history holds of a comparison: counts, the newest of each side, the first page, never the catalog. */
export interface CopyPlanSummary {
  /** The worker's clock when the catalogs were read: workflows measure ages against it. */
  checkedAt: string;
  homeNewest: BackupRef | null;
  homeOldest: BackupRef | null;
  /** Backups the destination already holds whole, and the newest of them. */
  present: number;
  newestPresent: BackupRef | null;
  /** Backups to copy: every one is in the stored plan, newest first. */
  missing: number;
  divergentCount: number;
}

export interface CopyPlan {
  summary: CopyPlanSummary;
  /** The first pageSize backups to copy (newest first); readCopyPage gives the next ones. */
  firstPage: BackupToCopy[];
  /** The first LISTED_DIVERGENT divergent copies. */
  divergent: DivergentCopy[];
}

export interface CopyPageInput {
  to: string;
  key: string;
  offset: number;
  limit: number;
}

export function syncPlanActivities(deps: Deps) {
  /**
   * Reads both catalogs once and stores what the destination lacks, newest first, signed, in the
   * destination: a catalog of 20,000 backups is a plan of megabytes, and each run of the sync reads
   * its pages by key instead of carrying it through Temporal's history.
   */
  async function planRegionCopies({ source, from, to, key, pageSize }: PlanCopiesInput): Promise<CopyPlan> {
    const context = Context.current();
    context.heartbeat({ step: 'reading catalogs' });
    const home = await listBackups(deps.storage(from), deps.trusted, source, refreshing(deps));
    context.heartbeat({ step: 'comparing', home: home.length });
    const classified = await classify(home, deps.storage(to), deps.trusted, source, from, refreshing(deps));
    const missing = [...classified.missing].reverse();
    context.heartbeat({ step: 'storing the plan', missing: missing.length });
    await putSigned(deps.storage(to), key, Buffer.from(JSON.stringify(missing)), deps.signer());
    const ref = (entry: (typeof home)[number] | undefined) => (entry ? { id: entry.manifest.id, finishedAt: entry.manifest.finishedAt } : null);
    const newestPresent = classified.present.reduce<BackupRef | null>((newest, b) => (!newest || b.finishedAt > newest.finishedAt ? b : newest), null);
    return {
      summary: {
        checkedAt: new Date().toISOString(), homeNewest: ref(home.at(-1)), homeOldest: ref(home[0]),
        present: classified.present.length, newestPresent, missing: missing.length, divergentCount: classified.divergent.length,
      },
      firstPage: missing.slice(0, pageSize),
      divergent: classified.divergent.slice(0, LISTED_DIVERGENT),
    };
  }

  /** One page of a stored plan; a plan a trusted key did not sign is refused. */
  async function readCopyPage({ to, key, offset, limit }: CopyPageInput): Promise<BackupToCopy[]> {
    const storage = deps.storage(to);
    const { bytes, verdict } = await readSigned(storage, key, deps.trusted);
    if (!verdict.trusted) {
      throw new LifeboatError('Untrusted', `${storage.location}: the sync plan ${key} is not trusted: ${verdict.reason}`, 'run the sync again: it compares the catalogs afresh');
    }
    return (JSON.parse(bytes.toString('utf8')) as BackupToCopy[]).slice(offset, offset + limit);
  }

  /** The plan and its signature, once the sync is done with it. */
  async function discardCopyPlan({ to, key }: { to: string; key: string }): Promise<void> {
    await removeSigned(deps.storage(to), key);
  }

  return { planRegionCopies, readCopyPage, discardCopyPlan };
}
