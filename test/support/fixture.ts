import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../lib/config/load';
import type { Config } from '../../lib/config/schema';
import type { Servers } from '../harness/servers';
import { catalogConfig } from './signing';
import { testCodecConfig } from './codec';

export interface AgeKey {
  identityFile: string;
  recipient: string;
}

export async function ageKey(dir: string, name = 'key'): Promise<AgeKey> {
  const identityFile = join(dir, name);
  await execa('age-keygen', ['-o', identityFile]);
  // Restores refuse an identity file others may read (as ssh does); age-keygen makes it 0600, this says so.
  chmodSync(identityFile, 0o600);
  const { stdout } = await execa('age-keygen', ['-y', identityFile]);
  return { identityFile, recipient: stdout.trim() };
}

export interface Fixture {
  dir: string;
  key: AgeKey;
  config: Config;
  configFile: string;
  /** What the worker's environment must hold: S3 credentials and the database password. */
  env: Record<string, string>;
  /** A unique prefix inside every bucket, so test files never see each other's backups. */
  prefix: string;
  cleanup(): void;
}

/**
 * A config for the real servers: regions stockholm (S3) and gothenburg (S3), plus sources built
 * by the caller. Secrets go in env under names unique to this fixture, never in the YAML.
 */
export interface SourceContext {
  /** A postgres source on the test cluster, its password by reference. */
  postgres(database: string, options?: Record<string, unknown>): Record<string, unknown>;
}

/** `regionExtra` is merged into every region, e.g. `{ verify: { target: { ... } } }`. */
export async function makeFixture(servers: Servers, sources: (ctx: SourceContext) => Record<string, unknown>, extra: Record<string, unknown> = {}, regionExtra: Record<string, unknown> = {}): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-test-'));
  const key = await ageKey(dir);
  const tag = randomBytes(4).toString('hex');
  const prefix = `t-${tag}/`;
  const passwordEnv = `PG_PASSWORD_${tag}`;
  const env: Record<string, string> = { [passwordEnv]: servers.postgres.password };
  const ctx: SourceContext = {
    postgres: (database, options = {}) => ({
      kind: 'postgres', region: 'stockholm', url: `postgres://${servers.postgres.user}@127.0.0.1:${servers.postgres.port}/${database}`, passwordEnv, ...options,
    }),
  };
  const regions: Record<string, unknown> = {};
  for (const [region, s3] of Object.entries(servers.s3)) {
    const id = `${region.toUpperCase()}_KEY_${tag}`;
    const secret = `${region.toUpperCase()}_SECRET_${tag}`;
    env[id] = s3.accessKeyId;
    env[secret] = s3.secretAccessKey;
    regions[region] = { storage: { type: 's3', endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, forcePathStyle: true, prefix, accessKeyIdEnv: id, secretAccessKeyEnv: secret }, ...regionExtra };
  }
  const document = {
    temporal: { address: servers.temporal.address, namespace: servers.temporal.namespace, taskQueuePrefix: `lifeboat-${tag}-`, heartbeatTimeout: '5s', sourceAttempts: 2, codec: testCodecConfig(servers) },
    primaryRegion: 'stockholm',
    regions,
    encryption: { recipients: [key.recipient], identityFile: key.identityFile },
    catalog: catalogConfig(dir),
    compression: { level: 3 },
    // Off unless a test asks: worker processes of concurrent test runs would all want port 9464.
    metrics: { port: 0 },
    // A test's workers stop at its end; an activity still running there need not hold them 5 minutes.
    worker: { shutdownGrace: '3s' },
    sources: sources(ctx),
    ...extra,
  };
  const configFile = join(dir, 'lifeboat.yaml');
  writeFileSync(configFile, stringify(document));
  Object.assign(process.env, env);
  return {
    dir,
    key,
    config: parseConfig(readFileSync(configFile, 'utf8'), configFile),
    configFile,
    env,
    prefix,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The fixture's config with some top-level sections merged over (e.g. `{ temporal: {...} }`), as a file for the CLI and an object for in-process workers. */
export function configVariant(fixture: Fixture, name: string, patch: Record<string, Record<string, unknown>>): { file: string; config: Config } {
  const document = parse(readFileSync(fixture.configFile, 'utf8')) as Record<string, Record<string, unknown>>;
  for (const [key, value] of Object.entries(patch)) document[key] = { ...document[key], ...value };
  const file = join(fixture.dir, `${name}.yaml`);
  writeFileSync(file, stringify(document));
  return { file, config: parseConfig(readFileSync(file, 'utf8'), file) };
}
