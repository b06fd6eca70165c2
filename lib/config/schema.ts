import { z } from 'zod';
import { durationPattern } from './duration';
import { ANY_REGION } from '../any-region-queue';
import { policyProblem } from '../retention/rule-names';
import { secretQueryKeys } from '../redact';
import { safePathRule, unsafePathProblem } from '../safe-path';
import { codecConfig } from './codec-schema';

// The config's YAML shape. Every object is strict: an unknown key is an error, because a
// misspelt `retention` that is silently ignored keeps backups forever or not at all.

// `x-type` is the readable type docs/configuration.md shows for a shared kind of value
// (scripts/config-reference.ts); editors ignore the unknown keyword in docs/config.schema.json.
const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a lower-case name of letters, digits and dashes')
  .meta({ 'x-type': 'name (a-z, 0-9, -)' });
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the name of an environment variable')
  .meta({ 'x-type': 'environment variable name' });
const duration = z.string().regex(durationPattern, 'a duration such as 30s, 15m, 6h or 7d')
  .meta({ 'x-type': 'duration (e.g. 30s, 15m, 6h, 7d)' });
const ageRecipient = z.string().regex(/^age1[02-9ac-hj-np-z]{58}$/, 'an age X25519 recipient (age1…, 62 characters)')
  .meta({ 'x-type': 'age recipient (age1…)' });

const timezone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'an IANA time zone such as Europe/Stockholm').meta({ 'x-type': 'IANA time zone (e.g. Europe/Stockholm)' });

const s3Storage = z.strictObject({
  type: z.literal('s3').describe('S3 or an S3-compatible store (SeaweedFS, MinIO, Ceph).'),
  endpoint: z.url().optional().describe('The S3 endpoint URL, e.g. http://127.0.0.1:8333. Omit for AWS S3.'),
  bucket: z.string().min(3).describe('The bucket backups are written to. It must exist; Lifeboat does not create it.'),
  region: z.string().default('us-east-1').describe('The S3 region of the bucket (the AWS one, not a Lifeboat region).'),
  forcePathStyle: z.boolean().default(false).describe('Address the bucket in the path (http://host/bucket) rather than as a host name; true for SeaweedFS, MinIO and Ceph.'),
  prefix: z.string().default('').describe('A key prefix every object of this region is written under, e.g. "lifeboat/".'),
  accessKeyIdEnv: envName.optional().describe('The environment variable holding the access key id. Omit both this and secretAccessKeyEnv for the AWS default chain (instance role, ~/.aws, AWS_* variables).'),
  secretAccessKeyEnv: envName.optional().describe('The environment variable holding the secret access key (with accessKeyIdEnv).'),
  objectLock: z.strictObject({
    mode: z.enum(['governance', 'compliance']).describe('S3 Object Lock retention mode: governance (a user with s3:BypassGovernanceRetention may lift it) or compliance (nobody can, not even the root account).'),
    minimum: duration.default('7d').describe('No object is locked for less than this, even when retention could delete it sooner.'),
  }).optional().describe('S3 Object Lock on every object written: each is retained until retention may delete it, and at least `minimum`. The bucket must have been created with Object Lock (and so versioning). Without it, objects are not locked.'),
});

const localStorage = z.strictObject({
  type: z.literal('local').describe('A directory on the worker\'s filesystem (a mounted disk or NFS share).'),
  path: z.string().min(1).describe('The directory backups are written to.'),
  prefix: z.string().default('').describe('A sub-path under `path` every object of this region is written under.'),
});

const storage = z.discriminatedUnion('type', [s3Storage, localStorage]);

const schedule = z.strictObject({
  // Only the shape here; Temporal checks the ranges when `schedules apply` sends it.
  cron: z.string().trim()
    .regex(/^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every\s+\S+|(\S+\s+){4,6}\S+)$/, 'a cron expression such as "0 */6 * * *" (minute hour day-of-month month day-of-week)')
    .refine((cron) => !/^(CRON_)?TZ=/.test(cron), 'a cron without CRON_TZ= (put the zone in the timezone key)')
    .meta({ 'x-type': 'cron expression' })
    .describe('When runs start: 5 fields (minute hour day-of-month month day-of-week, e.g. "0 */6 * * *"), or @daily, @hourly, @every 90m…, read in `timezone`.'),
  timezone: timezone.default('UTC').describe('The time zone the cron is read in.'),
  jitter: duration.optional().describe('A random delay of up to this much before each run, to spread runs that share a cron. Without it, runs start on the minute.'),
  catchupWindow: duration.default('1h').describe('How late a missed run (Temporal or the workers down) may still start; older missed runs are skipped.'),
  overlap: z.enum(['SKIP', 'BUFFER_ONE', 'BUFFER_ALL', 'CANCEL_OTHER', 'TERMINATE_OTHER', 'ALLOW_ALL']).default('SKIP')
    .describe('What happens when a run is due while the previous one still runs (Temporal\'s overlap policy): SKIP drops the new one.'),
});

