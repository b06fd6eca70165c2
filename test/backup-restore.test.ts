import { trusted } from './support/signing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import type { BackupSummary } from '../workflows/backup-source';
import type { RestoreResult } from '../activities/restore';
import type { PostgresDescription } from '../lib/manifest';
import { createSampleDatabase, tableFingerprints, withClient } from '../scripts/sample-db';
import { makeFixture, type Fixture } from './support/fixture';
import { historyText } from './support/secret-scan';
import { startHarness, type Harness } from './support/workers';
import { decrypted } from './support/codec';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };

describe('a PostgreSQL backup through the backupSource workflow', () => {
  let fixture: Fixture;
  let harness: Harness;
  let summary: BackupSummary;

  beforeAll(async () => {
    await createSampleDatabase(pg, 'shop');
    fixture = await makeFixture(servers, (ctx) => ({ 'app-db': ctx.postgres('shop') }));
    harness = await startHarness(fixture.config);
    summary = await harness.client.workflow.execute('backupSource', {
      args: [{ source: 'app-db' }], workflowId: `test-backup-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
  });

  it('stores one encrypted object and a manifest whose hash and size match it', async () => {
    const storage = createDeps(fixture.config).storage('stockholm');
    const entries = await listBackups(storage, trusted, 'app-db');
    expect(entries).toHaveLength(1);
    const manifest = entries[0]!.manifest;
    expect(manifest.id).toBe(summary.backupId);
    expect(manifest.objects[0]).toMatchObject({ key: summary.key, size: summary.bytes, sha256: summary.sha256 });
    expect(manifest.encryption.recipients).toEqual([fixture.key.recipient]);
    expect(manifest.previousManifestSha256).toBeNull();
    expect(manifest.tools.pg_dump).toMatch(/pg_dump \(PostgreSQL\) 15/);
    expect(manifest.description).toMatchObject({ kind: 'postgres', serverVersion: expect.stringMatching(/^15\./) });
    const stat = await storage.stat(summary.key);
    expect(stat?.size).toBe(summary.bytes);
  });

  it('records exact row counts per table taken in the dump\'s own snapshot', async () => {
    const storage = createDeps(fixture.config).storage('stockholm');
    const [entry] = await listBackups(storage, trusted, 'app-db');
    const description = entry!.manifest.description as PostgresDescription;
    const counts = Object.fromEntries(description.tables.map((t) => [`${t.schema}.${t.name}`, t.rows]));
    const expected = await tableFingerprints(pg, 'shop');
    expect(counts).toEqual(Object.fromEntries(Object.entries(expected).map(([table, f]) => [table, f.rows])));
    expect(counts['public.orders']).toBe(10_000);
  });

  it('restores into a new database that equals the source table by table', async () => {
    const result: RestoreResult = await harness.client.workflow.execute('restoreBackup', {
      args: [{ source: 'app-db', region: 'stockholm', backupId: 'latest', target: `postgres://postgres@127.0.0.1:${servers.postgres.port}/shop_restored`, targetPasswordEnv: Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_')), clean: false, noOwner: false }],
      workflowId: `test-restore-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
    expect(result.backupId).toBe(summary.backupId);
    expect(result.checked).toBe('5 of 5 tables have exactly the row counts recorded in the manifest');
    expect(await tableFingerprints(pg, 'shop_restored')).toEqual(await tableFingerprints(pg, 'shop'));
    const view = await withClient(pg, 'shop_restored', (c) => c.query('select count(*)::int as n from order_totals'));
    expect(view.rows[0].n).toBe(2000);
  });

  it('keeps every secret out of Temporal history and out of the manifest', async () => {
    const secrets = [servers.postgres.password, ...Object.values(servers.s3).map((s) => s.secretAccessKey)];
    const histories: string[] = [];
    for await (const run of harness.client.workflow.list({ query: `TaskQueue = '${fixture.config.temporal.taskQueuePrefix}stockholm'` })) {
      // historyText decodes payload bytes; JSON.stringify would write them as base64, hiding any secret.
      histories.push(historyText(await decrypted(harness.client, await harness.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory())));
    }
    expect(histories.length).toBeGreaterThanOrEqual(2);
    const storage = createDeps(fixture.config).storage('stockholm');
    const manifests = (await listBackups(storage, trusted, 'app-db')).map((e) => JSON.stringify(e.manifest));
    for (const text of [...histories, ...manifests]) {
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
  });

  it('chains the second backup\'s manifest to the first', async () => {
    const second: BackupSummary = await harness.client.workflow.execute('backupSource', {
      args: [{ source: 'app-db' }], workflowId: `test-backup2-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
    const entries = await listBackups(createDeps(fixture.config).storage('stockholm'), trusted, 'app-db');
    expect(entries.map((e) => e.manifest.id)).toEqual([summary.backupId, second.backupId]);
    expect(entries[1]!.manifest.previousManifestSha256).toBe(entries[0]!.manifestSha256);
  });
});
