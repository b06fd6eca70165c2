// The demo: everything on this machine, started by Lifeboat itself. It backs up a sample shop
// database, a Redis and a directory (full, then an increment) to SeaweedFS through Temporal, copies
// every backup to the other two regions (a second SeaweedFS and a local directory), lists the
// catalog, restores all three and proves each equal to its source, verifies every source in every
// region, archives the WAL of a second PostgreSQL (a physical source), runs a failover drill into
// gothenburg that an operator approves, then ends with `status`.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { generateSigningKey } from '../lib/signing';
import { startServers } from '../test/harness/servers';
import { startArchivingPostgres, type ArchivingPostgres } from '../test/support/archiving-postgres';
import { createSampleDatabase, pgUrl, tableFingerprints } from './sample-db';

/** A small tree of uploads: nested directories, a large-ish file, a symlink, something excluded. */
async function sampleTree(root: string): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    const path = join(root, `images/${String(i % 10).padStart(2, '0')}/img-${i}.txt`);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, `image ${i}\n`.repeat(50 + i));
  }
  mkdirSync(join(root, 'reports'), { recursive: true });
  writeFileSync(join(root, 'reports/2026-10.csv'), 'month,total\n2026-10,4000\n');
  writeFileSync(join(root, 'scratch.tmp'), 'not worth keeping');
  symlinkSync('reports/2026-10.csv', join(root, 'latest-report.csv'));
}

/** One hash over every entry's path, type, mode, mtime and content, skipping `skip`. */
async function treeDigest(root: string, skip: string[]): Promise<string> {
  const hash = createHash('sha256');
  const visit = (relative: string) => {
    for (const name of readdirSync(join(root, relative)).sort()) {
      const path = relative ? `${relative}/${name}` : name;
      if (skip.includes(path)) continue;
      const info = lstatSync(join(root, path));
      hash.update(`${path} ${info.mode} ${info.isSymbolicLink() ? 'link' : Math.floor(info.mtimeMs / 1000)}\n`);
      if (info.isDirectory()) visit(path);
      else if (info.isFile()) hash.update(readFileSync(join(root, path)));
    }
  };
  visit('');
  return hash.digest('hex');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const root = fileURLToPath(new URL('..', import.meta.url));
const lifeboat = join(root, 'bin/lifeboat');
const say = (text: string) => process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);

