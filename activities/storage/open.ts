import type { StorageConfig } from '../../lib/config/schema';
import { requireEnv } from '../../lib/config/secrets';
import type { StorageBackend } from './backend';
import { LocalStorage } from './local';
import { S3Storage } from './s3';

export function openStorage(config: StorageConfig, region: string, env: NodeJS.ProcessEnv = process.env): StorageBackend {
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
  });
}
