import { createDeps } from '../../activities/deps';
import { mapVerifiedBackups } from '../../activities/catalog';
import { summarize, type VerifiedSummary } from '../../activities/verify-catalog';
import type { Config } from '../../lib/config/schema';
import { brief } from '../../lib/manifest';
import { bytes, table, type Output, usage } from '../output';
import { verifiedText } from './verified-text';

export interface CatalogRow {
  id: string;
  source: string;
  kind: string;
  region: string;
  created: string;
  bytes: number;
  sha256: string;
  /** The newest verification of this copy (this region's records); null when never verified here. */
  verified: VerifiedSummary | null;
  /** The backup an increment builds on; null for a full backup or a dump. */
  parent: string | null;
  /** "12 tables", "2345 keys", "1200 files (increment 2)". */
  contents: string;
  previousManifestSha256: string | null;
}

/** Reads the manifests straight from storage: the catalog must work with Temporal down. */
export async function backupsListCommand(config: Config, options: { source?: string; region?: string; verifyListing?: boolean }, out: Output): Promise<void> {
  if (options.region && !(options.region in config.regions)) throw usage(`no region "${options.region}" in the config`);
  const deps = createDeps(config);
  const regions = options.region ? [options.region] : Object.keys(config.regions);
  // Every region read at once: with a region far away, the listing waits for the slowest, not for the sum.
  // The signed index and its changes, unless asked to list every object (README, "The catalog index").
  // Each backup becomes its row as its source is read: the manifests are not all held at once.
  const listing = options.verifyListing ? 'full' : 'journal';
  const catalogs = await Promise.all(regions.map((region) => mapVerifiedBackups(deps.storage(region), deps.trusted, options.source, { listing }, ({ manifest, records }): CatalogRow => ({
    id: manifest.id,
    source: manifest.source,
    kind: manifest.kind,
    region,
    created: manifest.finishedAt,
    bytes: manifest.objects.reduce((sum, object) => sum + object.size, 0),
    sha256: manifest.objects[0]!.sha256,
    verified: summarize(records.at(-1)),
    parent: manifest.parent,
    contents: brief(manifest.description),
    previousManifestSha256: manifest.previousManifestSha256,
  }))));
  const rows: CatalogRow[] = [];
  for (const [index, region] of regions.entries()) {
    const catalog = catalogs[index]!;
    // Shown, never listed as a backup: a forged manifest must not look restorable.
    for (const item of catalog.untrusted) out.note(`UNTRUSTED ${region} ${item.key}: ${item.reason}`);
    for (const row of catalog.entries) rows.push(row);
  }
  const now = Date.now();
  const text = rows.length === 0
    ? 'no backups'
    : table([
        ['ID', 'SOURCE', 'KIND', 'REGION', 'CREATED', 'SIZE', 'SHA256', 'HOLDS', 'CHAIN', 'VERIFIED'],
        ...rows.map((r) => [r.id, r.source, r.kind, r.region, r.created.replace(/\.\d+Z$/, 'Z'), bytes(r.bytes), r.sha256.slice(0, 12), r.contents,
          r.parent ? `on ${r.parent}` : '-', verifiedText(r.verified, now)]),
      ]);
  out.result(rows, text);
}