const count = z.int().min(0);
const retentionRules = {
  daily: count.optional().describe('GFS: keep the newest backup of each of this many latest days that have backups.'),
  weekly: count.optional().describe('GFS: keep the newest backup of each of this many latest ISO weeks that have backups.'),
  monthly: count.optional().describe('GFS: keep the newest backup of each of this many latest months that have backups.'),
  yearly: count.optional().describe('GFS: keep the newest backup of each of this many latest years that have backups.'),
  keepLast: count.optional().describe('Keep this many newest backups, whatever their age.'),
  maxAgeDays: count.optional().describe('A hard cap: backups older than this many days are deleted even when a rule above keeps them (the interlocks, such as minCopies and the RPO, still win).'),
};
const retention = z.strictObject({
  ...retentionRules,
  regions: z.record(name, z.strictObject(retentionRules).describe('That region\'s rules, replacing the source\'s rules whole.')).optional()
    .describe('Per-region rules that replace the source\'s own ones whole in that region (e.g. a longer history in the cold region). A region not named here uses the rules above.'),
});

const slackChannel = z.strictObject({
  type: z.literal('slack').describe('A Slack incoming webhook.'),
  // A webhook's address is a secret (Slack's holds its token): only by reference.
  urlEnv: envName.optional().describe('The environment variable holding the Slack webhook URL (exactly one of urlEnv or urlFile).'),
  urlFile: z.string().optional().describe('A file holding the Slack webhook URL (exactly one of urlEnv or urlFile).'),
});
const webhookChannel = z.strictObject({
  type: z.literal('webhook').describe('A plain JSON POST to a URL of your own.'),
  url: withoutSecrets(z.url(), 'urlEnv or urlFile for a URL that holds a token').optional()
    .describe('The receiver\'s URL, inline: only for one holding no token (exactly one of url, urlEnv or urlFile).'),
  urlEnv: envName.optional().describe('The environment variable holding the receiver\'s URL.'),
  urlFile: z.string().optional().describe('A file holding the receiver\'s URL.'),
  secretEnv: envName.optional().describe('The environment variable holding the HMAC-SHA256 key that signs each body (X-Lifeboat-Signature header). Without it (and secretFile), messages are unsigned.'),
  secretFile: z.string().optional().describe('A file holding the HMAC-SHA256 signing key (instead of secretEnv).'),
});
const alertChannel = z.discriminatedUnion('type', [slackChannel, webhookChannel]);

const secretRef = {
  passwordEnv: envName.optional().describe('The environment variable holding the password, read by the worker when it connects. Not with passwordFile; with neither, no password is sent (.pgpass, trust or no auth).'),
  passwordFile: z.string().optional().describe('A file holding the password (its trailing newline ignored), read by the worker when it connects. Not with passwordEnv.'),
};

const checkName = z.string().optional().describe('A name for the check in reports; default: the check itself.');
const verifyCheck = z.union([
  z.strictObject({
    name: checkName,
    sql: z.string().min(1).describe('postgres: a query returning one value, run in the restored database.'),
    expect: z.string().regex(/^\s*(=|==|!=|<>|<=|>=|<|>)\s*-?\d+(\.\d+)?\s*$/, 'a comparison with a number such as "> 0" or "= 42"')
      .meta({ 'x-type': 'comparison (e.g. "> 0", "= 42")' })
      .describe('The comparison the value must pass: an operator (=, !=, <, <=, >, >=) and a number, e.g. "> 0".'),
  }),
  z.strictObject({ name: checkName, exists: z.string().min(1).describe('redis: a key that must exist in the restored data.') }),
  z.strictObject({
    name: checkName,
    type: z.string().min(1).describe('redis: a key whose type is checked.'),
    is: z.enum(['string', 'list', 'set', 'zset', 'hash', 'stream']).describe('The Redis type that key must have.'),
  }),
]);

const sourceVerify = z.strictObject({
  strategy: z.enum(['latest', 'random-within-window']).default('latest')
    .describe('Which backup a run verifies: the newest, or a random one finished within `window`.'),
  window: duration.default('7d').describe('For random-within-window: how far back the backup may be.'),
  integrity: schedule.optional().describe('A schedule of integrity checks (hashes, chain, signature, decrypt and decompress) in every region; cheap, no restore. Without it, none are scheduled.'),
  restore: schedule.optional().describe('A schedule of full restores into the region\'s scratch target (regions.<region>.verify.target), followed by the checks. Without it, none are scheduled.'),
  regions: z.array(name).optional().describe('The regions to verify in; default: every region that holds the source\'s backups.'),
  checks: z.array(verifyCheck.describe('One check: sql + expect (postgres); exists, or type + is (redis).')).default([])
    .describe('Your data checks on a restored copy, on top of the built-in ones (row counts, table list). postgres: `sql` + `expect`; redis: `exists`, or `type` + `is`.'),
});

const common = {
  region: name.describe('The region the source is backed up in: its worker runs the backup, into that region\'s storage. One of `regions`.'),
  schedule: schedule.optional().describe('When backups run (applied by `lifeboat schedules apply`). Without it, backups run only when asked (`lifeboat backup`).'),
  retention: retention.optional().describe('Which backups are kept (grandfather-father-son rules). Without it, the source\'s backups are never deleted; an empty or all-zero policy is refused.'),
  verify: sourceVerify.optional().describe('Scheduled verification of this source\'s backups (docs/verify.md). Without it, none is scheduled.'),
};

