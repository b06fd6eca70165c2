import { Gauge, type Registry } from 'prom-client';
import { catalogFacts, type BackupFacts } from '../../activities/catalog-facts';
import type { StorageBackend } from '../../activities/storage/backend';
import { walFacts, type WalFacts } from '../../activities/wal/facts';
import { parseDuration } from '../../lib/config/duration';
import type { Config } from '../../lib/config/schema';
import { trustedKeys } from '../../lib/signing';

// Per-source and per-region gauges, read from the catalogs (the manifests in each region's
// storage) every metrics.catalogInterval. Any worker in any region reports the same values, so
// Prometheus rules aggregate them with max by (source, region) and a dead worker hides nothing.

const seconds = (iso: string) => Date.parse(iso) / 1000;

export interface CatalogGauges {
  /** Reads every region once; a region that fails keeps its last values and lifeboat_catalog_up 0. */
  refresh(): Promise<void>;
}

export function catalogGauges(config: Config, storage: (region: string) => StorageBackend, registry: Registry): CatalogGauges {
  const gauge = (name: string, help: string, labelNames: string[]) => new Gauge({ name, help, labelNames, registers: [registry] });
  const perBackup = ['source', 'region'];
  const lastSuccess = gauge('lifeboat_backup_last_success_timestamp_seconds', 'Finish time of the newest backup of the source present in the region (Unix seconds).', perBackup);
  const lastDuration = gauge('lifeboat_backup_last_duration_seconds', 'How long the newest backup of the source in the region took, snapshot start to upload end.', perBackup);
  const lastSize = gauge('lifeboat_backup_last_size_bytes', 'Stored size of the newest backup of the source in the region (all its objects).', perBackup);
  const stored = gauge('lifeboat_backup_stored_bytes', 'Bytes stored for the source in the region: the sizes of every object of every backup, as the manifests record them.', perBackup);
  const count = gauge('lifeboat_backups', 'Backups of the source present in the region.', perBackup);
  const lag = gauge('lifeboat_sync_lag_seconds',
    'How far the region is behind the source\'s own region: finish time of the newest backup there minus the newest here; with no copy here, the age of the oldest backup there.', perBackup);
  const up = gauge('lifeboat_catalog_up', '1 when the last read of the region\'s catalog succeeded, else 0.', ['region']);
  const readAt = gauge('lifeboat_catalog_last_read_timestamp_seconds', 'When the region\'s catalog was last read successfully (Unix seconds).', ['region']);
  const info = gauge('lifeboat_source_info', 'One series per configured source (value 1), so rules see a source that has no backup at all.', ['source', 'kind', 'home_region']);
  const rpo = gauge('lifeboat_objective_rpo_seconds', 'objectives.rpo from the config: the newest backup of every source must be younger.', []);
  const perLevel = ['source', 'region', 'level'];
  const verifyLast = gauge('lifeboat_verify_last_timestamp_seconds', 'When the newest verification of the source\'s backups in the region finished, per level (integrity, restore; Unix seconds).', perLevel);
  const verifySuccess = gauge('lifeboat_verify_last_success', '1 when the newest verification of the source\'s backups in the region passed, 0 when it failed, per level.', perLevel);
  const verifyRestore = gauge('lifeboat_verify_restore_duration_seconds', 'How long the newest passed restore-level verification in the region took to restore: the measured RTO.', perBackup);
  const verifiedBackup = gauge('lifeboat_verified_backup_timestamp_seconds', 'Finish time of the newest backup of the source that passed a verification in the region (Unix seconds).', perBackup);
  const verifyConfigured = gauge('lifeboat_verify_configured', 'One series per source with verify schedules in the config (value 1), so rules see a source that was never verified.', ['source']);
  const lagThreshold = gauge('lifeboat_sync_lag_threshold_seconds', 'sync.lagThreshold from the config.', []);
  const walLast = gauge('lifeboat_wal_last_segment_timestamp_seconds', 'When the newest archived WAL segment of the source arrived in the region (Unix seconds): now minus this is the real RPO of point-in-time recovery.', perBackup);
  const walGaps = gauge('lifeboat_wal_gap_segments', 'WAL segments missing in the region after the start of the newest base backup there; absent without a base backup.', perBackup);

  for (const [source, sourceConfig] of Object.entries(config.sources)) info.set({ source, kind: sourceConfig.kind, home_region: sourceConfig.region }, 1);
  for (const [source, sourceConfig] of Object.entries(config.sources)) {
    if (sourceConfig.verify?.integrity ?? sourceConfig.verify?.restore) verifyConfigured.set({ source }, 1);
  }
  if (config.objectives) rpo.set(parseDuration(config.objectives.rpo) / 1000);
  lagThreshold.set(parseDuration(config.sync.lagThreshold) / 1000);

  const regions = Object.keys(config.regions);
  const trusted = trustedKeys(config.catalog.trustedKeys);
  const readers = new Map(regions.map((region) => [region, catalogFacts(storage(region), trusted)]));
  const latest = new Map<string, BackupFacts[]>();
  const walSources = Object.entries(config.sources).filter(([, s]) => s.kind === 'postgres' && s.wal).map(([name]) => name);
  const walReaders = new Map(walSources.flatMap((source) => regions.map((region) => [`${source}\n${region}`, walFacts(storage(region), trusted, source)] as const)));
  const walLatest = new Map<string, WalFacts>();
  let running: Promise<void> | undefined;

  async function readAll(): Promise<void> {
    await Promise.all(regions.map(async (region) => {
      try {
        latest.set(region, await readers.get(region)!());
        up.set({ region }, 1);
        readAt.set({ region }, Date.now() / 1000);
      } catch {
        up.set({ region }, 0);
      }
    }));
    // A region that cannot be read keeps its last WAL values, like its catalog gauges.
    await Promise.all([...walReaders].map(async ([key, read]) => {
      try {
        walLatest.set(key, await read());
      } catch {
        // lifeboat_catalog_up says the region is unreadable.
      }
    }));
    publish();
  }

  function publish(): void {
    for (const g of [lastSuccess, lastDuration, lastSize, stored, count, lag, verifyLast, verifySuccess, verifyRestore, verifiedBackup, walLast, walGaps]) g.reset();
    for (const [key, facts] of walLatest) {
      const [source, region] = key.split('\n') as [string, string];
      if (facts.newestAt !== null) walLast.set({ source, region }, facts.newestAt / 1000);
      if (facts.gapSegments !== null) walGaps.set({ source, region }, facts.gapSegments);
    }
    const newest = (region: string, source: string) => latest.get(region)?.filter((b) => b.source === source);
    for (const [source, sourceConfig] of Object.entries(config.sources)) {
      const home = newest(sourceConfig.region, source) ?? [];
      for (const region of regions) {
        const backups = newest(region, source);
        if (!backups) continue;
        const labels = { source, region };
        count.set(labels, backups.length);
        stored.set(labels, backups.reduce((sum, b) => sum + b.bytes, 0));
        const last = backups.at(-1);
        if (last) {
          lastSuccess.set(labels, seconds(last.finishedAt));
          lastDuration.set(labels, seconds(last.finishedAt) - seconds(last.startedAt));
          lastSize.set(labels, last.bytes);
        }
        publishVerifications(labels, backups);
        const homeNewest = home.at(-1);
        if (!homeNewest) continue;
        lag.set(labels, last
          ? Math.max(0, seconds(homeNewest.finishedAt) - seconds(last.finishedAt))
          : Math.max(0, Date.now() / 1000 - seconds(home[0]!.finishedAt)));
      }
    }
  }

  function publishVerifications(labels: { source: string; region: string }, backups: BackupFacts[]): void {
    const all = backups.flatMap((b) => b.verifications).sort((a, b) => a.at.localeCompare(b.at));
    for (const level of ['integrity', 'restore'] as const) {
      const newest = all.filter((v) => v.level === level).at(-1);
      if (!newest) continue;
      verifyLast.set({ ...labels, level }, seconds(newest.at));
      verifySuccess.set({ ...labels, level }, newest.outcome === 'passed' ? 1 : 0);
    }
    const restore = all.filter((v) => v.level === 'restore' && v.outcome === 'passed' && v.restoreMs !== null).at(-1);
    if (restore) verifyRestore.set(labels, restore.restoreMs! / 1000);
    // backups are oldest first: the last with a passed record is the newest verified.
    const verified = backups.filter((b) => b.verifications.some((v) => v.outcome === 'passed')).at(-1);
    if (verified) verifiedBackup.set(labels, seconds(verified.finishedAt));
  }

  return {
    refresh() {
      // One read at a time: a slow region must not pile up reads behind it.
      running ??= readAll().finally(() => { running = undefined; });
      return running;
    },
  };
}
