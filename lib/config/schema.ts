import { z } from 'zod';
import { durationPattern } from './duration';
import { ANY_REGION } from '../any-region-queue';
import { policyProblem } from '../retention/rule-names';
import { secretQueryKeys } from '../redact';
import { safePathRule, unsafePathProblem } from '../safe-path';
import { codecConfig } from './codec-schema';

// The YAML shape of DESIGN.md. Every object is strict: an unknown key is an error, because a
// misspelt `retention` that is silently ignored keeps backups forever or not at all.

const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a lower-case name of letters, digits and dashes');
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the name of an environment variable');
const duration = z.string().regex(durationPattern, 'a duration such as 30s, 15m, 6h or 7d');
const ageRecipient = z.string().regex(/^age1[02-9ac-hj-np-z]{58}$/, 'an age X25519 recipient (age1…, 62 characters)');

const timezone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'an IANA time zone such as Europe/Stockholm');

const s3Storage = z.strictObject({
  type: z.literal('s3'),
  endpoint: z.url().optional(),
  bucket: z.string().min(3),
  region: z.string().default('us-east-1'),
  forcePathStyle: z.boolean().default(false),
  prefix: z.string().default(''),
  accessKeyIdEnv: envName.optional(),
  secretAccessKeyEnv: envName.optional(),
  /**
   * S3 Object Lock on every object written: retained until retention may delete it (at least
   * `minimum`). The bucket must have been created with Object Lock (and so versioning).
   */
  objectLock: z.strictObject({
    mode: z.enum(['governance', 'compliance']),
    minimum: duration.default('7d'),
  }).optional(),
});

const localStorage = z.strictObject({
  type: z.literal('local'),
  path: z.string().min(1),
  prefix: z.string().default(''),
});

const storage = z.discriminatedUnion('type', [s3Storage, localStorage]);

/** A Temporal Schedule: cron in an IANA zone; overlapping runs are skipped unless told otherwise. */
const schedule = z.strictObject({
  // Only the shape here; Temporal checks the ranges when `schedules apply` sends it.
  cron: z.string().trim()
    .regex(/^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every\s+\S+|(\S+\s+){4,6}\S+)$/, 'a cron expression such as "0 */6 * * *" (minute hour day-of-month month day-of-week)')
    .refine((cron) => !/^(CRON_)?TZ=/.test(cron), 'a cron without CRON_TZ= (put the zone in the timezone key)'),
  timezone: timezone.default('UTC'),
  jitter: duration.optional(),
  /** How late a missed run (server down) may still start; older ones are skipped. */
  catchupWindow: duration.default('1h'),
  overlap: z.enum(['SKIP', 'BUFFER_ONE', 'BUFFER_ALL', 'CANCEL_OTHER', 'TERMINATE_OTHER', 'ALLOW_ALL']).default('SKIP'),
});

const count = z.int().min(0);
const retentionRules = {
  daily: count.optional(),
  weekly: count.optional(),
  monthly: count.optional(),
  yearly: count.optional(),
  keepLast: count.optional(),
  maxAgeDays: count.optional(),
};
/** GFS rules per source; `regions` overrides them whole for one region (e.g. a longer history in the cold region). */
const retention = z.strictObject({
  ...retentionRules,
  regions: z.record(name, z.strictObject(retentionRules)).optional(),
});

/** A webhook's address is a secret (Slack's holds its token): only by reference, or inline for a plain JSON receiver. */
const slackChannel = z.strictObject({
  type: z.literal('slack'),
  urlEnv: envName.optional(),
  urlFile: z.string().optional(),
});
const webhookChannel = z.strictObject({
  type: z.literal('webhook'),
  url: withoutSecrets(z.url(), 'urlEnv or urlFile for a URL that holds a token').optional(),
  urlEnv: envName.optional(),
  urlFile: z.string().optional(),
  /** HMAC-SHA256 key for the X-Lifeboat-Signature header. */
  secretEnv: envName.optional(),
  secretFile: z.string().optional(),
});
const alertChannel = z.discriminatedUnion('type', [slackChannel, webhookChannel]);

