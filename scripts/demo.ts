// The demo: everything on this machine, started by Lifeboat itself. It backs up a sample shop
// database to SeaweedFS through Temporal, lists the catalog, restores into a new database and
// proves the two are equal, then shows where to look in the Temporal UI.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { startServers } from '../test/harness/servers';
import { createSampleDatabase, pgUrl, tableFingerprints } from './sample-db';

const root = fileURLToPath(new URL('..', import.meta.url));
const lifeboat = join(root, 'bin/lifeboat');
const say = (text: string) => process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);

async function main(): Promise<void> {
  say('starting Temporal, two SeaweedFS regions, PostgreSQL and Redis on loopback');
  const { servers, stop } = await startServers({ log: () => undefined });
  let worker: ReturnType<typeof spawn> | undefined;
  try {
    const dir = join(servers.workDir, 'demo');
    mkdirSync(dir, { recursive: true });
    const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };

    say('creating the sample database "shop" (customers, orders, bytea, a quoted table name, a view)');
    await createSampleDatabase(pg, 'shop', 2);

    await execa('age-keygen', ['-o', join(dir, 'identity.age')]);
    const recipient = (await execa('age-keygen', ['-y', join(dir, 'identity.age')])).stdout.trim();
    const env: Record<string, string> = {
      APP_DB_PASSWORD: servers.postgres.password,
      LIFEBOAT_TEMPORAL_UI: servers.temporal.uiUrl,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const regions: Record<string, unknown> = {};
    for (const [region, s3] of Object.entries(servers.s3)) {
      const upper = region.toUpperCase();
      env[`${upper}_KEY_ID`] = s3.accessKeyId;
      env[`${upper}_SECRET`] = s3.secretAccessKey;
      regions[region] = { storage: { type: 's3', endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, forcePathStyle: true, accessKeyIdEnv: `${upper}_KEY_ID`, secretAccessKeyEnv: `${upper}_SECRET` } };
    }
    const configFile = join(dir, 'lifeboat.yaml');
    writeFileSync(configFile, stringify({
      temporal: { address: servers.temporal.address, namespace: servers.temporal.namespace },
      primaryRegion: 'stockholm',
      regions,
      encryption: { recipients: [recipient], identityFile: join(dir, 'identity.age') },
      compression: { level: 3 },
      sources: { 'app-db': { kind: 'postgres', region: 'stockholm', url: pgUrl(pg, 'shop'), passwordEnv: 'APP_DB_PASSWORD' } },
    }));
    say(`config: ${configFile}`);
    process.stdout.write(`${(await import('node:fs')).readFileSync(configFile, 'utf8')}`);

    const cli = (args: string[]) => execa(lifeboat, ['--config', configFile, ...args], { env: { ...process.env, ...env }, stdio: 'inherit' });

    say('lifeboat doctor');
    await cli(['doctor']);

    say('starting a worker for both regions: lifeboat worker');
    worker = spawn(lifeboat, ['--config', configFile, 'worker'], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'], detached: true });

    say('lifeboat backup app-db --wait');
    await cli(['backup', 'app-db', '--wait']);

    say('lifeboat backups list');
    await cli(['backups', 'list']);

    say('lifeboat restore app-db --latest --to …/shop_restored');
    await cli(['restore', 'app-db', '--latest', '--to', pgUrl(pg, 'shop_restored'), '--to-password-env', 'APP_DB_PASSWORD']);

    say('comparing shop and shop_restored table by table (row count + MD5 of all rows)');
    const [source, restored] = await Promise.all([tableFingerprints(pg, 'shop'), tableFingerprints(pg, 'shop_restored')]);
    let equal = true;
    for (const [table, print] of Object.entries(source)) {
      const same = restored[table]?.md5 === print.md5 && restored[table]?.rows === print.rows;
      equal &&= same;
      process.stdout.write(`  ${same ? 'equal    ' : 'DIFFERENT'}  ${table.padEnd(36)} ${String(print.rows).padStart(7)} rows\n`);
    }
    if (!equal || Object.keys(restored).length !== Object.keys(source).length) throw new Error('the restored database differs from the source');
    process.stdout.write('  all tables equal\n');

    // The throwaway server's password goes in a private pgpass file, never on the screen.
    const pgpass = join(dir, 'pgpass');
    writeFileSync(pgpass, `127.0.0.1:${pg.port}:*:${pg.user}:${pg.password}\n`, { mode: 0o600 });
    say('where to look');
    process.stdout.write([
      `  Temporal UI:  ${servers.temporal.uiUrl}/namespaces/default/workflows`,
      '                filter with: LifeboatSource = "app-db"',
      `  config:       ${configFile}`,
      `  psql:         PGPASSFILE=${pgpass} psql ${pgUrl(pg, 'shop_restored')}`,
      '',
    ].join('\n'));

    if (process.stdin.isTTY && process.env.CI !== 'true') {
      say('the servers stay up so you can look around; press Enter (or Ctrl-C) to stop them and clean up');
      await new Promise((resolve) => process.stdin.once('data', resolve));
    }
    process.stdout.write('\ndemo finished: backup, catalog, restore and comparison all succeeded\n');
  } finally {
    if (worker?.pid) {
      try {
        process.kill(-worker.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((resolve) => { worker!.once('exit', resolve); setTimeout(resolve, 15_000); });
    }
    await stop();
    process.stdin.pause();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
