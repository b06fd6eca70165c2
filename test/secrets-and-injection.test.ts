import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSampleDatabase, pgUrl, withClient } from '../scripts/sample-db';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup, runRestore } from './support/runs';
import { failureOf, startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

async function databaseExists(name: string): Promise<boolean> {
  const { rows } = await withClient(pg, 'postgres', (c) => c.query('select 1 from pg_database where datname = $1', [name]));
  return rows.length === 1;
}

/** Inputs as any Temporal client may send them, and the CLI's checks of the same: each refused before it is used. */
describe('hostile restore inputs and secrets in URLs', () => {
  let fixture: Fixture;
  let harness: Harness;
  let passwordEnv: string;
  let s3SecretEnv: string;
  const cli = (args: string[], configFile = fixture.configFile) =>
    execa(lifeboat, ['--config', configFile, ...args], { env: fixture.env, reject: false });
  /** Workflows of this file, to prove that a refused CLI call started none. */
  const workflowCount = async () => {
    let count = 0;
    for await (const run of harness.client.workflow.list({ query: `TaskQueue = '${fixture.config.temporal.taskQueuePrefix}stockholm'` })) count += run ? 1 : 0;
    return count;
  };

  beforeAll(async () => {
    await createSampleDatabase(pg, 'hostile_src');
    fixture = await makeFixture(servers, (ctx) => ({
      'app-db': ctx.postgres('hostile_src'),
      // Never backed up: the CLI decides by the config that its restores go into a data directory.
      'phys-db': ctx.postgres('postgres', { mode: 'physical' }),
    }), { sync: { afterBackup: false } });
    passwordEnv = Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_'))!;
    s3SecretEnv = Object.keys(fixture.env).find((k) => k.startsWith('STOCKHOLM_SECRET_'))!;
    harness = await startHarness(fixture.config);
    await runBackup(harness.client, fixture.config, 'app-db');
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
  });

  it('refuses a config with ?password= in a source URL at load, in doctor too, and never prints the value', async () => {
    const configFile = join(fixture.dir, 'query-password.yaml');
    // A closed port: before the fix, doctor's failed connection printed the URL with its query.
    const url = `postgres://${servers.postgres.user}@127.0.0.1:1/hostile_src?password=Doctor-Query-Secret-7`;
    writeFileSync(configFile, readFileSync(fixture.configFile, 'utf8').replace(/url: postgres:\/\/[^\n]*hostile_src/, `url: "${url}"`));
    const result = await cli(['doctor'], configFile);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/sources\.app-db\.url: expected a URL without secrets in its query string \(found \?password=; use passwordEnv or passwordFile\)/);
    expect(`${result.stdout}${result.stderr}`).not.toContain('Doctor-Query-Secret-7');
  });

  it('refuses a restore target URL with ?password= from any Temporal client, without repeating it and without creating the database', async () => {
    const failure = await failureOf(runRestore(harness.client, fixture.config, { source: 'app-db', target: `${pgUrl({ ...pg, password: '' }, 'hostile_query')}?password=Input-Query-Secret-8` }));
    expect(failure.type).toBe('Usage');
    expect(failure.message).toMatch(/restore target must not carry secrets in its query string \(found \?password=\)/);
    expect(failure.message).not.toContain('Input-Query-Secret-8');
    expect(await databaseExists('hostile_query')).toBe(false);
  });

  it('refuses --to with ?password= at the CLI before any workflow starts', async () => {
    const before = await workflowCount();
    const result = await cli(['restore', 'app-db', '--latest', '--to', `postgres://postgres@127.0.0.1:${pg.port}/hostile_cli?sslpassword=Cli-Query-Secret-9`, '--to-password-env', passwordEnv]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--to must not carry secrets in its query string \(found \?sslpassword=\)/);
    expect(`${result.stdout}${result.stderr}`).not.toContain('Cli-Query-Secret-9');
    expect(await workflowCount()).toBe(before);
  });

  it('refuses a target password variable the config does not name (here the S3 secret key), at the CLI and in the worker', async () => {
    const cliResult = await cli(['restore', 'app-db', '--latest', '--to', pgUrl({ ...pg, password: '' }, 'hostile_env'), '--to-password-env', s3SecretEnv]);
    expect(cliResult.exitCode).toBe(2);
    expect(cliResult.stderr).toContain(`--to-password-env ${s3SecretEnv} is not a database password variable of the config`);
    expect(cliResult.stderr).toContain('restore.targetPasswordEnvs');
    const failure = await failureOf(runRestore(harness.client, fixture.config, { source: 'app-db', target: pgUrl({ ...pg, password: '' }, 'hostile_env'), targetPasswordEnv: s3SecretEnv }));
    expect(failure.type).toBe('Usage');
    expect(failure.message).toContain(`${s3SecretEnv} is not a database password variable of the config`);
    expect(await databaseExists('hostile_env')).toBe(false);
  });

  it('refuses a group- or world-readable identity file as BadKey with the chmod that fixes it, before creating the target', async () => {
    chmodSync(fixture.key.identityFile, 0o644);
    try {
      const failure = await failureOf(runRestore(harness.client, fixture.config, { source: 'app-db', target: pgUrl({ ...pg, password: '' }, 'hostile_key'), targetPasswordEnv: passwordEnv }));
      expect(failure.type).toBe('BadKey');
      expect(failure.message).toContain(`identity file ${fixture.key.identityFile} is accessible by group or others (mode 0644)`);
      expect(await databaseExists('hostile_key')).toBe(false);
    } finally {
      chmodSync(fixture.key.identityFile, 0o600);
    }
  });

  it('refuses a data directory with shell characters from any Temporal client before anything is written', async () => {
    const marker = join(fixture.dir, 'injected');
    const dataDir = join(fixture.dir, `x"; touch ${marker}; echo "`);
    const failure = await failureOf(runRestore(harness.client, fixture.config, { source: 'app-db', target: dataDir, cluster: { port: 1 } }));
    expect(failure.type).toBe('Usage');
    expect(failure.message).toMatch(/^the data directory to restore into must be an absolute path of letters, digits/);
    expect(existsSync(marker)).toBe(false);
    expect(readdirSync(fixture.dir).filter((name) => name.startsWith('x'))).toEqual([]);
  });

  it('refuses a recovery time that is no moment, and an LSN that is no LSN, from any Temporal client', async () => {
    const dataDir = join(fixture.dir, 'never-restored');
    const time = await failureOf(runRestore(harness.client, fixture.config, { source: 'app-db', target: dataDir, cluster: { port: 1, time: '1' } }));
    expect(time).toMatchObject({ type: 'Usage', message: 'recovery target time "1" is not a date and time with a zone' });
    const lsn = await failureOf(runRestore(harness.client, fixture.config, { source: 'app-db', target: dataDir, cluster: { port: 1, lsn: "0/1'\nrestore_command = 'touch /tmp/x'" } }));
    expect(lsn.type).toBe('Usage');
    expect(lsn.message).toMatch(/is not an LSN/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('refuses the same data directory, time and LSN at the CLI before any workflow starts', async () => {
    const before = await workflowCount();
    const restore = (...args: string[]) => cli(['restore', 'phys-db', '--port', '5499', ...args]);
    const dir = await restore('--to', '/srv/restored; rm -rf /');
    expect(dir.exitCode).toBe(2);
    expect(dir.stderr).toMatch(/--to \(the data directory on the restoring worker\) must be an absolute path of letters/);
    const at = await restore('--to', '/srv/restored', '--at', '2026');
    expect(at.exitCode).toBe(2);
    expect(at.stderr).toContain('--at "2026" is not a date and time with a zone');
    const lsn = await restore('--to', '/srv/restored', '--lsn', '0/1; x');
    expect(lsn.exitCode).toBe(2);
    expect(lsn.stderr).toContain('--lsn "0/1; x" is not an LSN');
    expect(await workflowCount()).toBe(before);
  });
});
