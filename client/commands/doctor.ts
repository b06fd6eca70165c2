import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { createDeps } from '../../activities/deps';
import type { StorageBackend } from '../../activities/storage/backend';
import { identityFile as checkedIdentityFile } from '../../activities/restore-stream';
import { checkedSigner, trustedKeys } from '../../lib/signing';
import { channelLabel, channelSecrets } from '../../activities/notify/channel';
import { pgBinary } from '../../activities/sources/postgres/binaries';
import { connect } from '../../activities/sources/postgres/connect';
import { toolVersion } from '../../activities/pipeline/versions';
import type { Config, SourceConfig } from '../../lib/config/schema';
import { info, parseRedisUrl } from '../../activities/sources/redis/cli';
import { walkTree } from '../../activities/sources/files/walk';
import { readSecret } from '../../lib/config/secrets';
import { LifeboatError, type ErrorType } from '../../lib/errors';
import { archiveCommand } from '../../lib/wal';
import { shipperDoctorLine, walSources } from './wal';
import { anyRegionLine, codecLine, regionWorkersLine } from './doctor-workers';
import { table, type Output } from '../output';
import { connectClient } from '../temporal';
import { missingSearchAttributes, searchAttributesMissing } from '../../lib/search-attribute-registry';
import { searchAttributeNames } from '../../workflows/search-attributes';
import { rollbackDoctorLine } from './status-rollback';
import { childEnvOptions } from '../../lib/child-env';

interface Check {
  check: string;
  ok: boolean;
  /** Works, but leaves a risk the operator should know of. */
  warn?: boolean;
  detail: string;
  /** The failure's class (lib/errors.ts), for the exit code. */
  type?: ErrorType;
}

const toolsFor: Record<SourceConfig['kind'], string[]> = {
  postgres: ['pg_dump', 'pg_restore'],
  redis: ['redis-cli', 'redis-check-rdb', 'redis-server'],
  files: ['tar'],
};

async function probeSource(name: string, source: SourceConfig): Promise<string> {
  switch (source.kind) {
    case 'postgres': {
      const client = await connect({ url: source.url, password: readSecret(source, `sources.${name}`) }, `source ${name}`);
      try {
        const { rows } = await client.query<{ v: string }>("select current_setting('server_version') as v");
        if (source.mode === 'physical') return `PostgreSQL ${rows[0]!.v}; ${await physicalReadiness(client, source.wal?.spool)}`;
        return `PostgreSQL ${rows[0]!.v}`;
      } finally {
        await client.end();
      }
    }
    case 'redis': {
      const values = await info(parseRedisUrl(source.url, readSecret(source, `sources.${name}`)), `source ${name}`);
      return `Redis ${values.get('redis_version') ?? '?'}, role ${values.get('role') ?? '?'}`;
    }
    case 'files': {
      const tree = await walkTree(source.path);
      return `${source.path}: ${tree.files} files, ${tree.directories} directories readable`;
    }
  }
}

/** A physical source's server must archive WAL and let the backup user replicate; a problem throws. */
async function physicalReadiness(client: Awaited<ReturnType<typeof connect>>, spool: string | undefined): Promise<string> {
  const { rows } = await client.query<{ level: string; archive: string; replication: boolean }>(`
    select current_setting('wal_level') as level, current_setting('archive_mode') as archive,
           (select rolreplication or rolsuper from pg_roles where rolname = current_user) as replication`);
  const { level, archive, replication } = rows[0]!;
  if (level === 'minimal') throw new LifeboatError('Config', 'wal_level is minimal: base backups and WAL archiving need replica', 'set wal_level = replica in postgresql.conf and restart (docs/pitr.md)');
  let recommended = 'archive_command (docs/wal.md)';
  try {
    if (spool) recommended = `archive_command = '${archiveCommand(spool)}'`;
  } catch {
    // A spool path that needs shell quoting: the docs show the pattern.
  }
  if (archive === 'off') throw new LifeboatError('Config', 'archive_mode is off: no WAL reaches the spool', `set archive_mode = on and ${recommended} and restart`);
  if (!replication) throw new LifeboatError('Config', 'the backup user has neither REPLICATION nor superuser: pg_basebackup will be refused', 'ALTER ROLE … REPLICATION, and a replication line in pg_hba.conf (docs/pitr.md)');
  // Only superusers (and pg_read_all_settings) may read archive_command; without it, say nothing.
  const command = await client.query<{ command: string }>("select current_setting('archive_command') as command").then(({ rows: [row] }) => row!.command, () => undefined);
  const unsynced = command !== undefined && spool !== undefined && command.includes(spool) && !/\bsync\b/.test(command)
    ? `; archive_command does not fsync the spooled copy, so a power cut can lose WAL PostgreSQL has already recycled: use ${recommended}` : '';
  // pg_basebackup writes one tablespace to stdout: with more, Lifeboat speaks PostgreSQL 15's BASE_BACKUP itself.
  const spaces = await client.query<{ names: string | null; num: string }>(`
    select string_agg(spcname, ', ' order by oid) as names, current_setting('server_version_num') as num
      from pg_tablespace where spcname not in ('pg_default', 'pg_global')`);
  const { names, num } = spaces.rows[0]!;
  if (names && Number(num) < 150000) {
    throw new LifeboatError('Config', `the cluster has tablespaces of its own (${names}): Lifeboat backs them up with PostgreSQL 15's BASE_BACKUP, and this server is older`,
      'upgrade to PostgreSQL 15 or later, move the tables into pg_default, or use mode: logical (docs/pitr.md)');
  }
  const tablespaces = names ? `; tablespaces ${names} (taken over the replication protocol, docs/pitr.md)` : '';
  return `wal_level ${level}, archive_mode ${archive}, replication allowed${unsynced}${tablespaces}`;
}

