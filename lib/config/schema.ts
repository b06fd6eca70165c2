import { z } from 'zod';
import { durationPattern } from './duration';

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
});

const localStorage = z.strictObject({
  type: z.literal('local'),
  path: z.string().min(1),
  prefix: z.string().default(''),
});

const storage = z.discriminatedUnion('type', [s3Storage, localStorage]);

const schedule = z.strictObject({
  cron: z.string().min(9),
  timezone: timezone.default('UTC'),
  jitter: duration.optional(),
});

const count = z.int().min(0);
const retention = z.strictObject({
  daily: count.optional(),
  weekly: count.optional(),
  monthly: count.optional(),
  yearly: count.optional(),
  keepLast: count.optional(),
  maxAgeDays: count.optional(),
});

const secretRef = {
  passwordEnv: envName.optional(),
  passwordFile: z.string().optional(),
};

const common = {
  region: name,
  schedule: schedule.optional(),
  retention: retention.optional(),
};

const postgresUrl = z
  .string()
  .refine((text) => URL.canParse(text) && ['postgres:', 'postgresql:'].includes(new URL(text).protocol), 'a postgres://user@host:port/database URL')
  .refine((text) => !URL.canParse(text) || new URL(text).password === '', 'a URL without a password (use passwordEnv or passwordFile)');

const postgresSource = z.strictObject({
  kind: z.literal('postgres'),
  ...common,
  ...secretRef,
  url: postgresUrl,
  mode: z.literal('logical').default('logical'),
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
  url: z.string().refine((text) => URL.canParse(text) && new URL(text).protocol === 'redis:', 'a redis://host:port URL'),
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

const source = z.discriminatedUnion('kind', [postgresSource, redisSource, filesSource]);

export const configSchema = z
  .strictObject({
    temporal: z
      .strictObject({
        address: z.string().default('127.0.0.1:7233'),
        namespace: z.string().default('default'),
        taskQueuePrefix: z.string().default('lifeboat-'),
        heartbeatTimeout: duration.default('30s'),
        /** Attempts before an unreachable source fails the backup for good. */
        sourceAttempts: z.int().min(1).max(100).default(5),
      })
      .prefault({}),
    primaryRegion: name,
    regions: z.record(name, z.strictObject({ storage })).refine((r) => Object.keys(r).length > 0, 'at least one region'),
    encryption: z.strictObject({
      recipients: z.array(ageRecipient).min(1),
      identityFile: z.string().optional(),
    }),
    compression: z
      .strictObject({ level: z.int().min(1).max(19).default(3), threads: z.int().min(0).default(0) })
      .prefault({}),
    objectives: z.strictObject({ rpo: duration, rto: duration }).optional(),
    sources: z.record(name, source),
  })
  .superRefine((config, ctx) => {
    if (!(config.primaryRegion in config.regions)) {
      ctx.addIssue({ code: 'custom', path: ['primaryRegion'], input: config.primaryRegion, message: `one of the regions (${Object.keys(config.regions).join(', ')})` });
    }
    for (const [id, src] of Object.entries(config.sources)) {
      if (!(src.region in config.regions)) {
        ctx.addIssue({ code: 'custom', path: ['sources', id, 'region'], input: src.region, message: `one of the regions (${Object.keys(config.regions).join(', ')})` });
      }
      if (src.kind === 'postgres' && src.schemaOnly && src.dataOnly) {
        ctx.addIssue({ code: 'custom', path: ['sources', id, 'dataOnly'], input: true, message: 'not both schemaOnly and dataOnly' });
      }
      if (src.kind !== 'files' && src.passwordEnv && src.passwordFile) {
        ctx.addIssue({ code: 'custom', path: ['sources', id, 'passwordFile'], input: src.passwordFile, message: 'either passwordEnv or passwordFile, not both' });
      }
    }
  });

export type Config = z.infer<typeof configSchema>;
export type SourceConfig = Config['sources'][string];
export type PostgresSourceConfig = Extract<SourceConfig, { kind: 'postgres' }>;
export type RedisSourceConfig = Extract<SourceConfig, { kind: 'redis' }>;
export type FilesSourceConfig = Extract<SourceConfig, { kind: 'files' }>;
export type StorageConfig = Config['regions'][string]['storage'];
export type SourceKind = SourceConfig['kind'];
