import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeps } from '../activities/deps';
import type { StorageBackend } from '../activities/storage/backend';
import { parseConfig } from '../lib/config/load';
import type { Config } from '../lib/config/schema';
import { keys } from '../lib/manifest';
import { catalogGauges, type CatalogGauges } from '../worker/metrics/catalog';
import { plantManifest, testPublicKey } from './support/signing';
import { plantRecord, verifyRecord } from './support/verify-records';

// The verification gauges come from the records in the catalogs, like the backup gauges come
// from the manifests; local-directory regions are enough to show it.

describe('the verification gauges read from the catalogs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-verify-metrics-'));
  let config: Config;
  let gauges: CatalogGauges;
  let storage: (region: string) => StorageBackend;
  const registry = new Registry();
  const at = (hour: number) => `2026-11-24T${String(hour).padStart(2, '0')}:00:00.000Z`;
  const unix = (hour: number) => Date.parse(at(hour)) / 1000;
  const value = async (name: string, labels: Record<string, string>) =>
    (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;

  async function plantBackup(region: string, id: string, hour: number): Promise<void> {
    const key = keys.object('app-db', id, 'dump');
    await storage(region).put(key, Buffer.from('data'));
    await plantManifest(storage(region), {
      id, source: 'app-db', kind: 'postgres', region, finishedAt: at(hour),
      objects: [{ key, role: 'data', content: 'x', size: 4, sha256: '0'.repeat(64) }],
    });
  }

  beforeAll(async () => {
    config = parseConfig(`
primaryRegion: stockholm
regions:
  stockholm: { storage: { type: local, path: ${join(dir, 'sto')} } }
  malmo: { storage: { type: local, path: ${join(dir, 'mal')} } }
encryption: { recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p] }
catalog: { trustedKeys: [${testPublicKey}] }
sources:
  app-db: { kind: postgres, region: stockholm, url: "postgres://app@127.0.0.1:5432/app", verify: { restore: { cron: "0 4 * * 0" } } }
  cache: { kind: redis, region: stockholm, url: "redis://127.0.0.1:6379" }
`, 'inline');
    const deps = createDeps(config);
    storage = (region) => deps.storage(region);
    gauges = catalogGauges(config, storage, registry);
    await plantBackup('stockholm', 'b1', 1);
    await plantBackup('stockholm', 'b2', 5);
    await plantBackup('malmo', 'b1', 1);
    const base = { source: 'app-db', region: 'stockholm' } as const;
    await plantRecord(storage('stockholm'), verifyRecord({ ...base, backupId: 'b1', level: 'restore', outcome: 'passed', finishedAt: at(2), restoreMs: 41_000 }));
    await plantRecord(storage('stockholm'), verifyRecord({ ...base, backupId: 'b1', level: 'integrity', outcome: 'passed', finishedAt: at(3) }));
    await plantRecord(storage('stockholm'), verifyRecord({ ...base, backupId: 'b2', level: 'restore', outcome: 'failed', finishedAt: at(6) }));
    await gauges.refresh();
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports the newest verification per level: when it finished and whether it passed', async () => {
    const labels = { source: 'app-db', region: 'stockholm' };
    expect(await value('lifeboat_verify_last_timestamp_seconds', { ...labels, level: 'restore' })).toBe(unix(6));
    expect(await value('lifeboat_verify_last_success', { ...labels, level: 'restore' })).toBe(0);
    expect(await value('lifeboat_verify_last_timestamp_seconds', { ...labels, level: 'integrity' })).toBe(unix(3));
    expect(await value('lifeboat_verify_last_success', { ...labels, level: 'integrity' })).toBe(1);
  });

  it('reports the newest passed restore\'s duration and the newest verified backup, not the failed one', async () => {
    const labels = { source: 'app-db', region: 'stockholm' };
    expect(await value('lifeboat_verify_restore_duration_seconds', labels)).toBe(41);
    expect(await value('lifeboat_verified_backup_timestamp_seconds', labels)).toBe(unix(1));
  });

  it('reports nothing for a region where nothing was verified, and marks only sources with verify schedules', async () => {
    expect(await value('lifeboat_verify_last_success', { region: 'malmo' })).toBeUndefined();
    expect(await value('lifeboat_verified_backup_timestamp_seconds', { region: 'malmo' })).toBeUndefined();
    expect(await value('lifeboat_verify_configured', { source: 'app-db' })).toBe(1);
    expect(await value('lifeboat_verify_configured', { source: 'cache' })).toBeUndefined();
  });

  it('follows a new record on the next read, and forgets records deleted with their backup', async () => {
    await plantRecord(storage('stockholm'), verifyRecord({ source: 'app-db', region: 'stockholm', backupId: 'b2', level: 'restore', outcome: 'passed', finishedAt: at(7), restoreMs: 30_000 }));
    await gauges.refresh();
    const labels = { source: 'app-db', region: 'stockholm' };
    expect(await value('lifeboat_verify_last_success', { ...labels, level: 'restore' })).toBe(1);
    expect(await value('lifeboat_verify_restore_duration_seconds', labels)).toBe(30);
    expect(await value('lifeboat_verified_backup_timestamp_seconds', labels)).toBe(unix(5));
    for await (const object of storage('stockholm').list('app-db/b2/')) await storage('stockholm').remove(object.key);
    await gauges.refresh();
    expect(await value('lifeboat_verify_last_timestamp_seconds', { ...labels, level: 'restore' })).toBe(unix(2));
    expect(await value('lifeboat_verified_backup_timestamp_seconds', labels)).toBe(unix(1));
  });
});