const secretRef = {
  passwordEnv: envName.optional(),
  passwordFile: z.string().optional(),
};

/**
 * A user's data check on a restored copy. postgres: `sql` returns one value compared by `expect`
 * ("> 0", "= 42", "<= 1000"); redis: `exists` a key, or `type` of a key `is` a type.
 */
const verifyCheck = z.union([
  z.strictObject({ name: z.string().optional(), sql: z.string().min(1), expect: z.string().regex(/^\s*(=|==|!=|<>|<=|>=|<|>)\s*-?\d+(\.\d+)?\s*$/, 'a comparison with a number such as "> 0" or "= 42"') }),
  z.strictObject({ name: z.string().optional(), exists: z.string().min(1) }),
  z.strictObject({ name: z.string().optional(), type: z.string().min(1), is: z.enum(['string', 'list', 'set', 'zset', 'hash', 'stream']) }),
]);

/** Scheduled restore verification of one source (issue 5). */
const sourceVerify = z.strictObject({
  /** Which backup a run picks: the newest, or a random one finished within `window`. */
  strategy: z.enum(['latest', 'random-within-window']).default('latest'),
  window: duration.default('7d'),
  /** Integrity (hash, chain, decrypt, decompress) in every region; cheap. */
  integrity: schedule.optional(),
  /** A full restore into the region's scratch target, with the checks below. */
  restore: schedule.optional(),
  /** Regions to verify in; default all that hold the source's backups. */
  regions: z.array(name).optional(),
  checks: z.array(verifyCheck).default([]),
});

const common = {
  region: name,
  schedule: schedule.optional(),
  retention: retention.optional(),
  verify: sourceVerify.optional(),
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
    });
}

const postgresUrl = withoutSecrets(z
  .string()
  .refine((text) => URL.canParse(text) && ['postgres:', 'postgresql:'].includes(new URL(text).protocol), 'a postgres://user@host:port/database URL'),
'passwordEnv or passwordFile');

const postgresSource = z.strictObject({
  kind: z.literal('postgres'),
  ...common,
  ...secretRef,
  url: postgresUrl,
  /** logical: pg_dump of one database. physical: pg_basebackup of the whole cluster, plus WAL (`wal`) for point-in-time recovery. */
  mode: z.enum(['logical', 'physical']).default('logical'),
  /** physical only: WAL archiving through a spool directory (see docs/pitr.md). */
  wal: z.strictObject({
    /** Where archive_command puts finished WAL files, on the machine of the source region's worker. */
    spool: z.string().refine((p) => p.startsWith('/'), 'an absolute path'),
    /** How often the shipper looks for new files in the spool. */
    interval: duration.default('10s'),
    /** Rounds of the shipper before it continues as new, keeping its history short. */
    roundsPerRun: z.int().min(1).max(10000).default(200),
    /** Segments of one timeline missing after the newest base backup raise a wal-gap alert once they are this old. */
    gapGrace: duration.default('5m'),
    /** How long a round waits for the worker on the spool's machine before it reports that worker missing (the files wait in the spool). */
    workerTimeout: duration.default('1m'),
  }).optional(),
  schemaOnly: z.boolean().default(false),
  dataOnly: z.boolean().default(false),
  includeTables: z.array(z.string().min(1)).default([]),
  excludeTables: z.array(z.string().min(1)).default([]),
  rowCounts: z.enum(['exact', 'estimate']).default('exact'),
});

const redisSource = z.strictObject({
  kind: z.literal('redis'),
  ...common,
  ...secretRef,
  url: withoutSecrets(z.string().refine((text) => URL.canParse(text) && new URL(text).protocol === 'redis:', 'a redis://host:port URL'), 'passwordEnv or passwordFile'),
});

const filesSource = z.strictObject({
  kind: z.literal('files'),
  ...common,
  path: z.string().refine((p) => p.startsWith('/'), 'an absolute path'),
  /** Globs relative to path: "*.tmp" matches at any depth, "cache/**" from the top. */
  include: z.array(z.string().min(1)).default([]),
  exclude: z.array(z.string().min(1)).default([]),
  /** A new full backup once the last full is this old... */
  fullEvery: duration.default('7d'),
  /** ...or once this many increments follow it. */
  maxIncrements: z.int().min(0).optional(),
});