/** A URL in the config reaches argv, Temporal history and messages: no password, no secret in its query string. */
function withoutSecrets<T extends z.ZodType<string>>(url: T, instead: string) {
  return url
    .refine((text) => !URL.canParse(text) || new URL(text).password === '', `a URL without a password (use ${instead})`)
    .superRefine((text, ctx) => {
      const keys = secretQueryKeys(text);
      if (keys.length > 0) {
        ctx.addIssue({ code: 'custom', input: text, message: `a URL without secrets in its query string (found ${keys.map((k) => `?${k}=`).join(', ')}; use ${instead})` });
      }
    })
    .meta({ 'x-type': 'URL without a password' });
}

const postgresUrl = withoutSecrets(z
  .string()
  .refine((text) => URL.canParse(text) && ['postgres:', 'postgresql:'].includes(new URL(text).protocol), 'a postgres://user@host:port/database URL'),
'passwordEnv or passwordFile').meta({ 'x-type': 'postgres:// URL without a password' });

const absolutePath = z.string().refine((p) => p.startsWith('/'), 'an absolute path').meta({ 'x-type': 'absolute path' });
/** A path that reaches a shell command or a PostgreSQL config file (lib/safe-path.ts). */
const safePath = z.string().refine((p) => unsafePathProblem(p) === undefined, safePathRule)
  .meta({ 'x-type': 'absolute path (letters, digits, . _ / + @ = - only)' });

const postgresSource = z.strictObject({
  kind: z.literal('postgres').describe('A PostgreSQL database (logical) or cluster (physical).'),
  ...common,
  ...secretRef,
  url: postgresUrl.describe('Where to connect: postgres://user@host:port/database. No password in it (use passwordEnv or passwordFile); libpq TLS options such as ?sslmode=verify-full&sslrootcert=… are honoured. physical: a role with REPLICATION; verify checks run in this database.'),
  mode: z.enum(['logical', 'physical']).default('logical')
    .describe('logical: pg_dump of one database. physical: pg_basebackup of the whole cluster, plus WAL (`wal`) for point-in-time recovery (docs/pitr.md).'),
  wal: z.strictObject({
    spool: absolutePath.describe('Where archive_command puts finished WAL files, on the machine of the source region\'s worker.'),
    interval: duration.default('10s').describe('How often the shipper looks for new files in the spool.'),
    roundsPerRun: z.int().min(1).max(10000).default(200).describe('Rounds of the shipper before it continues as new, which keeps its Temporal history short.'),
    gapGrace: duration.default('5m').describe('Segments of one timeline missing after the newest base backup raise a wal-gap alert once they are this old.'),
    workerTimeout: duration.default('1m').describe('How long a round waits for the worker on the spool\'s machine before it reports that worker missing (WorkerUnavailable; the files wait in the spool).'),
  }).optional().describe('physical only: continuous WAL archiving through a spool directory, for point-in-time recovery (docs/pitr.md, docs/wal.md). Without it, a physical source restores only to its base backups.'),
  schemaOnly: z.boolean().default(false).describe('logical only: dump the schema, no data (pg_dump --schema-only). Not with dataOnly.'),
  dataOnly: z.boolean().default(false).describe('logical only: dump the data, no schema (pg_dump --data-only). Not with schemaOnly.'),
  includeTables: z.array(z.string().min(1)).default([]).describe('logical only: pg_dump --table patterns; only these tables are dumped. Empty: every table.'),
  excludeTables: z.array(z.string().min(1)).default([]).describe('logical only: pg_dump --exclude-table patterns; these tables are left out.'),
  rowCounts: z.enum(['exact', 'estimate']).default('exact')
    .describe('How the manifest records each table\'s rows: exact (count(*) in the dump\'s snapshot; a restore check compares them) or estimate (the planner\'s statistics, cheaper on huge tables; reported, not compared).'),
});

const redisSource = z.strictObject({
  kind: z.literal('redis').describe('A Redis server (an RDB snapshot of it).'),
  ...common,
  ...secretRef,
  url: withoutSecrets(z.string().refine((text) => URL.canParse(text) && new URL(text).protocol === 'redis:', 'a redis://host:port URL'), 'passwordEnv or passwordFile')
    .meta({ 'x-type': 'redis:// URL without a password' })
    .describe('Where to connect: redis://[user@]host:port (a user for ACLs). No password in it: use passwordEnv or passwordFile (passed as REDISCLI_AUTH, never on a command line).'),
});

const filesSource = z.strictObject({
  kind: z.literal('files').describe('A directory tree (GNU tar, full and incremental).'),
  ...common,
  path: absolutePath.describe('The directory to back up, on the machine of the source region\'s worker.'),
  include: z.array(z.string().min(1)).default([])
    .describe('Globs relative to `path`: when given, only files matching one are backed up (with the directories that lead to them). A glob without "/" matches a name at any depth ("*.csv"), one with "/" from the top ("reports/**"); "*" and "?" stay within a name, "**" crosses directories. Empty: every file.'),
  exclude: z.array(z.string().min(1)).default([])
    .describe('Globs, by the same rules as include, of paths left out (a directory with everything below it). Exclude wins over include.'),
  fullEvery: duration.default('7d').describe('A new full backup once the last full one is this old; the backups in between are increments.'),
  maxIncrements: z.int().min(0).optional().describe('A new full backup also once this many increments follow the last full one. Without it: no limit (only fullEvery).'),
});