/** A region with storage.objectLock needs a bucket with Object Lock and versioning; one without is deletable by its writers. */
async function objectLockCheck(config: Config, region: string, storage: StorageBackend): Promise<string | { warn: string }> {
  const wanted = config.regions[region]!.storage;
  const features = await storage.features();
  const overwrite = features.conditionalWrites ? '' : '; the server ignores If-None-Match, so write-once rests on a check before each write';
  if (wanted.type !== 's3' || !wanted.objectLock) {
    return { warn: `no storage.objectLock: anyone with the bucket's write credentials can delete backups${features.objectLock ? ' (the bucket has Object Lock: set regions.' + region + '.storage.objectLock to use it)' : ''}${overwrite}` };
  }
  const create = 'Object Lock can only be enabled when a bucket is created: aws s3api create-bucket --bucket NAME --object-lock-enabled-for-bucket (it turns versioning on), then point the region at it';
  if (!features.objectLock) throw new LifeboatError('Config', `bucket ${wanted.bucket} has no Object Lock, but regions.${region}.storage.objectLock is set`, create);
  if (!features.versioning) throw new LifeboatError('Config', `bucket ${wanted.bucket} has Object Lock but versioning is not enabled`, `aws s3api put-bucket-versioning --bucket ${wanted.bucket} --versioning-configuration Status=Enabled`);
  const text = `Object Lock and versioning enabled; objects locked in ${wanted.objectLock.mode} mode, at least ${wanted.objectLock.minimum}`;
  return overwrite ? { warn: text + overwrite } : text;
}

/** Everything a worker on this machine needs, each checked for real. Non-zero exit if any fails. */
/** A worker that signs with a key the readers do not trust writes backups nobody will restore: caught here, and at worker start. */
function signingKeyReadiness(config: Config): string {
  const { signingKeyFile, signingKeyEnv } = config.catalog;
  if (!signingKeyFile && !signingKeyEnv) return 'not set: this machine can read the catalog but not write to it (backup, sync, retention, verify and WAL workers must sign)';
  const signer = checkedSigner(config);
  return `${signer.keyId} signs; trusted keys: ${trustedKeys(config.catalog.trustedKeys).map((k) => k.id).join(', ')}`;
}