/**
 * Where a region's worker restores to prove a backup (issue 5). postgres: a server on which
 * Lifeboat creates, uses and drops a scratch database (its user needs CREATEDB); without it,
 * restore-level verification of postgres sources fails with a Config error naming this key.
 * redis and files need only a scratch directory on the worker (a scratch redis-server runs there).
 */
const verifyTarget = z.strictObject({
  target: z.strictObject({
    postgres: z.strictObject({
      url: postgresUrl,
      passwordEnv: envName.optional(),
      passwordFile: z.string().optional(),
    }).optional(),
    /** Scratch space; default the OS temp dir. */
    scratchDir: z.string().refine((p) => unsafePathProblem(p) === undefined, safePathRule).optional(),
  }).prefault({}),
});

const absolutePath = z.string().refine((p) => p.startsWith('/'), 'an absolute path');
/** A path that reaches a shell command or a PostgreSQL config file (lib/safe-path.ts). */
const safePath = z.string().refine((p) => unsafePathProblem(p) === undefined, safePathRule);

/**
 * Where a region brings a source back when it becomes the primary (drFailover, issue 6). Which keys
 * apply depends on the source: postgres physical — dataDir (must not exist or be empty) and port
 * of the cluster Lifeboat starts; postgres logical — url (+ passwordEnv/File) of a running server
 * on which the database is created; redis — directory and port of the redis-server Lifeboat
 * starts; files — directory (must not exist or be empty), and preserveOwnership to keep owners.
 */
const failoverTarget = z.strictObject({
  dataDir: safePath.optional(),
  port: z.int().min(1).max(65535).optional(),
  /** The OS user the restored PostgreSQL runs as; default "postgres" when the worker runs as root, else the worker's user. */
  osUser: z.string().min(1).optional(),
  /**
   * postgres physical: tablespace name → the directory it is restored into (must not exist or be
   * empty), linked from pg_tblspc/<oid> as PostgreSQL lays tablespaces out. Unmapped tablespaces
   * stay inside the data directory (pg_tblspc/<oid>/), never at the source's original location.
   */
  tablespaces: z.record(z.string().min(1), safePath).optional(),
  url: postgresUrl.optional(),
  passwordEnv: envName.optional(),
  passwordFile: z.string().optional(),
  directory: absolutePath.optional(),
  /** redis: how the served Redis keeps the writes it takes after the cut-over (each key has a safe default). */
  persistence: z.strictObject({
    appendonly: z.boolean().default(true),
    appendfsync: z.enum(['always', 'everysec', 'no']).default('everysec'),
    /** redis.conf save points; "" turns RDB snapshots off. */
    save: z.string().regex(/^(\d+ \d+( \d+ \d+)*)?$/, 'pairs of seconds and changes, e.g. "3600 1 300 100 60 10000", or ""').default('3600 1 300 100 60 10000'),
  }).optional(),
  /** files: keep owners, setuid/setgid/sticky bits and every xattr as archived (the worker runs as root); default: the worker's user owns the tree. */
  preserveOwnership: z.boolean().optional(),
});

const regionFailover = z.strictObject({
  targets: z.record(name, failoverTarget).default({}),
});

/** A command run on the target region's worker, or a signed webhook (like alerts.channels). */
const failoverHook = z.strictObject({
  /** argv, no shell: ["/usr/local/bin/fence-primary", "--region", "stockholm"]. */
  command: z.array(z.string().min(1)).min(1).optional(),
  url: withoutSecrets(z.url(), 'urlEnv or urlFile for a URL that holds a token').optional(),
  urlEnv: envName.optional(),
  urlFile: z.string().optional(),
  secretEnv: envName.optional(),
  secretFile: z.string().optional(),
  timeout: duration.default('5m'),
});