const verifyTarget = z.strictObject({
  target: z.strictObject({
    postgres: z.strictObject({
      url: postgresUrl.describe('A server on which Lifeboat creates, uses and drops a scratch database; its user needs CREATEDB.'),
      passwordEnv: envName.optional().describe('The environment variable holding that user\'s password.'),
      passwordFile: z.string().optional().describe('A file holding that user\'s password.'),
    }).optional().describe('Where restore-level verification of postgres sources happens. Without it, that verification fails with a Config error naming this key.'),
    scratchDir: safePath.optional()
      .describe('Scratch space for restored Redis data (a scratch redis-server runs there) and file trees; default: the OS temp directory.'),
  }).prefault({}).describe('The scratch target this region\'s worker restores into.'),
});

/**
 * Which keys apply depends on the source (failoverTargetProblem below checks it): postgres
 * physical, dataDir and port; postgres logical, url; redis, directory and port; files, directory.
 */
const failoverTarget = z.strictObject({
  dataDir: safePath.optional().describe('postgres physical (required): the data directory of the cluster Lifeboat starts; must not exist or be empty.'),
  port: z.int().min(1).max(65535).optional().describe('postgres physical and redis (required): the port the restored server listens on.'),
  osUser: z.string().min(1).optional().describe('postgres physical: the OS user the restored PostgreSQL runs as; default "postgres" when the worker runs as root, else the worker\'s user.'),
  tablespaces: z.record(z.string().min(1), safePath.describe('The directory that tablespace is restored into; must not exist or be empty.')).optional()
    .describe('postgres physical: tablespace name → the directory it is restored into, linked from pg_tblspc/<oid>. Unmapped tablespaces stay inside the data directory (pg_tblspc/<oid>/), never at the source\'s original location.'),
  url: postgresUrl.optional().describe('postgres logical (required): a running server on which the database is created, postgres://user@host:port/database.'),
  passwordEnv: envName.optional().describe('postgres logical: the environment variable holding the password for url. redis: becomes the restored server\'s requirepass (written only to its redis.conf, mode 0600).'),
  passwordFile: z.string().optional().describe('A file holding that password (instead of passwordEnv).'),
  directory: absolutePath.optional().describe('redis (required): where dump.rdb goes and the redis-server Lifeboat starts keeps its data. files (required): where the tree is restored; must not exist or be empty.'),
  persistence: z.strictObject({
    appendonly: z.boolean().default(true).describe('Turn Redis\'s append-only file on (appendonly yes).'),
    appendfsync: z.enum(['always', 'everysec', 'no']).default('everysec').describe('When the append-only file is fsynced (Redis\'s appendfsync).'),
    save: z.string().regex(/^(\d+ \d+( \d+ \d+)*)?$/, 'pairs of seconds and changes, e.g. "3600 1 300 100 60 10000", or ""')
      .meta({ 'x-type': 'Redis save points (e.g. "3600 1 300 100")' })
      .default('3600 1 300 100 60 10000').describe('redis.conf save points: pairs of seconds and changes; "" turns RDB snapshots off.'),
  }).optional().describe('redis: how the served Redis keeps the writes it takes after the cut-over. Without it, each key takes its default.'),
  preserveOwnership: z.boolean().optional().describe('files: keep owners, setuid/setgid/sticky bits and every xattr as archived (the worker runs as root). Default: the worker\'s user owns the tree.'),
});

const regionFailover = z.strictObject({
  targets: z.record(name, failoverTarget.describe('Where that source comes back. postgres physical: dataDir and port; postgres logical: url; redis: directory and port; files: directory.')).default({})
    .describe('Source name → where that source is brought back in this region (docs/failover.md).'),
});

const failoverHook = z.strictObject({
  command: z.array(z.string().min(1)).min(1).optional()
    .describe('A command run on the target region\'s worker: argv, no shell, e.g. ["/usr/local/bin/fence-primary", "--region", "stockholm"]. It gets LIFEBOAT_FAILOVER_ID, LIFEBOAT_TARGET_REGION, LIFEBOAT_STEP and LIFEBOAT_DRILL. Exactly one of command, url, urlEnv or urlFile.'),
  url: withoutSecrets(z.url(), 'urlEnv or urlFile for a URL that holds a token').optional().describe('A webhook to POST to, inline (no token in it).'),
  urlEnv: envName.optional().describe('The environment variable holding the webhook URL.'),
  urlFile: z.string().optional().describe('A file holding the webhook URL.'),
  secretEnv: envName.optional().describe('The environment variable holding the HMAC-SHA256 key that signs the webhook\'s body (as for alerts.channels). Webhooks only.'),
  secretFile: z.string().optional().describe('A file holding that HMAC-SHA256 key. Webhooks only.'),
  timeout: duration.default('5m').describe('How long the hook may take before it counts as failed.'),
});

