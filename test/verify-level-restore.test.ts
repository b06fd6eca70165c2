import { trusted } from './support/signing';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { readAll, type StorageBackend } from '../activities/storage/backend';
import { parseConfig } from '../lib/config/load';
import { createSampleDatabase, withClient } from '../scripts/sample-db';
import { scratchDirectory } from '../activities/verify/scratch';
import { verifyWorkflowId } from '../lib/workflow-ids';
import { verifyProgressQuery, type VerifyResult } from '../workflows/verify-restore';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { runVerify, verifyRecords } from './support/verify';
import { failureOf, startHarness, type Harness } from './support/workers';
import { replaceObject } from './support/tamper';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

describe('verifyRestore at the restore level, and lifeboat verify', () => {
  let fixture: Fixture;
  let harness: Harness;
  let stockholm: StorageBackend;
  let tree: string;
  let bulky: string;

  const cli = (args: string[]) => execa(lifeboat, ['--config', fixture.configFile, ...args], { env: fixture.env, reject: false });
  const scratchDatabases = () => withClient(pg, 'postgres', async (client) =>
    (await client.query<{ datname: string }>("select datname from pg_database where datname like 'lifeboat_verify_%'")).rows.map((r) => r.datname));

  beforeAll(async () => {
    await createSampleDatabase(pg, 'verify_orders');
    tree = mkdtempSync(join(tmpdir(), 'lifeboat-verify-cli-'));
    writeFileSync(join(tree, 'a.bin'), randomBytes(100_000));
    // Large enough that its restore lasts a few seconds: long enough to cancel it half-way.
    bulky = mkdtempSync(join(tmpdir(), 'lifeboat-verify-bulky-'));
    for (let i = 0; i < 8; i++) writeFileSync(join(bulky, `part-${i}.bin`), randomBytes(8_000_000));
    fixture = await makeFixture(servers, (ctx) => ({
      'orders-db': ctx.postgres('verify_orders', { verify: { checks: [{ sql: 'select count(*) from customers', expect: '> 0' }] } }),
      notes: { kind: 'files', region: 'stockholm', path: tree },
      bulky: { kind: 'files', region: 'stockholm', path: bulky },
    }), { sync: { afterBackup: false } });
    // The restore-test server is the test cluster itself; its password by the same reference as the source's.
    const document = parse(readFileSync(fixture.configFile, 'utf8')) as { regions: Record<string, Record<string, unknown>> };
    const passwordEnv = Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_'))!;
    document.regions.stockholm!.verify = { target: { postgres: { url: `postgres://${servers.postgres.user}@127.0.0.1:${servers.postgres.port}/postgres`, passwordEnv } } };
    writeFileSync(fixture.configFile, stringify(document));
    fixture = { ...fixture, config: parseConfig(readFileSync(fixture.configFile, 'utf8'), fixture.configFile) };
    harness = await startHarness(fixture.config);
    stockholm = createDeps(fixture.config).storage('stockholm');
    await runBackup(harness.client, fixture.config, 'orders-db');
    await runBackup(harness.client, fixture.config, 'notes');
    await runBackup(harness.client, fixture.config, 'bulky');
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
    rmSync(tree, { recursive: true, force: true });
    rmSync(bulky, { recursive: true, force: true });
  });

  it('restores the newest PostgreSQL backup into a scratch database, passes, records the restore time, and drops it', async () => {
    const before = await scratchDatabases();
    const [entry] = await listBackups(stockholm, trusted, 'orders-db');
    const result = await runVerify(harness.client, fixture.config, { source: 'orders-db', region: 'stockholm', level: 'restore' });
    expect(result.outcome).toBe('passed');
    const [region] = result.regions;
    expect(region).toMatchObject({ region: 'stockholm', backupId: entry!.manifest.id, level: 'restore', outcome: 'passed' });
    expect(region!.restoreMs).toBeGreaterThan(0);
    expect(region!.checks.some((c) => c.name.startsWith('manifest chain'))).toBe(true);
    expect(region!.checks.length).toBeGreaterThan(region!.checks.filter((c) => c.name.startsWith('object ') || c.name.startsWith('manifest chain')).length);

    const [record] = await verifyRecords(stockholm, 'orders-db', entry!.manifest.id);
    expect(record).toMatchObject({ level: 'restore', outcome: 'passed', restoreMs: region!.restoreMs });
    expect(record!.tools).toHaveProperty('pg_restore');
    expect(await scratchDatabases()).toEqual(before);
  });

  it('lifeboat verify --wait prints one row per region and exits 0 when every copy passed', async () => {
    const run = await cli(['verify', 'notes', '--region', 'stockholm', '--wait']);
    expect(run.exitCode).toBe(0);
    const [header, row] = run.stdout.split('\n');
    expect(header).toMatch(/^REGION\s+BACKUP\s+LEVEL\s+OUTCOME\s+RESTORE\s+CHECKS$/);
    expect(row).toMatch(/^stockholm\s+\S+\s+integrity\s+PASSED\s+-\s+\d+\/\d+ ok$/);
    expect(run.stderr).toContain('started integrity verification of notes');
  });

  it('lifeboat verify --json prints the failed checks and exits 14 when a copy is damaged', async () => {
    const [entry] = await listBackups(stockholm, trusted, 'notes');
    const object = entry!.manifest.objects[0]!;
    const bytes = await readAll(await stockholm.get(object.key));
    bytes[bytes.length - 1]! ^= 0xff;
    await replaceObject(stockholm, object.key, bytes);

    const run = await cli(['--json', 'verify', 'notes', '--region', 'stockholm', '--wait']);
    expect(run.exitCode).toBe(14);
    const result = JSON.parse(run.stdout) as VerifyResult;
    expect(result.outcome).toBe('failed');
    expect(result.regions[0]!.checks.find((c) => !c.ok)).toMatchObject({ name: `object ${object.key}` });

    const text = await cli(['verify', 'notes', '--region', 'stockholm', '--wait']);
    expect(text.exitCode).toBe(14);
    expect(text.stdout).toContain(`FAILED stockholm object ${object.key}: `);
  });

  it('removes the scratch directory when the run is cancelled during the restore', async () => {
    const handle = await harness.client.workflow.start('verifyRestore', {
      args: [{ source: 'bulky', region: 'stockholm', level: 'restore' }],
      workflowId: verifyWorkflowId(fixture.config.temporal.taskQueuePrefix, 'bulky'),
      taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
    await expect.poll(async () => (await handle.query(verifyProgressQuery)).stockholm?.step, { timeout: 60_000, interval: 50 }).toBe('restore');
    // The same name the workflow derives from its run and region.
    const scratch = scratchDirectory(fixture.config, 'stockholm', `v${handle.firstExecutionRunId.replace(/-/g, '').slice(-12)}-stockholm`);
    await expect.poll(() => existsSync(scratch), { timeout: 20_000, interval: 20 }).toBe(true);
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(existsSync(scratch)).toBe(false);
    expect(await verifyRecords(stockholm, 'bulky', (await listBackups(stockholm, trusted, 'bulky'))[0]!.manifest.id)).toEqual([]);
  });

  it('fails with Config, and records nothing, in a region without a scratch PostgreSQL server', async () => {
    await harness.client.workflow.execute('syncRegions', { args: [{ source: 'orders-db' }], workflowId: `test-verify-sync-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm` });
    const gothenburg = createDeps(fixture.config).storage('gothenburg');
    const [entry] = await listBackups(gothenburg, trusted, 'orders-db');

    const failure = await failureOf(runVerify(harness.client, fixture.config, { source: 'orders-db', region: 'gothenburg', level: 'restore' }));
    expect(failure.type).toBe('Config');
    expect(failure.message).toContain('regions.gothenburg.verify.target.postgres is not set');
    expect(await verifyRecords(gothenburg, 'orders-db', entry!.manifest.id)).toEqual([]);
  });
});