const failover = z.strictObject({
  approval: z.strictObject({
    /** Without a decision, the approval request is sent again this often... */
    remindEvery: duration.default('15m'),
    /** ...and the failover aborts once this much time has passed since it started. */
    deadline: duration.default('4h'),
  }).prefault({}),
  /** Preflight waits this long for the target region's worker to pick up a task. */
  workerTimeout: duration.default('1m'),
  hooks: z.strictObject({
    /** Stops writes in the old primary, if it is reachable. Not run in drills. */
    fence: failoverHook.optional(),
    /** A failed fence stops the failover (default) or is recorded and passed over. */
    fenceRequired: z.boolean().default(true),
    /** Points the application at the new region; must succeed. Not run in drills. */
    cutover: failoverHook.optional(),
    /** Run when a step after a cut-over attempt fails, to point the application back. */
    undoCutover: failoverHook.optional(),
  }).prefault({}),
  /** A schedule of drills: restore into the region's targets, verify, report, tear down. */
  drill: z.strictObject({
    region: name,
    schedule,
    sources: z.array(name).optional(),
  }).optional(),
});

const source = z.discriminatedUnion('kind', [postgresSource, redisSource, filesSource]);

const temporalTls = z.strictObject({
  /** PEM CA that signed the server's certificate; omit for a publicly trusted one (Temporal Cloud). */
  serverCaFile: z.string().min(1).optional(),
  /** mTLS: the client certificate and its key, both PEM files. */
  clientCertFile: z.string().min(1).optional(),
  clientKeyFile: z.string().min(1).optional(),
  /** The name the server's certificate must carry, when it is not the host in `address`. */
  serverName: z.string().min(1).optional(),
}).refine((t) => !t.clientCertFile === !t.clientKeyFile, { message: 'clientCertFile and clientKeyFile together (mTLS needs both)', path: ['clientKeyFile'] });

const workerShape = z.strictObject({
  /** Streaming activities (backup, restore, copy, verify restore) run at once per region, each a pipeline of processes and buffered parts. */
  heavySlots: z.int().min(1).max(64).default(2),
  /** Short activities (catalog reads, plans, alerts, cleanup) run at once per region. */
  lightSlots: z.int().min(1).max(200).default(20),
  /**
   * Open workflow runs each workflow-running queue of this process keeps in memory between their tasks
   * (about 1 MiB each); beyond it the least recently used are evicted and replayed from their short
   * history when their next task comes. Bounds the worker's memory when many schedules fire at once.
   */
  maxCachedWorkflows: z.int().min(10).max(10_000).default(150),
  /** On SIGTERM: how long running activities may go on before they are cancelled (they then stop at a checkpoint and resume on another worker). */
  shutdownGrace: duration.default('5m'),
  /** Names this machine's own task queue (steps that need its files); two processes with one hostId must share a filesystem. */
  hostId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a host name of letters, digits, dots, dashes and underscores').optional(),
}).prefault({});

