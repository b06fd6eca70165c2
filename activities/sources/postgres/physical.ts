import type { PostgresSourceConfig } from '../../../lib/config/schema';
import { readSecret } from '../../../lib/config/secrets';
import { LifeboatError } from '../../../lib/errors';
import type { PostgresPhysicalDescription } from '../../../lib/manifest';
import { segmentName, segmentOfLsn } from '../../../lib/wal';
import { toolVersion } from '../../pipeline/versions';
import type { Snapshot, Source } from '../source';
import { protocolBaseBackup, type ProtocolBackup } from './base-backup-protocol';
import { classifyToolStderr, connect, redact } from './connect';
import { tarScanner, type TarFindings } from './tar-capture';
import { holdWal, walRemovedError } from './wal-hold';

export const BASE_BACKUP_FILE = 'base.tar.zst.age';

/** What the data object holds when the cluster has tablespaces of its own (base-backup-protocol.ts). */
export const PROTOCOL_CONTENT = 'BASE_BACKUP over the replication protocol (WAL included, as -X fetch), one tar with each tablespace under pg_tblspc/<oid>/, zstd, age';

/**
 * `mode: physical`: the whole cluster with pg_basebackup, one tar on stdout (-Ft -D -), carrying the
 * WAL from its start to its end (-X fetch, held by a temporary slot: wal-hold.ts) and, since PostgreSQL 13,
 * its backup_manifest. The tar's headers are read as it passes, for backup_label (start LSN, timeline)
 * and the manifest (end LSN).
 */
export function physicalPostgresSource(name: string, config: PostgresSourceConfig, env: NodeJS.ProcessEnv): Source {
  return {
    fileName: BASE_BACKUP_FILE,
    content: 'pg_basebackup tar (-Ft -X fetch), zstd, age',
    toolVersions: async () => ({ pg_basebackup: await toolVersion('pg_basebackup') }),
    restoreWith: (file) => [
      `mkdir -m 0700 DATADIR && age -d -i IDENTITY ${file} | zstd -d | tar -x -C DATADIR`,
      'then for a point in time: copy the WAL files (age -d -i IDENTITY _wal/SOURCE/F.zst.age | zstd -d > WALDIR/F),',
      'add to DATADIR/postgresql.auto.conf: restore_command = \'cp "WALDIR/%f" "%p"\', recovery_target_time = \'…\', recovery_target_action = \'promote\', archive_mode = off;',
      'touch DATADIR/recovery.signal; chown -R postgres DATADIR; pg_ctl -D DATADIR start (see docs/pitr.md;',
      'tablespaces of the source are inside DATADIR/pg_tblspc/<oid>/, where PostgreSQL uses them as they are)',
    ].join(' '),
    async snapshot(): Promise<Snapshot> {
      const password = readSecret(config, `sources.${name}`, env);
      const client = await connect({ url: config.url, password }, `source ${name}`);
      let released = false;
      const release = async () => {
        if (released) return;
        released = true;
        await client.end().catch(() => undefined);
      };
      let facts: Awaited<ReturnType<typeof clusterFacts>>;
      try {
        facts = await clusterFacts(client);
        if (facts.tablespaces.length > 0 && facts.serverVersionNum < 150000) {
          throw new LifeboatError('Config', `source ${name} (${redact(config.url)}) has tablespaces of its own (${facts.tablespaces.map((t) => t.name).join(', ')}) and runs PostgreSQL ${facts.serverVersion}: Lifeboat backs up tablespaces with PostgreSQL 15's BASE_BACKUP protocol, and pg_basebackup writes only one tablespace to a stream`,
            'upgrade the server to PostgreSQL 15 or later, or move the tables into pg_default (ALTER TABLE … SET TABLESPACE pg_default), or back it up with mode: logical');
        }
        // Before the backup starts, on the session that stays open until release().
        await holdWal(client, name, facts.tablespaces.length > 0 ? `base backup of ${name}` : `pg_basebackup of ${name}`);
      } catch (error) {
        await release();
        throw error;
      }
      // A scan, not a filter: then pg_basebackup's bytes stay off the worker's main thread and its heap (pipeline/scan-copy.ts).
      const tarScan = tarScanner(['backup_label', 'backup_manifest'], 256 * 1024);
      const findings = tarScan.findings;
      if (facts.tablespaces.length > 0) {
        // pg_basebackup writes only one tablespace to stdout: Lifeboat speaks the protocol itself (PostgreSQL 15 and later).
        const protocol = protocolBaseBackup({
          target: { url: config.url, password },
          label: `lifeboat ${name}`,
          what: `base backup of ${name}`,
          classify: classifyBaseBackup(config.url, name, `base backup of ${name}`),
        });
        return {
          producer: protocol,
          content: PROTOCOL_CONTENT,
          tarScan,
          parent: null,
          async describe({ raw }) {
            return { ...describeBaseBackup(findings, facts, raw?.size ?? 0, name), tablespaces: tablespacesOf(facts, protocol) };
          },
          release,
        };
      }
      return {
        producer: {
          tool: 'pg_basebackup',
          args: [`--dbname=${config.url}`, '-D', '-', '-Ft', '-X', 'fetch', '--checkpoint=fast', '--no-password', `--label=lifeboat ${name}`],
          env: { PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'lifeboat', ...(password === undefined ? {} : { PGPASSWORD: password }) },
          what: `pg_basebackup of ${name}`,
          classify: classifyBaseBackup(config.url, name),
        },
        tarScan,
        parent: null,
        async describe({ raw }) {
          return describeBaseBackup(findings, facts, raw?.size ?? 0, name);
        },
        release,
      };
    },
  };
}