const failover = z.strictObject({
  approval: z.strictObject({
    remindEvery: duration.default('15m').describe('Without a decision, the approval request (with a fresh plan) is sent again this often.'),
    deadline: duration.default('4h').describe('The failover aborts once this much time has passed since it started without an approval.'),
  }).prefault({}).describe('How a failover waits for `lifeboat failover approve`.'),
  workerTimeout: duration.default('1m').describe('Preflight waits this long for the target region\'s worker to pick up a task before it fails.'),
  hooks: z.strictObject({
    fence: failoverHook.optional().describe('Stops writes in the old primary, if it is reachable. Not run in drills.'),
    fenceRequired: z.boolean().default(true).describe('true: a failed fence stops the failover. false: it is recorded and passed over.'),
    cutover: failoverHook.optional().describe('Points the application at the new region; must succeed. Not run in drills.'),
    undoCutover: failoverHook.optional().describe('Run when a step after a cut-over attempt fails, to point the application back.'),
  }).prefault({}).describe('Commands or webhooks run at the failover\'s steps. Each: exactly one of command, url, urlEnv or urlFile.'),
  drill: z.strictObject({
    region: name.describe('The region the drill fails over into (its failover targets are used). One of `regions`.'),
    schedule: schedule.describe('When drills run (applied by `lifeboat schedules apply`).'),
    sources: z.array(name).optional().describe('The sources drilled; default: all.'),
  }).optional().describe('Scheduled failover drills: restore into the region\'s targets, verify, report RPO/RTO, tear down; approved automatically, no hooks. Without it, drills run only when asked.'),
});

const source = z.discriminatedUnion('kind', [postgresSource, redisSource, filesSource]);

const temporalTls = z.strictObject({
  serverCaFile: z.string().min(1).optional().describe('A PEM file with the CA that signed the server\'s certificate; omit for a publicly trusted one (Temporal Cloud). TEMPORAL_TLS_SERVER_CA_CERT_PATH/_DATA override.'),
  clientCertFile: z.string().min(1).optional().describe('mTLS: the client certificate, a PEM file (with clientKeyFile). TEMPORAL_TLS_CLIENT_CERT_PATH/_DATA override.'),
  clientKeyFile: z.string().min(1).optional().describe('mTLS: the client certificate\'s key, a PEM file (with clientCertFile). TEMPORAL_TLS_CLIENT_KEY_PATH/_DATA override.'),
  serverName: z.string().min(1).optional().describe('The name the server\'s certificate must carry, when it is not the host in `address`. TEMPORAL_TLS_SERVER_NAME overrides.'),
}).refine((t) => !t.clientCertFile === !t.clientKeyFile, { message: 'clientCertFile and clientKeyFile together (mTLS needs both)', path: ['clientKeyFile'] });

const workerShape = z.strictObject({
  heavySlots: z.int().min(1).max(64).default(2)
    .describe('Streaming activities (backup, restore, copy, verify restore) run at once per region, each a pipeline of processes and buffered parts.'),
  lightSlots: z.int().min(1).max(200).default(20).describe('Short activities (catalog reads, plans, alerts, cleanup) run at once per region.'),
  maxCachedWorkflows: z.int().min(10).max(10_000).default(150)
    .describe('Open workflow runs each workflow-running queue of this process keeps in memory between their tasks (about 1 MiB each); beyond it the least recently used are evicted and replayed from their short history when their next task comes. Bounds the worker\'s memory when many schedules fire at once.'),
  shutdownGrace: duration.default('5m')
    .describe('On SIGTERM: how long running activities may go on before they are cancelled (they then stop at a checkpoint and resume on another worker).'),
  hostId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a host name of letters, digits, dots, dashes and underscores')
    .meta({ 'x-type': 'host name (letters, digits, . _ -)' }).optional()
    .describe('Names this machine\'s own task queue (steps that need its files, such as the WAL spool); default: the machine\'s host name. Two processes with one hostId must share a filesystem.'),
}).prefault({});

