import { createHash } from 'node:crypto';
import type { Config, FailoverTargetConfig, SourceConfig } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import type { FailoverPlan, FailoverSourceKind, SourcePlan } from '../../lib/failover';
import { isPhysical, keys, type Manifest, type PostgresPhysicalDescription } from '../../lib/manifest';
import { signatureKey, type TrustedKey } from '../../lib/signing';
import { canonicalJson } from '../../lib/schedules/desired';
import { chainOf } from '../sources/files/restore';
import { redact } from '../sources/postgres/connect';
import type { StorageBackend } from '../storage/backend';
import { inBatches, listVerifiedBackups } from '../catalog';
import type { ReadCatalogOptions } from '../catalog-index';
import type { VerifiedEntry } from '../verify-catalog';
import { walCoverage } from '../wal/coverage';

export interface PreflightInput {
  targetRegion: string;
  recoveryPoint: string;
  sources: string[];
  drill: boolean;
}

export function failoverKind(source: SourceConfig): FailoverSourceKind {
  if (source.kind === 'postgres') return source.mode === 'physical' ? 'postgres-physical' : 'postgres-logical';
  return source.kind;
}

/** The target's config, or a Config error naming the key to set. */
export function targetOf(config: Config, region: string, source: string): FailoverTargetConfig {
  const target = config.regions[region]?.failover?.targets[source];
  if (!target) {
    throw new LifeboatError('Config', `regions.${region}.failover.targets.${source} is not set: there is nowhere to bring ${source} back in ${region}`,
      `add a target for ${source} under regions.${region}.failover.targets, or leave ${source} out with --source`);
  }
  return target;
}

export function describeTarget(kind: FailoverSourceKind, target: FailoverTargetConfig): string {
  switch (kind) {
    case 'postgres-logical': return redact(target.url!);
    case 'postgres-physical': return `PostgreSQL cluster in ${target.dataDir} on port ${target.port}`;
    case 'redis': return `redis-server on 127.0.0.1:${target.port} in ${target.directory}`;
    case 'files': return target.directory!;
  }
}

/**
 * Reads the target region's catalog for each source: the newest restorable point at or before the
 * asked one, its age, the newest passed restore test there (the RTO to expect), WAL continuity.
 * A missing target or backup stops the failover here, before anyone is asked to approve it.
 */
