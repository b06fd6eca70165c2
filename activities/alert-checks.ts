import { parseDuration } from '../lib/config/duration';
import { listBackups, newestTrusted, refreshing } from './catalog';
import type { Deps } from './deps';

export interface BackupAssessment {
  /** alerts.successDigest: report this success too. */
  successDigest: boolean;
  /** Set when the size moved more than alerts.sizeChangePercent from the previous comparable backup. */
  sizeChange: { previousId: string; previousBytes: number; bytes: number; percent: number; thresholdPercent: number } | null;
}

export interface NewestBackup {
  source: string;
  /** Where the source's backups are made. */
  home: string;
  newest: { id: string; region: string; finishedAt: string } | null;
  /** Regions whose catalog could not be read: the newest backup may be there. */
  unreadable: string[];
  /** Manifests newer than the newest trusted one that no trusted key signed: what a forger would plant as "latest". */
  untrusted: Array<{ region: string; key: string; reason: string }>;
}

export interface ObjectivesReport {
  rpoMs: number | null;
  sources: NewestBackup[];
}

export function alertCheckActivities(deps: Deps) {
  /**
   * What to say about a backup that just got its manifest. Sizes are compared like with like:
   * a full with the previous full, an increment with the previous increment, because a files
   * increment is a small fraction of its full by design.
   */
  async function assessBackup({ source, backupId }: { source: string; backupId: string }): Promise<BackupAssessment> {
    const { alerts } = deps.config;
    const storage = deps.storage(deps.source(source).config.region);
    const all = await listBackups(storage, deps.trusted, source, refreshing(deps));
    const index = all.findIndex((entry) => entry.manifest.id === backupId);
    const current = all[index]?.manifest;
    if (!current) return { successDigest: alerts.successDigest, sizeChange: null };
    const bytesOf = (m: typeof current) => m.objects.reduce((sum, o) => sum + o.size, 0);
    const previous = all.slice(0, index).reverse().map((entry) => entry.manifest).find((m) => (m.parent === null) === (current.parent === null));
    if (!previous) return { successDigest: alerts.successDigest, sizeChange: null };
    const bytes = bytesOf(current);
    const previousBytes = bytesOf(previous);
    const percent = previousBytes === 0 ? (bytes === 0 ? 0 : 100) : ((bytes - previousBytes) / previousBytes) * 100;
    const sizeChange = Math.abs(percent) > alerts.sizeChangePercent
      ? { previousId: previous.id, previousBytes, bytes, percent: Math.round(percent * 10) / 10, thresholdPercent: alerts.sizeChangePercent }
      : null;
    return { successDigest: alerts.successDigest, sizeChange };
  }

  /**
   * The newest backup of every configured source in any region, for the RPO check. Backup ids
   * sort by start time, so only the listing and one manifest per source and region are read.
   */
  async function newestBackups(): Promise<ObjectivesReport> {
    const { config } = deps;
    const regions = Object.keys(config.regions);
    const sources = await Promise.all(Object.entries(config.sources).map(async ([source, sourceConfig]): Promise<NewestBackup> => {
      let newest: NewestBackup['newest'] = null;
      const unreadable: string[] = [];
      const untrusted: NewestBackup['untrusted'] = [];
      await Promise.all(regions.map(async (region) => {
        try {
          const found = await newestTrusted(deps.storage(region), deps.trusted, source);
          untrusted.push(...found.untrusted.map((item) => ({ region, ...item })));
          const entry = found.entry?.manifest;
          if (entry && (!newest || entry.finishedAt > newest.finishedAt)) newest = { id: entry.id, finishedAt: entry.finishedAt, region };
        } catch {
          unreadable.push(region);
        }
      }));
      return { source, home: sourceConfig.region, newest, unreadable: unreadable.sort(), untrusted };
    }));
    return { rpoMs: config.objectives ? parseDuration(config.objectives.rpo) : null, sources };
  }

  return { assessBackup, newestBackups };
}
