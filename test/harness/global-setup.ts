// Type-only import: lets the augmentation below find 'vitest' without loading it at run time.
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { type Servers, startServers } from './servers';

declare module 'vitest' {
  export interface ProvidedContext {
    servers: Servers;
  }
}

/** Vitest global setup: one set of real servers for the whole run, handed to tests via inject('servers'). */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const { servers, stop } = await startServers();
  const s3 = Object.values(servers.s3)
    .map((s) => `${s.region}=${s.endpoint}`)
    .join(' ');
  console.log(
    `lifeboat test servers up in ${((Date.now() - started) / 1000).toFixed(1)}s: temporal ${servers.temporal.address} (ui ${servers.temporal.uiUrl}), ` +
      `s3 ${s3}, postgres 127.0.0.1:${servers.postgres.port}, redis 127.0.0.1:${servers.redis.port}; logs in ${servers.workDir}`,
  );
  project.provide('servers', servers);
  return stop;
}