export const configSchema = z
  .strictObject({
    temporal: z
      .strictObject({
        address: z.string().default('127.0.0.1:7233').describe('The Temporal frontend, host:port. TEMPORAL_ADDRESS (and the CLI\'s --address) override.'),
        namespace: z.string().default('default').describe('The Temporal namespace. TEMPORAL_NAMESPACE (and the CLI\'s --namespace) override.'),
        taskQueuePrefix: z.string().default('lifeboat-').describe('Prefix of every task queue, schedule and workflow id: a region\'s queue is <prefix><region>. Two deployments on one namespace need different prefixes.'),
        heartbeatTimeout: duration.default('30s').describe('How long a running activity may go without a heartbeat before Temporal retries it elsewhere: how soon a dead worker\'s work is picked up.'),
        stallTimeout: duration.default('15m').describe('A long activity whose progress (bytes, phase, LSN, files) did not advance for this long fails its attempt (retryably, type Stalled).'),
        sourceAttempts: z.int().min(1).max(100).default(5).describe('Attempts before an unreachable source fails the backup (or restore) for good.'),
        tls: z.union([z.boolean(), temporalTls]).optional()
          .describe('TLS to the frontend: true with the system\'s CAs, false for plain text even with an API key, or the files below. Without it, TLS is on once any TLS setting or an API key is given. TEMPORAL_TLS (true/false) overrides.'),
        apiKeyEnv: envName.optional().describe('The environment variable holding a Temporal Cloud API key (turns TLS on). Not with apiKeyFile; TEMPORAL_API_KEY overrides both.'),
        apiKeyFile: z.string().optional().describe('A file holding a Temporal Cloud API key (turns TLS on). Not with apiKeyEnv; TEMPORAL_API_KEY overrides both.'),
        codec: codecConfig.optional().describe('Encrypts every payload Lifeboat puts in Temporal (AES-256-GCM): keys by reference, and the codec server for the UI and CLI. Without it, payloads are stored as plain JSON.'),
        deployment: z.strictObject({
          name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-"').describe('The Worker Deployment\'s name (letters, digits, "_", "." and "-").'),
        }).optional().describe('Worker Deployment Versioning: workers register as a version of this deployment; the build id is LIFEBOAT_BUILD_ID, else a hash of the workflow code. Without it, workers are unversioned.'),
      })
      .refine((t) => !(t.apiKeyEnv && t.apiKeyFile), { message: 'apiKeyEnv or apiKeyFile, not both', path: ['apiKeyFile'] })
      .prefault({})
      .describe('How the CLI and the workers reach Temporal.'),
    worker: workerShape.describe('How each `lifeboat worker` process shares its machine.'),
    primaryRegion: name.describe('The region whose sources are live; one of `regions`. A failover changes which region serves.'),
    regions: z.record(name, z.strictObject({
      storage: storage.describe('Where this region\'s backups are stored: S3 (type: s3) or a local directory (type: local).'),
      verify: verifyTarget.optional().describe('Where this region\'s worker restores to prove backups (docs/verify.md). Without it, postgres restore verification fails with a Config error; redis and files use the OS temp directory.'),
      failover: regionFailover.optional().describe('Where each source comes back when this region becomes the primary (docs/failover.md).'),
    }).describe('One region: a storage location and the worker(s) that serve it.')).refine((r) => Object.keys(r).length > 0, 'at least one region')
      .refine((r) => !(ANY_REGION in r), `no region named "${ANY_REGION}": its queue is the one every region's worker polls`)
      .describe('Region name → its storage, verify target and failover targets. At least one; none may be named "any-region".'),
    encryption: z.strictObject({
      recipients: z.array(ageRecipient).min(1).describe('The age public keys every backup is encrypted to (at least one); all a backup needs.'),
      identityFile: z.string().optional().describe('The age identity (private key) file, mode 0600 or 0400 (else BadKey). Needed by workers that restore or verify by restoring; without it, a files source\'s next backup is a full one (its increment state is encrypted).'),
    }).describe('Every backup is encrypted with age before it leaves the worker.'),
    catalog: z.strictObject({
      trustedKeys: z.array(z.string().regex(/^(MCowBQYDK2VwAyEA[A-Za-z0-9+/]{43}=|-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----\s*)$/, 'an Ed25519 public key as "lifeboat catalog keygen" prints it (MCowBQYDK2VwAyEA…)')
        .meta({ 'x-type': 'Ed25519 public key (MCowBQYDK2VwAyEA…)' })).min(1)
        .describe('Ed25519 public keys whose signatures readers trust, as `lifeboat catalog keygen` prints them. Several while rotating.'),
      signingKeyFile: z.string().optional().describe('The PEM private key that signs the catalog, mode 0600. Needed only where the catalog is written (backup, sync, retention, verify and WAL workers). Not with signingKeyEnv.'),
      signingKeyEnv: envName.optional().describe('The environment variable holding the PEM private key (instead of signingKeyFile).'),
    }).describe('The catalog (manifests and their index) is signed: readers trust only what these keys signed.'),
    compression: z
      .strictObject({
        level: z.int().min(1).max(19).default(3).describe('The zstd compression level, 1 (fast) to 19 (small).'),
        threads: z.int().min(0).default(0).describe('zstd threads per backup; 0 uses every core.'),
      })
      .prefault({})
      .describe('zstd compression of every backup, before encryption.'),
    objectives: z.strictObject({
      rpo: duration.describe('Recovery point objective: the most data you accept to lose. A source with no successful backup this recent raises rpo-missed (checked every 15 minutes); retention deletes nothing while a source is past it.'),
      rto: duration.describe('Recovery time objective: how long a restore may take. `lifeboat status` compares verify restores with it; a failover restore that takes longer fails.'),
    }).optional().describe('Recovery objectives; rpo and rto are both required when the block is given. Without it, nothing is compared and no rpo-missed alert is raised.'),
    sync: z
      .strictObject({
        afterBackup: z.boolean().default(true).describe('Each backup starts a sync of its source to the other regions when it finishes.'),
        concurrency: z.int().min(1).max(64).default(4).describe('Objects copied at once, across regions.'),
        lagThreshold: duration.default('12h').describe('A region whose newest copy is older than the primary\'s by more than this raises a sync-lag alert.'),
        schedule: schedule.optional().describe('A schedule of syncs of every source (applied by `lifeboat schedules apply`); catches up what afterBackup missed.'),
      })
      .prefault({})
      .describe('Copying backups to every other region (docs/sync.md).'),
    retention: z
      .strictObject({
        timezone: timezone.default('UTC').describe('The zone in which days, ISO weeks, months and years of the GFS rules are counted.'),
        minCopies: z.int().min(1).default(2).describe('Never delete a copy when fewer than this many regions would still hold the backup.'),
        dryRun: z.boolean().default(false).describe('List what would go and why the rest stays; delete nothing.'),
        orphanGrace: duration.default('3d').describe('Data without a manifest is removed only once its newest object is this old (a running backup has no manifest yet either).'),
        schedule: schedule.optional().describe('A schedule of retention runs in every region (applied by `lifeboat schedules apply`). Without it, retention runs only when asked.'),
      })
      .prefault({})
      .describe('How retention runs; the rules themselves are per source (sources.<source>.retention, docs/retention.md).'),
    alerts: z
      .strictObject({
        channels: z.array(alertChannel.describe('One channel: Slack or a webhook.')).default([]).describe('Where alerts go. Empty: no messages are sent.'),
        successDigest: z.boolean().default(false).describe('Also report each successful backup (one message per backup).'),
        sizeChangePercent: z.number().min(0).default(50).describe('A backup whose size differs from the previous one\'s by more than this percentage raises an alert.'),
      })
      .prefault({})
      .describe('Alerts (docs/alerts-and-metrics.md).'),
    metrics: z
      .strictObject({
        host: z.string().default('127.0.0.1').describe('The address the worker\'s Prometheus /metrics endpoint listens on.'),
        port: z.int().min(0).max(65535).default(9464).describe('The port of the /metrics endpoint; 0 turns it off.'),
        catalogInterval: duration.default('5m').describe('How often the worker reads the catalogs for the per-source gauges.'),
      })
      .prefault({})
      .describe('The worker\'s Prometheus endpoint (docs/alerts-and-metrics.md).'),
    failover: failover.optional().describe('Failover to another region: approval, hooks and drills (docs/failover.md). Without it, the defaults apply and no drill is scheduled.'),
    restore: z.strictObject({
      targetPasswordEnvs: z.array(envName).default([])
        .describe('More environment variables `lifeboat restore --to-password-env` may name, besides the passwordEnv keys of the config.'),
      // pg_restore -j needs to seek, which a stream cannot.
      jobs: z.int().min(1).max(64).default(1)
        .describe('pg_restore --jobs for a logical restore into a new database. Above 1 the dump is first written, proven, to a scratch file, then restored in parallel.'),
      scratchDir: absolutePath.optional().describe('Where that scratch file goes (as large as the uncompressed dump); default: the OS temp directory.'),
    }).optional().describe('Restores into a database URL (`lifeboat restore --to URL`).'),
    sources: z.record(name, source.describe('One source; `kind` decides its other keys.'))
      .describe('Source name → what is backed up, where and when.'),
  })
  .superRefine((config, ctx) => {
    if (config.catalog.signingKeyFile && config.catalog.signingKeyEnv) {
      ctx.addIssue({ code: 'custom', path: ['catalog', 'signingKeyEnv'], input: config.catalog.signingKeyEnv, message: 'either signingKeyFile or signingKeyEnv, not both' });
    }
    if (!(config.primaryRegion in config.regions)) {
      ctx.addIssue({ code: 'custom', path: ['primaryRegion'], input: config.primaryRegion, message: `one of the regions (${Object.keys(config.regions).join(', ')})` });
    }
    for (const [id, src] of Object.entries(config.sources)) {
      if (!(src.region in config.regions)) {
        ctx.addIssue({ code: 'custom', path: ['sources', id, 'region'], input: src.region, message: `one of the regions (${Object.keys(config.regions).join(', ')})` });
      }
      if (src.kind === 'postgres' && src.mode === 'physical') {
        for (const key of ['schemaOnly', 'dataOnly'] as const) {
          if (src[key]) ctx.addIssue({ code: 'custom', path: ['sources', id, key], input: true, message: 'not with mode: physical (a base backup holds the whole cluster)' });
        }
        for (const key of ['includeTables', 'excludeTables'] as const) {
          if (src[key].length > 0) ctx.addIssue({ code: 'custom', path: ['sources', id, key], input: src[key], message: 'not with mode: physical (a base backup holds the whole cluster)' });
        }
      }
      if (src.kind === 'postgres' && src.wal && src.mode !== 'physical') {
        ctx.addIssue({ code: 'custom', path: ['sources', id, 'wal'], input: src.wal, message: 'only with mode: physical (WAL replays onto a base backup, not onto a dump)' });
      }
      if (src.kind === 'postgres' && src.schemaOnly && src.dataOnly) {
        ctx.addIssue({ code: 'custom', path: ['sources', id, 'dataOnly'], input: true, message: 'not both schemaOnly and dataOnly' });
      }
      if (src.retention) {
        // An empty policy is refused where it applies: the source's own rules unless every region overrides them.
        const { regions: overrides = {}, ...own } = src.retention;
        const policies: Array<[string[], typeof own]> = Object.entries(overrides).map(([region, rules]) => [['regions', region], rules]);
        if (Object.keys(config.regions).some((region) => !(region in overrides))) policies.unshift([[], own]);
        for (const [path, rules] of policies) {
          const problem = policyProblem(rules);
          if (problem) ctx.addIssue({ code: 'custom', path: ['sources', id, 'retention', ...path], input: rules, message: problem });
        }
      }
      for (const region of Object.keys(src.retention?.regions ?? {})) {
        if (!(region in config.regions)) {
          ctx.addIssue({ code: 'custom', path: ['sources', id, 'retention', 'regions', region], input: region, message: `one of the regions (${Object.keys(config.regions).join(', ')})` });
        }
      }
      if (src.kind !== 'files' && src.passwordEnv && src.passwordFile) {
        ctx.addIssue({ code: 'custom', path: ['sources', id, 'passwordFile'], input: src.passwordFile, message: 'either passwordEnv or passwordFile, not both' });
      }
    }
    for (const [region, regionConfig] of Object.entries(config.regions)) {
      for (const [source, target] of Object.entries(regionConfig.failover?.targets ?? {})) {
        const problem = failoverTargetProblem(config.sources[source], target);
        if (problem) ctx.addIssue({ code: 'custom', path: ['regions', region, 'failover', 'targets', source], input: target, message: problem });
      }
    }
    if (config.failover?.drill && !(config.failover.drill.region in config.regions)) {
      ctx.addIssue({ code: 'custom', path: ['failover', 'drill', 'region'], input: config.failover.drill.region, message: `one of the regions (${Object.keys(config.regions).join(', ')})` });
    }
    for (const [hookName, hook] of Object.entries(config.failover?.hooks ?? {})) {
      if (typeof hook !== 'object') continue;
      const refs = [hook.command, hook.url, hook.urlEnv, hook.urlFile].filter((ref) => ref !== undefined);
      if (refs.length !== 1) ctx.addIssue({ code: 'custom', path: ['failover', 'hooks', hookName], input: hook, message: 'exactly one of command, url, urlEnv or urlFile' });
      if (hook.command && (hook.secretEnv || hook.secretFile)) ctx.addIssue({ code: 'custom', path: ['failover', 'hooks', hookName], input: hook, message: 'secretEnv/secretFile sign webhooks; a command gets none' });
    }
    config.alerts.channels.forEach((channel, index) => {
      const refs = [channel.type === 'webhook' ? channel.url : undefined, channel.urlEnv, channel.urlFile].filter((ref) => ref !== undefined);
      if (refs.length !== 1) {
        ctx.addIssue({ code: 'custom', path: ['alerts', 'channels', index], input: channel,
          message: channel.type === 'slack' ? 'exactly one of urlEnv or urlFile (the webhook URL is a secret)' : 'exactly one of url, urlEnv or urlFile' });
      }
      if (channel.type === 'webhook' && channel.secretEnv && channel.secretFile) {
        ctx.addIssue({ code: 'custom', path: ['alerts', 'channels', index, 'secretFile'], input: channel.secretFile, message: 'either secretEnv or secretFile, not both' });
      }
    });
  });

