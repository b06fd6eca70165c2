import { indexState, listSources, readSourceCatalog } from '../../activities/catalog-index';
import { createDeps } from '../../activities/deps';
import type { Config } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { table, type Output, usage } from '../output';

export interface RebuildRow {
  region: string;
  source: string;
  backups: number;
  records: number;
  /** Manifests and records no trusted key signed: left out of the index, reported by every listing. */
  untrusted: number;
  /** What the old index was: used, absent, or ignored and why. */
  previous: string;
}

/**
 * Writes each source's index afresh from its manifests and verify records, every one read and
 * judged: after restoring a bucket from elsewhere, or whenever listings seem to disagree with the
 * objects. The index is only ever a cache of what the manifests say, so this is always safe.
 */
export async function catalogRebuildCommand(config: Config, options: { source?: string; region?: string }, out: Output): Promise<void> {
  if (options.region && !(options.region in config.regions)) throw usage(`no region "${options.region}" in the config`, `regions are: ${Object.keys(config.regions).join(', ')}`);
  if (options.source && !(options.source in config.sources)) throw usage(`no source "${options.source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ')}`);
  const deps = createDeps(config);
  const signer = deps.signer();
  const rows: RebuildRow[] = [];
  for (const region of options.region ? [options.region] : Object.keys(config.regions)) {
    const storage = deps.storage(region);
    const listed = await listSources(storage, options.source);
    // A configured source without a backup here still gets an (empty) index: the next listing reads nothing.
    for (const source of options.source ? [options.source] : Object.keys(config.sources)) listed.set(source, listed.get(source) ?? []);
    for (const [source, listing] of listed) {
      // Asked before the rewrite, and without reading the catalog a second time.
      const previous = await indexState(storage, deps.trusted, source);
      const rebuilt = await readSourceCatalog(storage, deps.trusted, source, listing, { refresh: signer, rewrite: true, ignoreIndex: true });
      rows.push({
        region, source, backups: rebuilt.entries.length, records: [...rebuilt.records.values()].reduce((sum, list) => sum + list.length, 0),
        untrusted: rebuilt.untrustedManifests.length + rebuilt.untrustedRecords.length, previous,
      });
    }
  }
  out.result(rows, table([['REGION', 'SOURCE', 'BACKUPS', 'RECORDS', 'UNTRUSTED', 'OLD INDEX'], ...rows.map((r) => [r.region, r.source, String(r.backups), String(r.records), String(r.untrusted), r.previous])]));
  const untrusted = rows.reduce((sum, row) => sum + row.untrusted, 0);
  if (untrusted > 0) {
    throw new LifeboatError('Untrusted', `${untrusted} manifest(s) or verify record(s) are not trusted and were left out of the index`,
      'they are never restored; "lifeboat backups list" names them and why: find out who wrote them');
  }
}