/** The refusals no retry fixes become Config errors that say which server setting to change. */
export function classifyBaseBackup(url: string, name: string, what = `pg_basebackup of ${name}`) {
  const generic = classifyToolStderr(url, what);
  return (stderr: string): LifeboatError | undefined => {
    const walRemoved = walRemovedError(stderr, name);
    if (walRemoved) return walRemoved;
    if (/no pg_hba\.conf entry for replication connection|pg_hba\.conf rejects replication connection/i.test(stderr)) {
      return new LifeboatError('Config', `${what}: the server refuses replication connections from this worker: ${stderr.trim().split('\n')[0]}`,
        'add a "host replication USER WORKER-ADDRESS/32 scram-sha-256" line to pg_hba.conf and reload (docs/pitr.md)');
    }
    if (/must be superuser or replication role|permission denied to start WAL sender|must have (the )?REPLICATION/i.test(stderr)) {
      return new LifeboatError('Config', `${what}: the backup user may not replicate: ${stderr.trim().split('\n')[0]}`, 'ALTER ROLE … REPLICATION (docs/pitr.md)');
    }
    if (/number of requested standby connections exceeds max_wal_senders|max_wal_senders/i.test(stderr)) {
      return new LifeboatError('Config', `${what}: ${stderr.trim().split('\n')[0]}`, 'raise max_wal_senders on the server (and restart)');
    }
    return generic(stderr);
  };
}

interface ClusterFacts {
  serverVersion: string;
  serverVersionNum: number;
  /** User tablespaces (not pg_default, pg_global), as the catalog names them before the backup. */
  tablespaces: Array<{ oid: number; name: string; location: string }>;
  systemIdentifier: string;
  databases: string[];
  walSegmentBytes: number;
  bootstrapSuperuser: string;
}

async function clusterFacts(client: Awaited<ReturnType<typeof connect>>): Promise<ClusterFacts> {
  const info = await client.query<{ version: string; num: string; sysid: string; segment: string; superuser: string }>(`
    select current_setting('server_version') as version, current_setting('server_version_num') as num,
           (select system_identifier::text from pg_control_system()) as sysid,
           pg_size_bytes(current_setting('wal_segment_size'))::text as segment,
           (select rolname from pg_roles where oid = 10) as superuser`);
  const databases = await client.query<{ datname: string }>('select datname from pg_database where not datistemplate order by 1');
  const tablespaces = await client.query<{ oid: string; name: string; location: string }>(`
    select oid::text as oid, spcname as name, pg_tablespace_location(oid) as location
      from pg_tablespace where spcname not in ('pg_default', 'pg_global') order by oid`);
  const row = info.rows[0]!;
  return {
    serverVersion: row.version,
    serverVersionNum: Number(row.num),
    tablespaces: tablespaces.rows.map((t) => ({ oid: Number(t.oid), name: t.name, location: t.location })),
    systemIdentifier: row.sysid,
    databases: databases.rows.map((r) => r.datname),
    walSegmentBytes: Number(row.segment),
    bootstrapSuperuser: row.superuser,
  };
}