async function main(): Promise<void> {
  say('starting Temporal, two SeaweedFS regions (a third region is a local directory), PostgreSQL and Redis on loopback');
  const { servers, stop } = await startServers({ log: () => undefined });
  let worker: ReturnType<typeof spawn> | undefined;
  let ledger: ArchivingPostgres | undefined;
  try {
    const dir = join(servers.workDir, 'demo');
    mkdirSync(dir, { recursive: true });
    const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };

    say('creating the sample database "shop" (customers, orders, bytea, a quoted table name, a view)');
    await createSampleDatabase(pg, 'shop', 2);

    say('filling Redis with 3,000 keys of every type, and a directory with files, a symlink and a subtree');
    const redisCli = (args: string[]) => execa('redis-cli', ['-p', String(servers.redis.port), ...args]);
    await redisCli(['EVAL', `for i = 1, 1000 do redis.call('SET', 'session:' .. i, 'user ' .. i, 'EX', 86400) end
      for i = 1, 1000 do redis.call('HSET', 'cart:' .. i, 'items', i % 7, 'total', i * 3) end
      for i = 1, 500 do redis.call('ZADD', 'scores', i, 'player:' .. i) redis.call('RPUSH', 'queue:' .. i, 'job') end
      for i = 1, 499 do redis.call('SADD', 'tags:' .. i, 'a', 'b') end
      redis.call('XADD', 'events', '*', 'type', 'signup') return 1`, '0']);
    const uploads = join(dir, 'uploads');
    await sampleTree(uploads);

    say('a second PostgreSQL, "ledger", that archives its WAL into a spool directory (archive_command), for point-in-time recovery');
    ledger = await startArchivingPostgres(join(dir, 'ledger'));
    await ledger.query('create table entries (id serial primary key, batch int not null, at timestamptz not null default clock_timestamp())');
    await ledger.query('insert into entries (batch) select 1 from generate_series(1, 1000)');
    const drPorts = { ledger: await freePort(), cache: await freePort() };

    await execa('age-keygen', ['-o', join(dir, 'identity.age')]);
    const recipient = (await execa('age-keygen', ['-y', join(dir, 'identity.age')])).stdout.trim();
    // The catalog signing key, as "lifeboat catalog keygen" makes one.
    const catalogPublicKey = generateSigningKey(join(dir, 'catalog.key'));
    const env: Record<string, string> = {
      APP_DB_PASSWORD: servers.postgres.password,
      LEDGER_PASSWORD: ledger.postgres.password,
      LIFEBOAT_TEMPORAL_UI: servers.temporal.uiUrl,
    };
    const regions: Record<string, unknown> = {};
    for (const [region, s3] of Object.entries(servers.s3)) {
      const upper = region.toUpperCase();
      env[`${upper}_KEY_ID`] = s3.accessKeyId;
      env[`${upper}_SECRET`] = s3.secretAccessKey;
      regions[region] = { storage: { type: 's3', endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, forcePathStyle: true, accessKeyIdEnv: `${upper}_KEY_ID`, secretAccessKeyEnv: `${upper}_SECRET` } };
    }
    // The third region is a plain directory: a NAS mount or a disk in another building.
    regions.malmo = { storage: { type: 'local', path: join(dir, 'malmo') } };
    // Restore tests need somewhere to restore to: scratch databases on this PostgreSQL (one
    // server serves all three regions here; in production each region has its own).
    for (const region of Object.values(regions) as Array<Record<string, unknown>>) {
      region.verify = { target: { postgres: { url: pgUrl(pg, 'postgres'), passwordEnv: 'APP_DB_PASSWORD' }, scratchDir: join(dir, 'scratch') } };
    }
    mkdirSync(join(dir, 'scratch'), { recursive: true });
    // Where gothenburg brings each source back when it becomes the primary (a drill here): a new
    // PostgreSQL cluster for the physical source, a database for the logical one, a redis-server, a directory.
    (regions.gothenburg as Record<string, unknown>).failover = {
      targets: {
        ledger: { dataDir: join(dir, 'ledger', 'dr-data'), port: drPorts.ledger },
        'app-db': { url: pgUrl(pg, 'shop_dr'), passwordEnv: 'APP_DB_PASSWORD' },
        cache: { directory: join(dir, 'cache-dr'), port: drPorts.cache },
        uploads: { directory: join(dir, 'uploads-dr') },
      },
    };
    const configFile = join(dir, 'lifeboat.yaml');
    const metricsPort = await freePort();
    // The first line is what a copy of this file needs for completion and checks in an editor.
    writeFileSync(configFile, `# yaml-language-server: $schema=${pathToFileURL(join(root, 'docs/config.schema.json')).href}\n${stringify({
      temporal: { address: servers.temporal.address, namespace: servers.temporal.namespace },
      primaryRegion: 'stockholm',
      regions,
      encryption: { recipients: [recipient], identityFile: join(dir, 'identity.age') },
      catalog: { trustedKeys: [catalogPublicKey], signingKeyFile: join(dir, 'catalog.key') },
      compression: { level: 3 },
      objectives: { rpo: '6h', rto: '4h' },
      sync: { lagThreshold: '1h' },
      metrics: { port: metricsPort },
      sources: {
        'app-db': {
          kind: 'postgres', region: 'stockholm', url: pgUrl(pg, 'shop'), passwordEnv: 'APP_DB_PASSWORD',
          verify: { checks: [{ name: 'orders exist', sql: 'select count(*) from orders', expect: '> 0' }] },
        },
        cache: { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${servers.redis.port}`, verify: { checks: [{ exists: 'scores' }, { type: 'events', is: 'stream' }] } },
        uploads: { kind: 'files', region: 'gothenburg', path: uploads, exclude: ['*.tmp'] },
        ledger: {
          kind: 'postgres', mode: 'physical', region: 'stockholm', url: `postgres://${ledger.postgres.user}@127.0.0.1:${ledger.postgres.port}/postgres`,
          passwordEnv: 'LEDGER_PASSWORD', wal: { spool: ledger.spool, interval: '2s' },
          verify: { checks: [{ name: 'entries exist', sql: 'select count(*) from entries', expect: '> 0' }] },
        },
      },
    })}`);
    say(`config: ${configFile}`);
    process.stdout.write(`${(await import('node:fs')).readFileSync(configFile, 'utf8')}`);

    const cli = (args: string[]) => execa(lifeboat, ['--config', configFile, ...args], { env: { ...process.env, ...env }, stdio: 'inherit' });
    const cliJson = async (args: string[]): Promise<unknown> => {
      const result = await execa(lifeboat, ['--config', configFile, '--json', ...args], { env: { ...process.env, ...env }, reject: false });
      return result.exitCode === 0 ? JSON.parse(result.stdout) : undefined;
    };

    say('lifeboat doctor');
    await cli(['doctor']);

    say('starting a worker for both regions: lifeboat worker');
    worker = spawn(lifeboat, ['--config', configFile, 'worker'], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'], detached: true });

    for (const source of ['app-db', 'cache', 'uploads']) {
      say(`lifeboat backup ${source} --wait`);
      await cli(['backup', source, '--wait']);
    }
    say('a change in the files, then an increment that holds only it');
    writeFileSync(join(uploads, 'reports/2026-11.csv'), 'month,total\n2026-11,4242\n');
    await cli(['backup', 'uploads', '--wait']);

    say('lifeboat sync --wait   (each backup also started a sync of itself when it finished; this catches up anything missed)');
    await cli(['sync', '--wait']);

    say('lifeboat backups list   (every backup in all three regions)');
    await cli(['backups', 'list']);

    say('lifeboat restore app-db --latest --to …/shop_restored');
    await cli(['restore', 'app-db', '--latest', '--to', pgUrl(pg, 'shop_restored'), '--to-password-env', 'APP_DB_PASSWORD']);

    const servePort = await freePort();
    say(`lifeboat restore cache --latest --to …/cache-restored --serve ${servePort}`);
    await cli(['restore', 'cache', '--latest', '--to', join(dir, 'cache-restored'), '--serve', String(servePort)]);
    const keys = async (port: number) => Number((await execa('redis-cli', ['-p', String(port), 'DBSIZE'])).stdout);
    const [liveKeys, restoredKeys] = [await keys(servers.redis.port), await keys(servePort)];
    await execa('redis-cli', ['-p', String(servePort), 'SHUTDOWN', 'NOSAVE'], { reject: false });
    process.stdout.write(`  ${restoredKeys === liveKeys ? 'equal' : 'DIFFERENT'}: ${restoredKeys} keys restored, ${liveKeys} in the live server\n`);
    if (restoredKeys !== liveKeys) throw new Error('the restored Redis differs from the source');

    say('lifeboat restore uploads --latest --to …/uploads-restored   (the full backup, then the increment)');
    await cli(['restore', 'uploads', '--latest', '--region', 'gothenburg', '--to', join(dir, 'uploads-restored')]);
    const [liveTree, restoredTree] = await Promise.all([treeDigest(uploads, ['scratch.tmp']), treeDigest(join(dir, 'uploads-restored'), [])]);
    process.stdout.write(`  ${liveTree === restoredTree ? 'equal' : 'DIFFERENT'}: contents, modes and mtimes of every file (without the excluded *.tmp)\n`);
    if (liveTree !== restoredTree) throw new Error('the restored directory differs from the source');

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
      '                filter with: LifeboatSource = "app-db" (or "cache", "uploads")',
      `  metrics:      http://127.0.0.1:${metricsPort}/metrics   (Prometheus; rules and a Grafana dashboard in deploy/)`,
      `  config:       ${configFile}`,
      `  psql:         PGPASSFILE=${pgpass} psql ${pgUrl(pg, 'shop_restored')}`,
      '',
    ].join('\n'));

    for (const source of ['app-db', 'cache', 'uploads']) {
      say(`lifeboat verify ${source} --level restore --wait   (in every region: hashes, chain, then a restore into a scratch target and checks)`);
      await cli(['verify', source, '--level', 'restore', '--wait']);
    }

    say('lifeboat backups list --source app-db   (verified in each region, with the restore time)');
    await cli(['backups', 'list', '--source', 'app-db']);

    say('lifeboat wal start   (the shipper: spool → zstd → age → every region, then the spool is emptied)');
    await cli(['wal', 'start']);
    say('lifeboat backup ledger --wait   (a physical base backup: pg_basebackup, tar format)');
    await cli(['backup', 'ledger', '--wait']);
    say('1,000 more ledger entries after the base backup, then a WAL switch: they exist only in the archived WAL');
    await ledger.query('insert into entries (batch) select 2 from generate_series(1, 1000)');
    const [switched] = await ledger.query<{ file: string }>('select pg_walfile_name(pg_switch_wal()) as file');
    await waitForWal(cliJson, switched!.file);
    await cli(['wal', 'status']);
    say('lifeboat verify ledger --level restore --wait   (the base backup restored into a scratch cluster: pg_verifybackup, pg_amcheck, checks)');
    await cli(['verify', 'ledger', '--level', 'restore', '--wait']);

    say('lifeboat failover start --to gothenburg --drill --wait   (a drill: restore every source in gothenburg, verify, report, tear down)');
    const drill = execa(lifeboat, ['--config', configFile, 'failover', 'start', '--to', 'gothenburg', '--drill', '--wait', '--by', 'demo'], { env: { ...process.env, ...env }, stdio: 'inherit' });
    const drillId = 'lifeboat-failover-drill';
    await waitForApproval(cliJson, drillId);
    say(`lifeboat failover approve ${drillId} --yes   (the operator approves the plan preflight made; the Temporal CLI can too)`);
    await cli(['failover', 'approve', drillId, '--by', 'demo', '--yes']);
    await drill;
    say(`lifeboat failover status ${drillId}`);
    await cli(['failover', 'status', drillId]);

    say('lifeboat status');
    await cli(['status']);

    if (process.stdin.isTTY && process.env.CI !== 'true') {
      say('the servers stay up so you can look around; press Enter (or Ctrl-C) to stop them and clean up');
      await new Promise((resolve) => process.stdin.once('data', resolve));
    }
    process.stdout.write('\ndemo finished: backups of PostgreSQL, Redis and files, catalog, restores and comparisons all succeeded\n');
  } finally {
    if (worker?.pid) {
      try {
        process.kill(-worker.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((resolve) => { worker!.once('exit', resolve); setTimeout(resolve, 15_000); });
    }
    await ledger?.stop().catch(() => undefined);
    await stop();
    process.stdin.pause();
  }
}

type CliJson = (args: string[]) => Promise<unknown>;

/** Until every region holds the WAL file: the shipper looks at the spool every 2 s here. */
async function waitForWal(cliJson: CliJson, file: string): Promise<void> {
  for (let i = 0; i < 120; i += 1) {
    const status = await cliJson(['wal', 'status']) as { sources: Array<{ regions: Array<{ newest?: { name: string } | null }> }> } | undefined;
    if (status && status.sources.every((s) => s.regions.every((r) => (r.newest?.name ?? '') >= file))) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`WAL file ${file} did not reach every region within 2 minutes`);
}

async function waitForApproval(cliJson: CliJson, id: string): Promise<void> {
  for (let i = 0; i < 120; i += 1) {
    const status = await cliJson(['failover', 'status', id]) as { state: string } | undefined;
    if (status?.state === 'awaiting-approval') return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`the drill ${id} never reached its approval step`);
}

main().catch((error: unknown) => {
  process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
