import { inBatches } from '../../activities/catalog-judge';
import { createDeps } from '../../activities/deps';
import { retentionActivities, type SourceWork } from '../../activities/retention';
import type { Config } from '../../lib/config/schema';
import { type Output, usage } from '../output';

export interface RetentionShowOptions {
  source?: string;
  region?: string;
  /** List every object: data without a manifest is found too, and nothing is taken from the index on trust. */
  verifyListing?: boolean;
}

export interface RetentionShowResult {
  /** 'journal': the signed index and its changes (the default); 'full': every object listed, orphans included. */
  listing: 'journal' | 'full';
  at: string;
  sources: Array<{
    source: string;
    blocked: string | null;
    regions: Array<{ region: string; rules: string; kept: number; deleted: number; decisions: Array<{ id: string; finishedAt: string; action: 'keep' | 'delete'; reasons: string[] }> }>;
    orphans: SourceWork['orphans'];
    locks: SourceWork['extendLocks'];
    /** Never counted as copies, never deleted. */
    untrusted: SourceWork['untrusted'];
  }>;
  unmanaged: string[];
}

/**
 * Every decision the retention rules make now, read straight from storage with the planner the
 * workflow runs: a report lists the first items and counts the rest, this lists them all (restic's
 * `forget --dry-run`). Deletes nothing and needs no Temporal. Archived WAL is not listed: a region
 * can hold hundreds of thousands of files; `retention apply --dry-run` counts them.
 */
export async function retentionShowCommand(config: Config, options: RetentionShowOptions, out: Output): Promise<void> {
  if (options.source !== undefined && !(options.source in config.sources)) {
    throw usage(`no source "${options.source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ') || '(none)'}`);
  }
  if (options.region !== undefined && !(options.region in config.regions)) {
    throw usage(`no region "${options.region}" in the config`, `regions are: ${Object.keys(config.regions).join(', ')}`);
  }
  const retention = retentionActivities(createDeps(config));
  const at = new Date().toISOString();
  const result: RetentionShowResult = { at, listing: options.verifyListing ? 'full' : 'journal', sources: [], unmanaged: [] };
  const names = options.source !== undefined ? [options.source] : Object.keys(config.sources);
  // Read four sources at once, shown in the config's order.
  const works = await inBatches(names, (name) => retention.planSource(name, at, { listing: options.verifyListing ? 'full' : 'journal' }), 4);
  for (const [index, name] of names.entries()) {
    const work = works[index];
    if (!work) {
      result.unmanaged.push(name);
      continue;
    }
    const inRegion = <T extends { region: string }>(items: T[]) => items.filter((i) => options.region === undefined || i.region === options.region);
    result.sources.push({
      source: name,
      blocked: work.plan.blocked,
      regions: inRegion(work.plan.regions).map((r) => ({
        region: r.region, rules: r.rules,
        kept: r.decisions.filter((d) => d.action === 'keep').length, deleted: r.decisions.filter((d) => d.action === 'delete').length,
        decisions: r.decisions,
      })),
      orphans: inRegion(work.orphans),
      locks: inRegion(work.extendLocks),
      untrusted: inRegion(work.untrusted),
    });
  }
  out.result(result, describe(result));
}

function describe(result: RetentionShowResult): string {
  const lines = [`retention plan at ${result.at}: nothing is deleted by this command`];
  for (const source of result.sources) {
    lines.push('', source.source + (source.blocked ? `: BLOCKED, ${source.blocked} (nothing of it would be deleted)` : ''));
    for (const region of source.regions) {
      lines.push(`  ${region.region} (${region.rules}): ${region.kept} kept, ${region.deleted} would go`);
      for (const d of region.decisions) lines.push(`    ${(d.action === 'keep' ? 'keep' : 'would delete').padEnd(12)}  ${d.id}  ${d.reasons.join('; ')}`);
    }
    for (const orphan of source.orphans) {
      lines.push(`  ${'orphan'.padEnd(14)}${orphan.region} ${orphan.id}  ${orphan.objects} object(s) without a manifest: ${orphan.action === 'remove' ? 'would remove' : `left: ${orphan.reason}`}`);
    }
    for (const lock of source.locks) lines.push(`  ${'lock'.padEnd(14)}${lock.region} ${lock.id}  Object Lock would be extended until ${lock.until}`);
    for (const item of source.untrusted) lines.push(`  ${'UNTRUSTED'.padEnd(14)}${item.region} ${item.key}  ${item.reason}: never counted as a copy, never deleted`);
  }
  if (result.unmanaged.length > 0) lines.push('', `no retention rules, never pruned: ${result.unmanaged.join(', ')}`);
  if (result.listing === 'journal') lines.push('', 'read from the signed catalog index and its changes; data without a manifest is looked for with --verify-listing');
  return lines.join('\n');
}