export const configSchema = z
  .strictObject({
    temporal: z
      .strictObject({
        address: z.string().default('127.0.0.1:7233'),
        namespace: z.string().default('default'),
        taskQueuePrefix: z.string().default('lifeboat-'),
        heartbeatTimeout: duration.default('30s'),
        /** A long activity whose progress (bytes, phase, LSN, files) did not advance for this long fails its attempt (retryably, type Stalled). */
        stallTimeout: duration.default('15m'),
        /** Attempts before an unreachable source fails the backup for good. */
        sourceAttempts: z.int().min(1).max(100).default(5),
        /** TLS to the frontend: `true` with the system's CAs, or files (lib/temporal-connection.ts); TEMPORAL_TLS_* override. */
        tls: z.union([z.boolean(), temporalTls]).optional(),
        /** Temporal Cloud API key, by reference like every secret; TEMPORAL_API_KEY overrides. */
        apiKeyEnv: envName.optional(),
        apiKeyFile: z.string().optional(),
        /** Payload encryption (lib/codec): keys by reference, and the codec server for the UI and CLI. */
        codec: codecConfig.optional(),
        /** Worker Deployment Versioning (README "Upgrades"): the deployment's name; the build id is the workflow bundle's hash or LIFEBOAT_BUILD_ID. */
        deployment: z.strictObject({ name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-"') }).optional(),
      })
      .refine((t) => !(t.apiKeyEnv && t.apiKeyFile), { message: 'apiKeyEnv or apiKeyFile, not both', path: ['apiKeyFile'] })
      .prefault({}),
    /** How each worker process shares its machine (worker/shape.ts). */
    worker: workerShape,
    primaryRegion: name,
    regions: z.record(name, z.strictObject({ storage, verify: verifyTarget.optional(), failover: regionFailover.optional() })).refine((r) => Object.keys(r).length > 0, 'at least one region')
      .refine((r) => !(ANY_REGION in r), `no region named "${ANY_REGION}": its queue is the one every region's worker polls`),
    encryption: z.strictObject({
      recipients: z.array(ageRecipient).min(1),
      identityFile: z.string().optional(),
    }),
    /**
     * The catalog is signed (lib/signing.ts): readers trust only what these keys signed. Several for
     * rotation; the signing key is needed only where the catalog is written (backup, sync, retention,
     * verify and WAL workers), by reference like every secret.
     */
    catalog: z.strictObject({
      trustedKeys: z.array(z.string().regex(/^(MCowBQYDK2VwAyEA[A-Za-z0-9+/]{43}=|-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----\s*)$/, 'an Ed25519 public key as "lifeboat catalog keygen" prints it (MCowBQYDK2VwAyEA…)')).min(1),
      signingKeyFile: z.string().optional(),
      signingKeyEnv: envName.optional(),
    }),
    compression: z
      .strictObject({ level: z.int().min(1).max(19).default(3), threads: z.int().min(0).default(0) })
      .prefault({}),
    objectives: z.strictObject({ rpo: duration, rto: duration }).optional(),
    sync: z
      .strictObject({
        /** backupSource starts a sync of its new backup when it finishes. */
        afterBackup: z.boolean().default(true),
        /** Objects copied at once, across regions. */
        concurrency: z.int().min(1).max(64).default(4),
        /** A region whose newest copy is older than the primary's by more than this raises an alert. */
        lagThreshold: duration.default('12h'),
        schedule: schedule.optional(),
      })
      .prefault({}),
    retention: z
      .strictObject({
        /** Days, weeks, months and years of GFS are counted in this zone. */
        timezone: timezone.default('UTC'),
        /** Never delete a copy when fewer than this many regions would still hold the backup. */
        minCopies: z.int().min(1).default(2),
        /** List what would go and why the rest stays; delete nothing. */
        dryRun: z.boolean().default(false),
        /** Data without a manifest is removed only once its newest object is this old: a running backup has no manifest yet either. */
        orphanGrace: duration.default('3d'),
        schedule: schedule.optional(),
      })
      .prefault({}),
    alerts: z
      .strictObject({
        channels: z.array(alertChannel).default([]),
        /** Also report each successful backup (one message per backup). */
        successDigest: z.boolean().default(false),
        /** A backup whose size differs from the previous one's by more than this raises an alert. */
        sizeChangePercent: z.number().min(0).default(50),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        /** 0 turns the endpoint off. */
        port: z.int().min(0).max(65535).default(9464),
        /** How often the worker reads the catalogs for the per-source gauges. */
        catalogInterval: duration.default('5m'),
      })
      .prefault({}),
    failover: failover.optional(),
    /** Restores into a database URL (lifeboat restore --to URL). */
    restore: z.strictObject({
      /** Extra variables --to-password-env may name, besides the passwordEnv keys above (lib/restore-target.ts). */
      targetPasswordEnvs: z.array(envName).default([]),
      /**
       * pg_restore --jobs for a logical restore into a new database. Above 1 the dump is first
       * written, proven, to a scratch file (pg_restore -j needs to seek), then restored in parallel.
       */
      jobs: z.int().min(1).max(64).default(1),
      /** Where that scratch file goes (it is as large as the uncompressed dump); default: the OS temp directory. */
      scratchDir: z.string().refine((p) => p.startsWith('/'), 'an absolute path').optional(),
    }).optional(),
    sources: z.record(name, source),
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