type FailoverTarget = z.infer<typeof failoverTarget>;

/** Which target keys a source's kind needs; undefined when the target fits. */
function failoverTargetProblem(source: z.infer<typeof postgresSource> | z.infer<typeof redisSource> | z.infer<typeof filesSource> | undefined, target: FailoverTarget): string | undefined {
  if (!source) return 'the name of a configured source';
  const given = Object.entries(target).filter(([, value]) => value !== undefined).map(([key]) => key);
  const allowed: Record<string, string[]> = {
    'postgres/physical': ['dataDir', 'port', 'osUser', 'tablespaces'],
    'postgres/logical': ['url', 'passwordEnv', 'passwordFile'],
    redis: ['directory', 'port', 'passwordEnv', 'passwordFile', 'persistence'],
    files: ['directory', 'preserveOwnership'],
  };
  const shape = source.kind === 'postgres' ? `postgres/${source.mode}` : source.kind;
  const required: Record<string, string[]> = {
    'postgres/physical': ['dataDir', 'port'], 'postgres/logical': ['url'], redis: ['directory', 'port'], files: ['directory'],
  };
  const extra = given.filter((key) => !allowed[shape]!.includes(key));
  const missing = required[shape]!.filter((key) => !given.includes(key));
  if (extra.length === 0 && missing.length === 0) return undefined;
  return `a ${shape} source needs ${required[shape]!.join(' and ')}${allowed[shape]!.length > required[shape]!.length ? ` (optional: ${allowed[shape]!.filter((k) => !required[shape]!.includes(k)).join(', ')})` : ''}${extra.length ? `; not ${extra.join(', ')}` : ''}`;
}

