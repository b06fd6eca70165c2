import { trusted } from './support/signing';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { readAll } from '../activities/storage/backend';
import { verifyRestoreActivities } from '../activities/verify-restore';
import { compareSample } from '../activities/verify/files';
import { startScratchRedis } from '../activities/verify/redis-server';
import { scratchDatabaseName, scratchDirectory } from '../activities/verify/scratch';
import type { FilesDescription } from '../lib/manifest';
import type { RestoreLevelResult } from '../lib/verify';
import { createSampleDatabase } from '../scripts/sample-db';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { processesIn, scratchDatabaseExists } from './support/scratch';
import { startHarness, type Harness } from './support/workers';
import { replaceObject } from './support/tamper';

const servers = inject('servers');
const pgServer = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const redisPort = servers.redis.port;
const tag = `${process.pid}`;
const hashKey = `vr:${tag}:profile`;

describe('the restore level of verification', () => {
  let fixture: Fixture;
  let harness: Harness;
  let activities: ReturnType<typeof verifyRestoreActivities>;
  let ids = 0;
  const scratchId = () => `t${tag}-${ids++}`;

  async function check(source: string, backupId: string, id = scratchId()): Promise<{ result: RestoreLevelResult; id: string }> {
    const result: RestoreLevelResult = await new MockActivityEnvironment().run(activities.restoreLevelCheck, { source, region: 'stockholm', backupId, scratchId: id });
    return { result, id };
  }

  /** Nothing of the scratch target stays: no database, no directory, no process working in it. */
  async function expectNothingLeft(id: string): Promise<void> {
    const directory = scratchDirectory(fixture.config, 'stockholm', id);
    expect(await scratchDatabaseExists(pgServer, id)).toBe(false);
    expect(existsSync(directory)).toBe(false);
    expect(processesIn(directory)).toEqual([]);
  }

  const backups: Record<string, string> = {};
  let tree: string;

  beforeAll(async () => {
    await createSampleDatabase(pgServer, 'vr_shop');
    await execa('redis-cli', ['-p', String(redisPort), 'HSET', hashKey, 'name', 'Ada', 'plan', 'pro']);
    await execa('redis-cli', ['-p', String(redisPort), 'RPUSH', `vr:${tag}:queue`, 'a', 'b']);
    tree = mkdtempSync(join(tmpdir(), 'lifeboat-vr-tree-'));
    mkdirSync(join(tree, 'docs', 'deep'), { recursive: true });
    for (let i = 0; i < 40; i += 1) writeFileSync(join(tree, i % 2 ? 'docs' : 'docs/deep', `file-${i}.txt`), `content ${i}\n`.repeat(i * 50 + 1));
    const passwordEnv = `VR_PG_PASSWORD_${tag}`;
    process.env[passwordEnv] = servers.postgres.password;
    fixture = await makeFixture(servers, (ctx) => ({
      'vr-db': ctx.postgres('vr_shop', { verify: { checks: [{ sql: 'select count(*) from orders', expect: '> 0' }] } }),
      'vr-db-strict': ctx.postgres('vr_shop', { verify: { checks: [{ name: 'plenty of orders', sql: 'select count(*) from orders', expect: '> 1000000' }] } }),
      'vr-db-estimate': ctx.postgres('vr_shop', { rowCounts: 'estimate' }),
      'vr-cache-flipped': { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${redisPort}` },
      'vr-cache': { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${redisPort}`, verify: { checks: [{ exists: hashKey }, { type: hashKey, is: 'hash' }] } },
      'vr-cache-strict': { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${redisPort}`, verify: { checks: [{ exists: 'nope' }] } },
      'vr-files': { kind: 'files', region: 'stockholm', path: tree },
    }), { sync: { afterBackup: false } }, {
      verify: { target: { postgres: { url: `postgres://${servers.postgres.user}@127.0.0.1:${servers.postgres.port}/postgres`, passwordEnv } } },
    });
    fixture.env[passwordEnv] = servers.postgres.password;
    activities = verifyRestoreActivities(createDeps(fixture.config));
    harness = await startHarness(fixture.config);
    for (const source of ['vr-db', 'vr-db-strict', 'vr-db-estimate', 'vr-cache', 'vr-cache-strict', 'vr-cache-flipped', 'vr-files']) {
      backups[source] = (await runBackup(harness.client, fixture.config, source)).backupId;
    }
  }, 240_000);

  afterAll(async () => {
    await execa('redis-cli', ['-p', String(redisPort), 'DEL', hashKey, `vr:${tag}:queue`], { reject: false });
    await harness?.close();
    fixture?.cleanup();
    if (tree) rmSync(tree, { recursive: true, force: true });
  });

  it('restores a PostgreSQL backup into a scratch database, passes every check and drops it', async () => {
    const { result, id } = await check('vr-db', backups['vr-db']!);
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    const names = result.checks.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['restore', 'pg_restore --list', 'row count public.orders', 'row count audit.events', 'pg_amcheck', 'user check 1']));
    expect(result.checks.find((c) => c.name === 'row count public.orders')!.detail).toBe('expected 10000 rows, found 10000');
    // The test machine has pg_amcheck (in /usr/lib/postgresql/15/bin): it must have run, not been skipped.
    expect(result.checks.find((c) => c.name === 'pg_amcheck')!.detail).toMatch(/^no corruption found/);
    expect(result.checks.find((c) => c.name === 'pg_restore --list')!.detail).toMatch(/lists all 5 tables of the manifest with their data/);
    expect(result.restoreMs).toBeGreaterThan(0);
    expect(result.bytes).toBeGreaterThan(0);
    expect(result.tools.pg_restore).toMatch(/pg_restore/);
    await expectNothingLeft(id);
  }, 120_000);

  it('reports a failing SQL check by name with what it expected and found, and still drops the database', async () => {
    const { result, id } = await check('vr-db-strict', backups['vr-db-strict']!);
    const failed = result.checks.filter((c) => !c.ok);
    expect(failed).toEqual([{ name: 'plenty of orders', ok: false, detail: 'select count(*) from orders: expected > 1000000, found 10000' }]);
    await expectNothingLeft(id);
  }, 120_000);

  it('reports row counts the manifest only estimated without failing on them', async () => {
    const { result, id } = await check('vr-db-estimate', backups['vr-db-estimate']!);
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.checks.find((c) => c.name === 'row count public.orders')!.detail)
      .toMatch(/^10000 rows; the manifest holds only the planner's estimate \(\d+\), so this is not compared$/);
    await expectNothingLeft(id);
  }, 120_000);

  it('refuses a stored object with one flipped byte before restoring anything, and leaves nothing behind', async () => {
    const storage = createDeps(fixture.config).storage('stockholm');
    const [entry] = await listBackups(storage, trusted, 'vr-cache-flipped');
    const object = entry!.manifest.objects[0]!;
    const bytes = await readAll(await storage.get(object.key));
    bytes[Math.floor(bytes.length / 2)] = bytes[Math.floor(bytes.length / 2)]! ^ 0x01;
    await replaceObject(storage, object.key, bytes);
    const id = scratchId();
    await expect(check('vr-cache-flipped', backups['vr-cache-flipped']!, id)).rejects.toMatchObject({ type: 'ChecksumMismatch', message: expect.stringContaining(object.key) });
    await expectNothingLeft(id);
  }, 120_000);

  it('serves a Redis backup from a scratch redis-server, passes every check and leaves no server behind', async () => {
    const { result, id } = await check('vr-cache', backups['vr-cache']!);
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    const names = result.checks.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['restore', 'key count', 'key count db0', 'sample of keys db0', 'user check 1', 'user check 2']));
    expect(result.checks.find((c) => c.name === 'sample of keys db0')!.detail).toMatch(/hash \d+.*list \d+/);
    expect(result.tools['redis-server']).toMatch(/^\d+\./);
    await expectNothingLeft(id);
  }, 120_000);

  it('reports a missing Redis key by name and still shuts the scratch server down', async () => {
    const { result, id } = await check('vr-cache-strict', backups['vr-cache-strict']!);
    expect(result.checks.filter((c) => !c.ok)).toEqual([{ name: 'user check 1', ok: false, detail: 'EXISTS nope: expected the key, found no such key' }]);
    await expectNothingLeft(id);
  }, 120_000);

  it('extracts a file-tree backup into a scratch directory, compares counts and reads a sample, then removes it', async () => {
    const { result, id } = await check('vr-files', backups['vr-files']!);
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.checks.find((c) => c.name === 'file count')!.detail).toBe('expected 40 files (the tree at backup time), found 40');
    expect(result.checks.find((c) => c.name === 'sample of file contents')!.detail).toBe('20 of 20 files hashed at backup time restored with the same SHA-256');
    await expectNothingLeft(id);
  }, 120_000);

  it('finds a sampled file whose content differs from its SHA-256 at backup time, and names it', async () => {
    const [entry] = await listBackups(createDeps(fixture.config).storage('stockholm'), trusted, 'vr-files');
    const sample = (entry!.manifest.description as FilesDescription).sample!;
    expect(sample).toHaveLength(20);
    const copy = mkdtempSync(join(tmpdir(), 'lifeboat-vr-copy-'));
    try {
      cpSync(tree, copy, { recursive: true, preserveTimestamps: true });
      expect((await compareSample(copy, sample)).ok).toBe(true);
      // Same size, same mtime, one byte different: only the hash can tell.
      const victim = join(copy, sample[3]!.path);
      const bytes = readFileSync(victim);
      bytes[0] = bytes[0]! ^ 0xff;
      const { mtime } = statSync(victim);
      writeFileSync(victim, bytes);
      utimesSync(victim, mtime, mtime);
      const outcome = await compareSample(copy, sample);
      expect(outcome.ok).toBe(false);
      expect(outcome.detail).toMatch(new RegExp(`^1 of 20 sampled files differ from their SHA-256 at backup time: ${sample[3]!.path.replace(/\./g, '\\.')}: expected sha256 ${sample[3]!.sha256.slice(0, 12)}`));
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('cleans up after a crashed PostgreSQL check, even with a session still in the database, and a second cleanup finds nothing', async () => {
    const id = scratchId();
    const name = scratchDatabaseName(id);
    const admin = new pg.Client({ ...pgServer, database: 'postgres' });
    await admin.connect();
    await admin.query(`create database "${name}"`);
    await admin.end();
    // A pg_restore of a killed worker would still hold a session like this one.
    const leftover = new pg.Client({ ...pgServer, database: name });
    leftover.on('error', () => undefined);
    await leftover.connect();
    const directory = scratchDirectory(fixture.config, 'stockholm', id);
    mkdirSync(directory, { recursive: true });
    writeFileSync(join(directory, 'toc.list'), 'partial');

    const first: { removed: string[] } = await new MockActivityEnvironment().run(activities.cleanupScratch, { source: 'vr-db', region: 'stockholm', scratchId: id });
    expect(first.removed).toEqual([expect.stringMatching(new RegExp(`^database ${name} on `)), `directory ${directory}`]);
    await expectNothingLeft(id);
    await leftover.end().catch(() => undefined);
    const second: { removed: string[] } = await new MockActivityEnvironment().run(activities.cleanupScratch, { source: 'vr-db', region: 'stockholm', scratchId: id });
    expect(second.removed).toEqual([]);
  });

  it('kills the scratch redis-server a crashed check left running, and a second cleanup finds nothing', async () => {
    const id = scratchId();
    const directory = scratchDirectory(fixture.config, 'stockholm', id);
    mkdirSync(directory, { recursive: true });
    const server = await startScratchRedis(directory);
    expect(processesIn(directory)).toEqual([server.pid]);

    const first: { removed: string[] } = await new MockActivityEnvironment().run(activities.cleanupScratch, { source: 'vr-cache', region: 'stockholm', scratchId: id });
    expect(first.removed).toEqual([`redis-server (pid ${server.pid})`, `directory ${directory}`]);
    await expectNothingLeft(id);
    const second: { removed: string[] } = await new MockActivityEnvironment().run(activities.cleanupScratch, { source: 'vr-cache', region: 'stockholm', scratchId: id });
    expect(second.removed).toEqual([]);
  });

  it('names the missing config key when a region has no PostgreSQL verify target', async () => {
    const config = structuredClone(fixture.config);
    delete config.regions.stockholm!.verify;
    const bare = verifyRestoreActivities(createDeps(config));
    await expect(new MockActivityEnvironment().run(bare.restoreLevelCheck, { source: 'vr-db', region: 'stockholm', backupId: backups['vr-db']!, scratchId: scratchId() }))
      .rejects.toMatchObject({ type: 'Config', message: expect.stringContaining('regions.stockholm.verify.target.postgres') });
  });
});
