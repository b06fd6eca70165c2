import type { StorageConfig } from '../../lib/config/schema';
import { requireEnv } from '../../lib/config/secrets';
import type { StorageBackend } from './backend';
import { LocalStorage } from './local';
import { S3Storage } from './s3';

/** `lockUntil`: for a region with storage.objectLock, the retain-until date of a key written now (lib/retention/lock.ts). */
export function openStorage(config: StorageConfig, region: string, env: NodeJS.ProcessEnv = process.env, lockUntil?: (key: string, now: Date) => Date | undefined): StorageBackend {
  if (config.type === 'local') return new LocalStorage(config.path, config.prefix);
  const what = `regions.${region}.storage`;
  const credentials = config.accessKeyIdEnv || config.secretAccessKeyEnv
    ? {
        accessKeyId: requireEnv(config.accessKeyIdEnv ?? 'AWS_ACCESS_KEY_ID', what, env),
        secretAccessKey: requireEnv(config.secretAccessKeyEnv ?? 'AWS_SECRET_ACCESS_KEY', what, env),
      }
    : undefined;
  return new S3Storage({
    bucket: config.bucket,
    prefix: config.prefix,
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle,
    credentials,
    objectLock: config.objectLock && lockUntil ? { mode: config.objectLock.mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE', retainUntil: lockUntil } : undefined,
  });
}