export type Config = z.infer<typeof configSchema>;
export type SourceConfig = Config['sources'][string];
export type PostgresSourceConfig = Extract<SourceConfig, { kind: 'postgres' }>;
export type RedisSourceConfig = Extract<SourceConfig, { kind: 'redis' }>;
export type FilesSourceConfig = Extract<SourceConfig, { kind: 'files' }>;
export type StorageConfig = Config['regions'][string]['storage'];
export type ObjectLockConfig = NonNullable<Extract<StorageConfig, { type: 's3' }>['objectLock']>;
export type SourceKind = SourceConfig['kind'];
export type ScheduleConfig = NonNullable<SourceConfig['schedule']>;
export type RetentionConfig = NonNullable<SourceConfig['retention']>;
export type RetentionRules = Omit<RetentionConfig, 'regions'>;
export type AlertChannelConfig = Config['alerts']['channels'][number];
export type SourceVerifyConfig = NonNullable<SourceConfig['verify']>;
export type VerifyCheckConfig = SourceVerifyConfig['checks'][number];
export type VerifyTargetConfig = NonNullable<Config['regions'][string]['verify']>;
export type WalConfig = NonNullable<PostgresSourceConfig['wal']>;
export type FailoverTargetConfig = FailoverTarget;
export type FailoverConfig = NonNullable<Config['failover']>;
export type FailoverHookConfig = NonNullable<FailoverConfig['hooks']['fence']>;