/** backup_label's "KEY: value" lines. */
export function parseBackupLabel(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z ]+): (.*)$/.exec(line);
    if (match) fields[match[1]!] = match[2]!;
  }
  return fields;
}

function describeBaseBackup(findings: TarFindings, facts: ClusterFacts, sizeBytes: number, name: string): PostgresPhysicalDescription {
  const label = findings.files.get('backup_label');
  if (!label) {
    throw new LifeboatError('VerificationFailed', `pg_basebackup of ${name} produced a tar without backup_label (${findings.members} members)`,
      'the base backup is not restorable; check the server log and pg_basebackup version, then back up again');
  }
  const fields = parseBackupLabel(label.toString('utf8'));
  const startLsn = /^([0-9A-F]+\/[0-9A-F]+)/i.exec(fields['START WAL LOCATION'] ?? '')?.[1];
  const timeline = Number(fields['START TIMELINE'] ?? '1');
  if (!startLsn) throw new LifeboatError('VerificationFailed', `backup_label of ${name} has no START WAL LOCATION: ${label.toString('utf8').slice(0, 200)}`, 'back up again');
  const manifestBytes = findings.files.get('backup_manifest') ?? findings.tails.get('backup_manifest');
  // WAL-Ranges close the manifest: its End-LSN is where the backup became consistent.
  const ranges = manifestBytes ? [...manifestBytes.toString('utf8').matchAll(/"End-LSN":\s*"([0-9A-F]+\/[0-9A-F]+)"/gi)] : [];
  const segmentBytes = facts.walSegmentBytes;
  const lastFetched = [...findings.walFiles].sort().at(-1);
  const stopLsn = ranges.at(-1)?.[1] ?? startLsn;
  return {
    kind: 'postgres',
    mode: 'physical',
    serverVersion: facts.serverVersion,
    systemIdentifier: facts.systemIdentifier,
    timeline,
    startLsn,
    stopLsn,
    startWalFile: segmentName(timeline, segmentOfLsn(startLsn, segmentBytes), segmentBytes),
    stopWalFile: ranges.length > 0 ? segmentName(timeline, segmentOfLsn(stopLsn, segmentBytes), segmentBytes) : lastFetched ?? segmentName(timeline, segmentOfLsn(startLsn, segmentBytes), segmentBytes),
    walSegmentBytes: segmentBytes,
    startTime: labelTime(fields['START TIME']),
    sizeBytes,
    databases: facts.databases,
    hasBackupManifest: manifestBytes !== undefined,
    bootstrapSuperuser: facts.bootstrapSuperuser,
  };
}

/** The tablespaces the stream carried, named as the catalog named them before the backup. */
function tablespacesOf(facts: ClusterFacts, protocol: ProtocolBackup): NonNullable<PostgresPhysicalDescription['tablespaces']> {
  return protocol.tablespaces().map((streamed) => ({
    oid: streamed.oid,
    // One created while the backup ran is in the stream but not in the catalog read before it.
    name: facts.tablespaces.find((t) => t.oid === streamed.oid)?.name ?? String(streamed.oid),
    location: streamed.location,
    sizeBytes: streamed.sizeBytes,
  }));
}

/** "2026-11-24 16:30:00 UTC" → ISO; left as written when it does not parse. */
function labelTime(text: string | undefined): string {
  if (!text) return '';
  const parsed = new Date(text.replace(' ', 'T').replace(/ UTC$/, 'Z').replace(/ ([A-Z]+)$/, ''));
  return Number.isNaN(parsed.getTime()) ? text : parsed.toISOString();
}
