import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { backupWorkflowId } from '../lib/workflow-ids';
import type { scheduledBackup } from '../workflows/scheduled-backup';
import { createNoiseDatabase, createSampleDatabase, pgUrl, tableFingerprints } from '../scripts/sample-db';
import { makeFixture, type Fixture } from './support/fixture';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

describe('the lifeboat CLI', () => {
  let fixture: Fixture;
  let harness: Harness;
  let passwordEnv: string;
  const cli = (args: string[], env: Record<string, string> = {}) =>
    execa(lifeboat, ['--config', fixture.configFile, ...args], { env: { ...fixture.env, ...env }, reject: false });

  beforeAll(async () => {
    await createSampleDatabase(pg, 'cli_src');
    await createNoiseDatabase(pg, 'cli_slow', 25000);
    // Level 12 on random bytes runs at about 14 MB/s: a backup of slow-db lasts several seconds.
    // No sync after each backup: the catalog test below expects every backup in stockholm only.
    fixture = await makeFixture(servers, (ctx) => ({ 'app-db': ctx.postgres('cli_src'), 'slow-db': ctx.postgres('cli_slow') }), { compression: { level: 12, threads: 1 }, sync: { afterBackup: false } });
    passwordEnv = Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_'))!;
    harness = await startHarness(fixture.config);
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
  });

  it('prints exactly one JSON document on stdout with --json', async () => {
    const result = await cli(['--json', 'backup', 'app-db', '--wait']);
    expect(result.exitCode).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ source: 'app-db', kind: 'postgres', region: 'stockholm' });
    expect(summary.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  // One slow backup serves three tests: it runs for many seconds, which is what each of them needs.
  describe('while a backup of slow-db runs with --wait', () => {
    let first: ReturnType<typeof cli>;
    const prefix = () => fixture.config.temporal.taskQueuePrefix;

    beforeAll(async () => {
      first = cli(['backup', 'slow-db', '--wait']);
      const running = harness.client.workflow.getHandle(backupWorkflowId(prefix(), 'slow-db'));
      // expect.poll is for tests only; a hook waits by hand.
      for (const deadline = Date.now() + 20_000; (await running.describe().catch(() => undefined))?.status.name !== 'RUNNING';) {
        if (Date.now() > deadline) throw new Error('the backup of slow-db did not start within 20 s');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }, 60_000);

    it('refuses a second backup of the source, with exit code 10', async () => {
      const second = await cli(['backup', 'slow-db']);
      expect(second.exitCode).toBe(10);
      expect(second.stderr).toMatch(/a backup of slow-db is already running/);
    });

    it('skips a scheduled backup of the source, naming the running one', async () => {
      const scheduled = await harness.client.workflow.execute<typeof scheduledBackup>('scheduledBackup', {
        args: [{ source: 'slow-db' }], workflowId: `${prefix()}scheduled-backup-slow-db-${Date.now()}`, taskQueue: `${prefix()}stockholm`,
      });
      expect(scheduled).toEqual({ outcome: 'skipped', reason: 'a backup of slow-db was already running', runningWorkflowId: backupWorkflowId(prefix(), 'slow-db') });
    });

    it('shows progress and ends with the backup\'s summary: the running backup completes', async () => {
      const result = await first;
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/started backup of slow-db: http/);
      expect(result.stderr).toMatch(/MiB uploaded, part \d+, [\d.]+ [KM]iB\/s/);
      expect(result.stdout).toMatch(/backup \S+ of slow-db \(postgres\) stored in stockholm/);
      expect(result.stdout).toMatch(/sha256 +[0-9a-f]{64}/);
    }, 300_000);
  });


  it('lists the catalog from storage, as a table and as JSON', async () => {
    const text = await cli(['backups', 'list', '--source', 'app-db']);
    expect(text.exitCode).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^ID +SOURCE +KIND +REGION +CREATED +SIZE +SHA256 +HOLDS +CHAIN +VERIFIED$/);
    const json = await cli(['--json', 'backups', 'list']);
    const rows = JSON.parse(json.stdout) as Array<{ source: string; sha256: string; region: string }>;
    expect(rows.filter((r) => r.source === 'app-db')).toHaveLength(1);
    expect(rows.filter((r) => r.source === 'slow-db').length).toBeGreaterThanOrEqual(1);
    expect(rows.every((r) => r.region === 'stockholm')).toBe(true);
  });

  it('runs a scheduled backup as a child under the source\'s own backup id', async () => {
    const prefix = fixture.config.temporal.taskQueuePrefix;
    const result = await harness.client.workflow.execute<typeof scheduledBackup>('scheduledBackup', {
      args: [{ source: 'app-db' }], workflowId: `${prefix}scheduled-backup-app-db-${Date.now()}`, taskQueue: `${prefix}stockholm`,
    });
    expect(result.outcome).toBe('done');
    const child = await harness.client.workflow.getHandle(backupWorkflowId(prefix, 'app-db')).describe();
    expect(child.type).toBe('backupSource');
    expect(child.status.name).toBe('COMPLETED');
    if (result.outcome === 'done') expect(result.summary).toMatchObject({ source: 'app-db', region: 'stockholm' });
  }, 120_000);

  it('restores the latest backup into a new database that equals the source', async () => {
    const result = await cli(['restore', 'app-db', '--latest', '--to', pgUrl(pg, 'cli_restored'), '--to-password-env', passwordEnv]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/restored backup \S+ of app-db into postgres:\/\/postgres@127\.0\.0\.1:\d+\/cli_restored/);
    expect(await tableFingerprints(pg, 'cli_restored')).toEqual(await tableFingerprints(pg, 'cli_src'));
  });

  it('refuses a restore target URL that carries a password, before starting anything', async () => {
    const result = await cli(['restore', 'app-db', '--latest', '--to', `postgres://postgres:hunter2@127.0.0.1:${pg.port}/x`]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('must not carry a password');
    expect(result.stderr).not.toContain('hunter2');
  });

  it('refuses --same-owner for a source that is not a files tree, before starting anything', async () => {
    const result = await cli(['restore', 'app-db', '--latest', '--to', pgUrl(pg, 'cli_same_owner'), '--same-owner']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('--same-owner is for files sources');
  });

  it('passes doctor when tools, Temporal, storage, sources and key are all fine', async () => {
    const result = await cli(['--json', 'doctor']);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: Array<{ check: string; ok: boolean; warn?: boolean; detail: string }> };
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.checks.map((c) => c.check)).toEqual(expect.arrayContaining(['tool pg_dump', 'tool age', 'storage stockholm', 'storage gothenburg', 'source app-db', 'identity file']));
    // The test's in-process workers poll every region, and the runs above were encrypted with this config's codec key.
    const line = (check: string) => report.checks.find((c) => c.check === check);
    expect(line('workers stockholm')).toMatchObject({ ok: true, detail: expect.stringMatching(/^\d+ worker\(s\) poll \S+stockholm: /) });
    expect(line('workers stockholm')?.warn).toBeUndefined();
    expect(line('workers any-region')).toMatchObject({ ok: true, detail: expect.stringMatching(/worker\(s\) poll \S+any-region$/) });
    expect(line('payload codec')).toMatchObject({ ok: true, detail: expect.stringMatching(/key\(s\), new payloads use "\S+"; the newest run \(\S+\) decrypts$/) });
    expect(result.exitCode).toBe(0);
    // Doctor touches Temporal, every region's S3 and PostgreSQL: on Node 20 the AWS SDK warned on every call.
    expect(result.stderr).not.toMatch(/deprecat|warning|node >=/i);
  });

  it('runs on Node 22 or newer: scripts/setup.sh installs Node 24 where the machine\'s is older', async () => {
    // The test process, and the node on PATH that bin/lifeboat and the worker processes run on.
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(22);
    const onPath = await execa('node', ['-p', 'process.versions.node']);
    expect(Number(onPath.stdout.split('.')[0])).toBeGreaterThanOrEqual(22);
  });

  it('fails doctor with the failing checks named when a storage secret is wrong', async () => {
    const secretEnv = Object.keys(fixture.env).find((k) => k.startsWith('GOTHENBURG_SECRET_'))!;
    const result = await cli(['doctor'], { [secretEnv]: 'wrong' });
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toMatch(/storage gothenburg +FAIL/);
    expect(result.stdout).toMatch(/storage stockholm +ok/);
    expect(result.stderr).toContain('storage gothenburg');
  });

  it('names the key, what was expected and what was found for a malformed config, with exit code 2', async () => {
    const bad = join(fixture.dir, 'bad.yaml');
    writeFileSync(bad, 'primaryRegion: stockholm\nregions: {}\nencryption: { recipients: [nope] }\nsources: { x: { kind: mysql, region: stockholm } }\nretentoin: {}\n');
    const result = await execa(lifeboat, ['--config', bad, 'backups', 'list'], { reject: false });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('(top level): unknown key "retentoin"');
    expect(result.stderr).toContain('encryption.recipients.0: expected an age X25519 recipient');
    expect(result.stderr).toContain('found "nope"');
    expect(result.stderr).toContain('sources.x.kind: expected one of postgres, redis, files, found "mysql"');
  });

  it('says Temporal is unreachable with exit code 9', async () => {
    const result = await cli(['backup', 'app-db'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(result.exitCode).toBe(9);
    expect(result.stderr).toMatch(/cannot connect to Temporal at 127\.0\.0\.1:1/);
    expect(result.stderr).toMatch(/hint: /);
  });
});
