import { parseDuration } from '../lib/config/duration';
import { LifeboatError } from '../lib/errors';
import type { VerifyRecord } from '../lib/verify';
import { listBackups, readManifest, refreshing } from './catalog';
import { keys } from '../lib/manifest';
import type { Deps } from './deps';
import { stallTimeoutMs, watched } from './progress';
import { identityFile } from './restore-stream';
import { checkIntegrity, type IntegrityResult } from './verify-integrity';
import { verifyRecordKey } from './verify-records';
import { putSigned } from './signed';
import { noteRecord } from './catalog-journal';

export interface VerifyPlan {
  kind: string;
  /** The source's own region: where its search attribute points. */
  home: string;
  /** Regions to verify in; a region without any backup of the source is skipped there. */
  regions: string[];
  /** Regions the operator or the config named: no backup there is a failure, not a skip. */
  named: boolean;
  strategy: 'latest' | 'random-within-window';
  windowMs: number;
  taskQueuePrefix: string;
  heartbeatTimeoutMs: number;
}

export function verifyActivities(deps: Deps) {
  /** Which regions to verify in and how to pick a backup there, from the worker's config. */
  async function planVerify(input: { source: string; region?: string }): Promise<VerifyPlan> {
    const { config: sourceConfig } = deps.source(input.source);
    const configured = sourceConfig.verify?.regions;
    const regions = input.region ? [input.region] : configured ?? Object.keys(deps.config.regions);
    for (const region of regions) {
      if (!deps.config.regions[region]) {
        throw new LifeboatError('Usage', `no region "${region}" in the config`, `regions are: ${Object.keys(deps.config.regions).join(', ')}`);
      }
    }
    return {
      kind: sourceConfig.kind,
      home: sourceConfig.region,
      regions,
      named: input.region !== undefined || configured !== undefined,
      strategy: sourceConfig.verify?.strategy ?? 'latest',
      windowMs: parseDuration(sourceConfig.verify?.window ?? '7d'),
      taskQueuePrefix: deps.config.temporal.taskQueuePrefix,
      heartbeatTimeoutMs: parseDuration(deps.config.temporal.heartbeatTimeout),
    };
  }

  /**
   * The backup to verify in one region, or null when the region holds none. The random pick
   * happens here, so the workflow replays the recorded choice rather than drawing again.
   */
  async function pickBackupToVerify(input: { source: string; region: string; backupId?: string; strategy: VerifyPlan['strategy']; windowMs: number; now: string }): Promise<string | null> {
    const catalog = await listBackups(deps.storage(input.region), deps.trusted, input.source, refreshing(deps));
    if (input.backupId !== undefined) {
      if (!catalog.some((entry) => entry.manifest.id === input.backupId)) {
        // There but untrusted: said so (Untrusted), never "not found".
        const key = keys.manifest(input.source, input.backupId);
        if (await deps.storage(input.region).stat(key)) await readManifest(deps.storage(input.region), deps.trusted, key);
        throw new LifeboatError('BackupNotFound', `no backup ${input.backupId} of ${input.source} in ${input.region}`, `run "lifeboat backups list --source ${input.source}"`);
      }
      return input.backupId;
    }
    if (input.strategy === 'random-within-window') {
      const now = Date.parse(input.now);
      const recent = catalog.filter((entry) => Date.parse(entry.manifest.finishedAt) >= now - input.windowMs && Date.parse(entry.manifest.finishedAt) <= now);
      // An empty window (no backup lately) still verifies something: the newest there is.
      if (recent.length > 0) return recent[Math.floor(Math.random() * recent.length)]!.manifest.id;
    }
    return catalog.at(-1)?.manifest.id ?? null;
  }

  /** Level 1: hashes, sizes, decryption, decompression and the manifest chain; damage is reported, not thrown. */
  async function verifyIntegrity(input: { source: string; region: string; backupId: string }): Promise<IntegrityResult> {
    // From the first line to the return; each object's stream reports its bytes, a long chain of small ones its count.
    return watched({ step: `integrity check of ${input.source} backup ${input.backupId}`, stallMs: stallTimeoutMs(deps.config), details: { backupId: input.backupId } },
      () => checkIntegrity(deps.storage(input.region), deps.trusted, input.source, input.backupId, identityFile(deps.config.encryption.identityFile)));
  }

  /** One signed record per run and region: the key carries the workflow's timestamp, so a retry writes the same bytes again. */
  async function writeVerifyRecord(record: VerifyRecord & { timestamp: string }): Promise<string> {
    const { timestamp, ...stored } = record;
    const key = verifyRecordKey(record.source, record.backupId, timestamp);
    await putSigned(deps.storage(record.region), key, Buffer.from(`${JSON.stringify(stored, null, 2)}\n`), deps.signer());
    await noteRecord(deps.storage(record.region), deps.signer(), record.source, key, stored);
    return key;
  }

  return { planVerify, pickBackupToVerify, verifyIntegrity, writeVerifyRecord };
}