export async function preparePlan(config: Config, storage: StorageBackend, trusted: TrustedKey[], input: PreflightInput, now = new Date(), catalog: ReadCatalogOptions = {}): Promise<FailoverPlan> {
  const cutoff = input.recoveryPoint === 'latest' ? undefined : new Date(input.recoveryPoint).toISOString();
  const planOne = async (source: string): Promise<SourcePlan> => {
    const sourceConfig = config.sources[source];
    if (!sourceConfig) throw new LifeboatError('Usage', `no source "${source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ')}`);
    const kind = failoverKind(sourceConfig);
    const target = targetOf(config, input.targetRegion, source);
    const read = async (listing: 'full' | 'journal') => {
      const entries = (await listVerifiedBackups(storage, trusted, source, { ...catalog, listing })).entries.filter((e) => (kind === 'postgres-physical') === isPhysical(e.manifest.description));
      const eligible = cutoff === undefined ? entries : entries.filter((e) => snapshotTime(e.manifest) <= cutoff);
      return { entries, chosen: eligible.at(-1) };
    };
    // The signed index and its changes, then a look at the chosen backup's objects: one gone
    // behind Lifeboat's back sends this source to a full listing, which no longer offers it.
    let { entries, chosen } = await read('journal');
    if (chosen && !(await stored(storage, chosen.manifest))) ({ entries, chosen } = await read('full'));
    if (!chosen) {
      throw new LifeboatError('BackupNotFound', `no ${kind} backup of ${source} in ${input.targetRegion}${cutoff ? ` taken at or before ${cutoff}` : ''} (${storage.location})`,
        `sync the backups to ${input.targetRegion} ("lifeboat sync"), or pick a later --at`);
    }
    const warnings: string[] = [];
    if (kind === 'files') await chainOf(storage, trusted, chosen.manifest);
    let recoveryPoint = snapshotTime(chosen.manifest);
    let wal: SourcePlan['wal'];
    let recoveryTarget: string | null | undefined;
    if (kind === 'postgres-physical') {
      const description = chosen.manifest.description as PostgresPhysicalDescription;
      const coverage = await walCoverage(storage, source, description.startWalFile);
      const run = coverage.continuity;
      wal = { from: description.startWalFile, contiguousThrough: run?.contiguousThrough ?? null, gaps: run?.gaps.length ?? 0, reachableUntil: coverage.reachableUntil };
      if (wal.gaps > 0) warnings.push(`${wal.gaps} gap(s) in the WAL after ${wal.contiguousThrough}: recovery stops there`);
      if (!coverage.reachableUntil) warnings.push(`no archived WAL after base backup ${chosen.manifest.id} in ${input.targetRegion}: it restores to its own end (${chosen.manifest.finishedAt})`);
      const reachable = coverage.reachableUntil && coverage.reachableUntil > chosen.manifest.finishedAt ? coverage.reachableUntil : chosen.manifest.finishedAt;
      recoveryTarget = cutoff ?? null;
      recoveryPoint = cutoff !== undefined && cutoff < reachable ? cutoff : reachable;
      if (cutoff !== undefined && cutoff > reachable) warnings.push(`the WAL reaches only ${reachable}, before the asked ${cutoff}`);
    }
    const verified = newestPassedRestore(entries);
    if (!verified) warnings.push(`no passed restore-level verification of ${source} in ${input.targetRegion}: the RTO is not known in advance`);
    return {
      source, kind, backupId: chosen.manifest.id, recoveryPoint, recoveryTarget, wal,
      expectedRpoMs: Math.max(0, now.getTime() - Date.parse(recoveryPoint)),
      expectedRtoMs: verified?.restoreMs ?? null,
      verifiedAt: verified?.finishedAt ?? null,
      target: describeTarget(kind, target),
      warnings,
    };
  };
  // Four sources at once: twenty sources each cost a listing and an index read, not twenty in a row.
  // Every source is planned even when one fails, so the operator learns all that is missing at once,
  // in the order asked, rather than one source per attempt in whatever order the reads finished.
  const settled = await inBatches(input.sources, (source) => planOne(source).then((plan) => ({ plan }), (error: unknown) => ({ error })), 4);
  const failures = settled.flatMap((s) => ('error' in s ? [s.error] : []));
  if (failures.length > 0) throw oneFailure(failures);
  const sources = settled.flatMap((s) => ('plan' in s ? [s.plan] : []));
  // Ages and the time of preparation are left out: only a change of what would be restored, and where, changes the hash.
  const facts = { targetRegion: input.targetRegion, recoveryPoint: input.recoveryPoint, drill: input.drill,
    sources: sources.map(({ source, kind, backupId, recoveryPoint, recoveryTarget, target, wal }) => ({ source, kind, backupId, recoveryPoint, recoveryTarget, target, walThrough: wal?.contiguousThrough })) };
  const planHash = createHash('sha256').update(canonicalJson(facts)).digest('hex').slice(0, 16);
  return { targetRegion: input.targetRegion, recoveryPoint: input.recoveryPoint, drill: input.drill, sources, preparedAt: now.toISOString(), planHash };
}

/** Whether the backup's manifest, its signature and every object are in storage at their sizes. */
async function stored(storage: StorageBackend, manifest: Manifest): Promise<boolean> {
  const key = keys.manifest(manifest.source, manifest.id);
  const found = await Promise.all([storage.stat(key), storage.stat(signatureKey(key)), ...manifest.objects.map((object) => storage.stat(object.key))]);
  return found.every((info, n) => info !== undefined && (n < 2 || info.size === manifest.objects[n - 2]!.size));
}

/** One error for several sources: joined when they are of one kind, else the first in the order asked. */
function oneFailure(failures: unknown[]): unknown {
  const [first] = failures;
  if (failures.length === 1 || !(first instanceof LifeboatError)) return first;
  if (!failures.every((f) => f instanceof LifeboatError && f.type === first.type)) return first;
  const messages = (failures as LifeboatError[]).map((f) => f.message);
  const hints = [...new Set((failures as LifeboatError[]).map((f) => f.hint).filter((h): h is string => Boolean(h)))];
  return new LifeboatError(first.type, messages.join('; '), hints.join('; ') || undefined, { cause: first });
}

/** When the data was read: a dump's and a snapshot's consistent point is their start; a base backup's is its end. */
export function snapshotTime(manifest: Manifest): string {
  return isPhysical(manifest.description) ? manifest.finishedAt : manifest.startedAt;
}

function newestPassedRestore(entries: VerifiedEntry[]) {
  return entries.flatMap((e) => e.records).filter((r) => r.level === 'restore' && r.outcome === 'passed' && r.restoreMs !== null)
    .sort((a, b) => a.finishedAt.localeCompare(b.finishedAt)).at(-1);
}