export async function doctorCommand(config: Config, configPath: string, out: Output): Promise<void> {
  const checks: Check[] = [{ check: 'config', ok: true, detail: configPath }];
  const run = async (check: string, probe: () => Promise<string | { warn: string }>) => {
    try {
      const detail = await probe();
      checks.push(typeof detail === 'string' ? { check, ok: true, detail } : { check, ok: true, warn: true, detail: detail.warn });
    } catch (error) {
      const hint = error instanceof LifeboatError && error.hint ? ` (${error.hint})` : '';
      checks.push({ check, ok: false, detail: `${(error as Error).message.split('\n')[0]}${hint}`, ...(error instanceof LifeboatError ? { type: error.type } : {}) });
    }
  };
  const kinds = new Set(Object.values(config.sources).map((source) => source.kind));
  const tools = ['zstd', 'age', ...[...kinds].flatMap((kind) => toolsFor[kind])];
  for (const tool of tools) await run(`tool ${tool}`, () => toolVersion(tool));
  if (Object.values(config.sources).some((source) => source.kind === 'postgres' && source.mode === 'physical')) {
    await run('tool pg_basebackup', () => toolVersion('pg_basebackup'));
    // Point-in-time restores and their verification start a cluster on this worker.
    for (const tool of ['pg_ctl', 'pg_verifybackup', 'pg_amcheck']) {
      await run(`tool ${tool}`, async () => (await execa(pgBinary(tool), ['--version'], childEnvOptions())).stdout.trim());
    }
  }
  await run(`temporal ${config.temporal.address}`, async () => {
    const client = await connectClient(config);
    try {
      await client.workflowService.describeNamespace({ namespace: config.temporal.namespace });
      return `namespace ${config.temporal.namespace} reachable`;
    } finally {
      await client.connection.close();
    }
  });
  await run('temporal search attributes', async () => {
    const client = await connectClient(config);
    try {
      const missing = await missingSearchAttributes(client.connection.operatorService, config.temporal.namespace);
      if (missing.length > 0) throw searchAttributesMissing(config.temporal.namespace, missing);
      return `${searchAttributeNames.join(', ')} registered in ${config.temporal.namespace}`;
    } finally {
      await client.connection.close();
    }
  });
  const deps = createDeps(config);
  for (const region of Object.keys(config.regions)) {
    await run(`storage ${region}`, async () => {
      const storage = deps.storage(region);
      const probe = `.lifeboat-doctor/${process.pid}-${Date.now()}`;
      await storage.put(probe, Buffer.from('lifeboat doctor write test\n'));
      await storage.remove(probe);
      return `${storage.location} writable`;
    });
    if (config.regions[region]!.storage.type === 's3') await run(`immutability ${region}`, () => objectLockCheck(config, region, deps.storage(region)));
  }
  for (const [name, source] of Object.entries(config.sources)) {
    await run(`source ${name}`, () => probeSource(name, source));
  }
  // Temporal's completed backups against each catalog and its head records; with Temporal down the line above already fails.
  const client = await connectClient(config).catch(() => undefined);
  try {
    for (const name of client ? Object.keys(config.sources) : []) await run(`catalog ${name}`, () => rollbackDoctorLine(client!, deps, name));
    for (const name of client ? walSources(config) : []) await run(`wal shipper ${name}`, () => shipperDoctorLine(client!, config, name));
    for (const region of client ? Object.keys(config.regions) : []) await run(`workers ${region}`, () => regionWorkersLine(client!, config, region));
    if (client) await run('workers any-region', () => anyRegionLine(client, config));
    if (client) await run('payload codec', () => codecLine(client, config));
  } finally {
    await client?.connection.close();
  }
  // Only that each channel's URL and key can be read here: a doctor run must not page anyone.
  for (const [index, channel] of config.alerts.channels.entries()) {
    const label = channelLabel(channel, index);
    await run(label, async () => {
      const { url, key } = channelSecrets(channel, label, process.env);
      return `${new URL(url).host}${channel.type === 'webhook' ? (key ? ', signed' : ', unsigned') : ''} (not sent)`;
    });
  }
  await run('catalog signing key', async () => signingKeyReadiness(config));
  const identityFile = config.encryption.identityFile;
  if (identityFile) {
    await run('identity file', async () => {
      readFileSync(checkedIdentityFile(identityFile));
      const { stdout } = await execa('age-keygen', ['-y', identityFile], childEnvOptions());
      const publicKeys = stdout.split('\n').filter(Boolean);
      if (!publicKeys.some((key) => config.encryption.recipients.includes(key))) {
        throw new LifeboatError('BadKey', `${identityFile} matches none of encryption.recipients`, 'restores with it would fail');
      }
      return `${identityFile} matches a recipient`;
    });
  } else {
    checks.push({ check: 'identity file', ok: true, detail: 'not set: this machine can back up but not restore' });
  }
  const failed = checks.filter((c) => !c.ok);
  out.result({ ok: failed.length === 0, checks }, table([['CHECK', 'OK', 'DETAIL'], ...checks.map((c) => [c.check, c.ok ? (c.warn ? 'WARN' : 'ok') : 'FAIL', c.detail])]));
  if (failed.length > 0) {
    // The exit code is the first failure's class (4 a missing tool, 9 Temporal, 11 storage, 3 a source…), so a script can tell them apart.
    const first = failed[0]!;
    const type = first.type ?? (first.check.startsWith('tool') ? 'MissingTool' : 'Config');
    throw new LifeboatError(type, `${failed.length} check${failed.length > 1 ? 's' : ''} failed: ${failed.map((c) => c.check).join(', ')}`, 'fix the items marked FAIL above');
  }
}
