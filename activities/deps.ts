import type { Config, SourceConfig } from '../lib/config/schema';
import { LifeboatError } from '../lib/errors';
import { checkedSigner, trustedKeys, type Signer, type TrustedKey } from '../lib/signing';
import { regionLockPolicy } from '../lib/retention/lock';
import type { Source } from './sources/source';
import { filesSource } from './sources/files/source';
import { physicalPostgresSource } from './sources/postgres/physical';
import { postgresSource } from './sources/postgres/source';
import { redisSource } from './sources/redis/source';
import type { StorageBackend } from './storage/backend';
import { openStorage } from './storage/open';

/** What activities need, built once per worker process (and by tests with their own values). */
export interface Deps {
  config: Config;
  env: NodeJS.ProcessEnv;
  storage(region: string): StorageBackend;
  /** The keys whose signatures make a catalog object trusted (catalog.trustedKeys). */
  trusted: TrustedKey[];
  /** The catalog signing key; a Config error on a worker that has none. */
  signer(): Signer;
  source(name: string): { config: SourceConfig; driver: Source };
}

export function createDeps(config: Config, env: NodeJS.ProcessEnv = process.env): Deps {
  const storages = new Map<string, StorageBackend>();
  const trusted = trustedKeys(config.catalog.trustedKeys);
  let signer: Signer | undefined;
  return {
    config,
    env,
    trusted,
    signer() {
      signer ??= checkedSigner(config, env);
      return signer;
    },
    storage(region) {
      const regionConfig = config.regions[region];
      if (!regionConfig) throw new LifeboatError('Config', `no region "${region}" in the worker's config`, `regions are: ${Object.keys(config.regions).join(', ')}`);
      let storage = storages.get(region);
      if (!storage) {
        storage = openStorage(regionConfig.storage, region, env, regionLockPolicy(config, region));
        storages.set(region, storage);
      }
      return storage;
    },
    source(name) {
      const sourceConfig = config.sources[name];
      if (!sourceConfig) throw new LifeboatError('Config', `no source "${name}" in the worker's config`, `sources are: ${Object.keys(config.sources).join(', ')}`);
      switch (sourceConfig.kind) {
        case 'postgres':
          return { config: sourceConfig, driver: sourceConfig.mode === 'physical' ? physicalPostgresSource(name, sourceConfig, env) : postgresSource(name, sourceConfig, env) };
        case 'redis':
          return { config: sourceConfig, driver: redisSource(name, sourceConfig, env) };
        case 'files':
          return { config: sourceConfig, driver: filesSource(name, sourceConfig) };
      }
    },
  };
}
