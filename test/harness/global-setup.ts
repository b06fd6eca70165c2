// Type-only import: lets the augmentation below find 'vitest' without loading it at run time.
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildCliBundle } from './cli-bundle';
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
  // One workflow bundle for every worker of the run (in-process and worker processes inherit the
  // variable): bundling costs seconds per worker start, dozens of times per run.
  const bundle = join(servers.workDir, 'workflows.js');
  await execa(process.execPath, [createRequire(import.meta.url).resolve('tsx/cli'), 'worker/bundle.ts', bundle], { stdio: 'inherit' });
  process.env.LIFEBOAT_WORKFLOW_BUNDLE = bundle;
  const cli = await buildCliBundle();
  process.env.LIFEBOAT_CLI_BUNDLE = cli.file;
  project.provide('servers', servers);
  return async () => {
    cli.remove();
    await stop();
  };
}
