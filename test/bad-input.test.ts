import { trusted } from './support/signing';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups, readManifest } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { readAll, type StorageBackend } from '../activities/storage/backend';
import type { Config } from '../lib/config/schema';
import { keys } from '../lib/manifest';
import { createSampleDatabase, pgUrl, tableFingerprints, withClient } from '../scripts/sample-db';
import { ageKey, makeFixture, type Fixture } from './support/fixture';
import { runBackup, runRestore } from './support/runs';
import { failureOf, startHarness, type Harness } from './support/workers';
import { replaceObject } from './support/tamper';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const target = (db: string) => pgUrl(pg, db);

async function databaseExists(name: string): Promise<boolean> {
  const { rows } = await withClient(pg, 'postgres', (c) => c.query('select 1 from pg_database where datname = $1', [name]));
  return rows.length === 1;
}

async function leftovers(storage: StorageBackend, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of storage.list(prefix)) found.push(object.key);
  for await (const upload of storage.listIncomplete(prefix)) found.push(`unfinished:${upload.key}`);
  return found;
}

describe('bad input gets a clear error and loses nothing', () => {
  let fixture: Fixture;
  let harness: Harness;
  let storage: StorageBackend;
  let passwordEnv: string;
  const closedPort = 1; // nothing listens on port 1 of loopback

  beforeAll(async () => {
    await createSampleDatabase(pg, 'bad_input_src');
    fixture = await makeFixture(servers, (ctx) => ({
      'app-db': ctx.postgres('bad_input_src'),
      'down-db': { ...ctx.postgres('nowhere'), url: `postgres://postgres@127.0.0.1:${closedPort}/nowhere` },
    }));
    passwordEnv = Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_'))!;
    harness = await startHarness(fixture.config);
    storage = createDeps(fixture.config).storage('stockholm');
    await runBackup(harness.client, fixture.config, 'app-db');
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
  });

  /** A second set of workers whose config differs from the fixture's, on their own task queues. */
  async function withWorkers<T>(change: (config: Config) => Config, use: (h: Harness, config: Config) => Promise<T>): Promise<T> {
    const config = change(structuredClone(fixture.config));
    config.temporal.taskQueuePrefix = `${fixture.config.temporal.taskQueuePrefix}alt${Math.floor(Math.random() * 1e6)}-`;
    const other = await startHarness(config);
    try {
      return await use(other, config);
    } finally {
      await other.close();
    }
  }

  it('fails a backup of an unreachable database as SourceUnreachable after its retries, leaving nothing behind', async () => {
    const failure = await failureOf(runBackup(harness.client, fixture.config, 'down-db'));
    expect(failure.type).toBe('SourceUnreachable');
    expect(failure.message).toMatch(/source down-db .*127\.0\.0\.1:1\/nowhere.*cannot connect/);
    expect(failure.message).toContain('gave up after 2 attempts');
    expect(await leftovers(storage, 'down-db/')).toEqual([]);
  });

  it('fails a backup when pg_dump is missing, naming the tool and how to install it', async () => {
    const bin = join(fixture.dir, 'bin-without-pg_dump');
    mkdirSync(bin, { recursive: true });
    for (const tool of ['zstd', 'age']) symlinkSync((await execa('sh', ['-c', `command -v ${tool}`])).stdout, join(bin, tool));
    const path = process.env.PATH;
    process.env.PATH = bin;
    try {
      const failure = await failureOf(runBackup(harness.client, fixture.config, 'app-db'));
      expect(failure.type).toBe('MissingTool');
      expect(failure.message).toContain('pg_dump not found');
    } finally {
      process.env.PATH = path;
    }
    expect((await listBackups(storage, trusted, 'app-db'))).toHaveLength(1);
    expect((await leftovers(storage, 'app-db/')).filter((k) => k.startsWith('unfinished'))).toEqual([]);
  });

  it('refuses to restore into a database that already holds tables, and leaves it as it was', async () => {
    const before = await tableFingerprints(pg, 'bad_input_src');
    const failure = await failureOf(runRestore(harness.client, fixture.config, { source: 'app-db', target: target('bad_input_src'), targetPasswordEnv: passwordEnv }));
    expect(failure.type).toBe('TargetNotEmpty');
    expect(failure.message).toMatch(/already holds \d+ tables/);
    expect(await tableFingerprints(pg, 'bad_input_src')).toEqual(before);
  });

  it('restores over a non-empty database when told to clean it', async () => {
    await createSampleDatabase(pg, 'bad_input_clean');
    await withClient(pg, 'bad_input_clean', (c) => c.query('delete from orders where id % 2 = 0'));
    await runRestore(harness.client, fixture.config, { source: 'app-db', target: target('bad_input_clean'), targetPasswordEnv: passwordEnv, clean: true });
    expect(await tableFingerprints(pg, 'bad_input_clean')).toEqual(await tableFingerprints(pg, 'bad_input_src'));
  });

  it('refuses a restore with the wrong identity file as BadKey, before creating the target', async () => {
    const wrong = await ageKey(fixture.dir, 'wrong-key');
    const failure = await withWorkers((c) => ({ ...c, encryption: { ...c.encryption, identityFile: wrong.identityFile } }),
      (h, config) => failureOf(runRestore(h.client, config, { source: 'app-db', target: target('bad_input_wrong_key'), targetPasswordEnv: passwordEnv })));
    expect(failure.type).toBe('BadKey');
    expect(failure.message).toContain('not one of the backup\'s recipients');
    expect(await databaseExists('bad_input_wrong_key')).toBe(false);
  });

  it('refuses a restore with a missing identity file as BadKey, naming the file', async () => {
    const missing = join(fixture.dir, 'no-such-key');
    const failure = await withWorkers((c) => ({ ...c, encryption: { ...c.encryption, identityFile: missing } }),
      (h, config) => failureOf(runRestore(h.client, config, { source: 'app-db', target: target('bad_input_no_key'), targetPasswordEnv: passwordEnv })));
    expect(failure.type).toBe('BadKey');
    expect(failure.message).toContain(missing);
    expect(await databaseExists('bad_input_no_key')).toBe(false);
  });

  it('refuses to restore a tampered object with a checksum error and never touches the target', async () => {
    const [entry] = await listBackups(storage, trusted, 'app-db');
    const object = entry!.manifest.objects[0]!;
    const original = await readAll(await storage.get(object.key));
    const tampered = Buffer.from(original);
    tampered[Math.floor(tampered.length / 2)]! ^= 0x01;
    await replaceObject(storage, object.key, tampered);
    try {
      const failure = await failureOf(runRestore(harness.client, fixture.config, { source: 'app-db', target: target('bad_input_tampered'), targetPasswordEnv: passwordEnv }));
      expect(failure.type).toBe('ChecksumMismatch');
      expect(failure.message).toContain(object.key);
      expect(failure.message).toContain('does not match its manifest');
      expect(await databaseExists('bad_input_tampered')).toBe(false);
    } finally {
      await replaceObject(storage, object.key, original);
    }
  });

  it('restores with age, zstd and pg_restore alone: the break-glass path', async () => {
    const [entry] = await listBackups(storage, trusted, 'app-db');
    const { manifest } = await readManifest(storage, trusted, keys.manifest('app-db', entry!.manifest.id));
    // The manifest's signature, checked by openssl with the trusted key line wrapped as PEM, as the README shows.
    const manifestFile = join(fixture.dir, 'manifest.json');
    writeFileSync(manifestFile, await readAll(await storage.get(keys.manifest('app-db', manifest.id))));
    writeFileSync(`${manifestFile}.sig`, await readAll(await storage.get(`${keys.manifest('app-db', manifest.id)}.sig`)));
    writeFileSync(join(fixture.dir, 'catalog.pub'), `-----BEGIN PUBLIC KEY-----\n${fixture.config.catalog.trustedKeys[0]}\n-----END PUBLIC KEY-----\n`);
    const checked = await execa('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(fixture.dir, 'catalog.pub'), '-rawin', '-in', manifestFile, '-sigfile', `${manifestFile}.sig`]);
    expect(checked.stdout).toContain('Signature Verified Successfully');
    writeFileSync(manifestFile, `${readFileSync(manifestFile, 'utf8')} `);
    expect((await execa('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(fixture.dir, 'catalog.pub'), '-rawin', '-in', manifestFile, '-sigfile', `${manifestFile}.sig`], { reject: false })).exitCode).toBe(1);
    const file = join(fixture.dir, 'downloaded.age');
    // Any S3 client would do; the bytes are what matters, so fetch them and check the manifest's hash.
    writeFileSync(file, await readAll(await storage.get(manifest.objects[0]!.key)));
    expect((await execa('sha256sum', [file])).stdout.split(' ')[0]).toBe(manifest.objects[0]!.sha256);
    await withClient(pg, 'postgres', async (c) => {
      await c.query('drop database if exists bad_input_breakglass');
      await c.query('create database bad_input_breakglass');
    });
    await execa('bash', ['-o', 'pipefail', '-c', `age -d -i "${fixture.key.identityFile}" "${file}" | zstd -d | pg_restore --exit-on-error --dbname="${target('bad_input_breakglass')}"`],
      { env: { PGPASSWORD: pg.password } });
    expect(await tableFingerprints(pg, 'bad_input_breakglass')).toEqual(await tableFingerprints(pg, 'bad_input_src'));
  });
});
