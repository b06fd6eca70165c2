import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { execa } from 'execa';
import { createActivities } from '../activities';
import { createDeps } from '../activities/deps';
import type { Config } from '../lib/config/schema';
import { LifeboatError } from '../lib/errors';
import { childEnvOptions } from '../lib/child-env';
import { packageRoot } from '../lib/package-root';

const root = packageRoot();
export const workflowsPath = join(root, 'workflows', 'index.ts');
const bundleScript = join(root, 'worker', 'bundle.ts');

export interface RunningWorkers {
  taskQueues: string[];
  /** Resolves when every worker has stopped (after shutdown() or a signal). */
  done: Promise<void>;
  shutdown(): void;
}

/** One worker per region queue, sharing one connection, one workflow bundle and one set of clients. */
export async function startWorkers(config: Config, regions: string[], env: NodeJS.ProcessEnv = process.env): Promise<RunningWorkers> {
  for (const region of regions) {
    if (!(region in config.regions)) {
      throw new LifeboatError('Usage', `no region "${region}" in the config`, `regions are: ${Object.keys(config.regions).join(', ')}`);
    }
  }
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect({ address: config.temporal.address });
  } catch (error) {
    throw new LifeboatError('TemporalUnreachable', `cannot connect to Temporal at ${config.temporal.address}: ${(error as Error).message}`,
      'start Temporal or set temporal.address / TEMPORAL_ADDRESS');
  }
  const activities = createActivities(createDeps(config, env));
  const workflowBundle = await workflowCode(env);
  const workers = await Promise.all(regions.map((region) => Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: `${config.temporal.taskQueuePrefix}${region}`,
    workflowBundle: { code: workflowBundle },
    activities,
  })));
  const done = Promise.all(workers.map((worker) => worker.run())).then(() => connection.close());
  return {
    taskQueues: regions.map((region) => `${config.temporal.taskQueuePrefix}${region}`),
    done,
    shutdown: () => workers.forEach((worker) => worker.shutdown()),
  };
}

/**
 * LIFEBOAT_WORKFLOW_BUNDLE names a bundle built beforehand by worker/bundle.ts (the test run builds
 * one for all its workers: bundling costs seconds per start); without it, the workflows are bundled now.
 */
async function workflowCode(env: NodeJS.ProcessEnv): Promise<string> {
  const prebuilt = env.LIFEBOAT_WORKFLOW_BUNDLE;
  if (!prebuilt) return bundleInChildProcess();
  try {
    return await readFile(prebuilt, 'utf8');
  } catch (error) {
    throw new LifeboatError('Config', `LIFEBOAT_WORKFLOW_BUNDLE: cannot read ${prebuilt}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      'unset it (the worker then bundles its workflows itself) or build one with "npx tsx worker/bundle.ts FILE"');
  }
}

/**
 * webpack holds about 100 MiB that a long-running worker would keep for good; bundling in a
 * short-lived child process returns it to the system before the first backup.
 */
async function bundleInChildProcess(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lifeboat-bundle-'));
  const out = join(dir, 'workflows.js');
  try {
    const tsx = createRequire(import.meta.url).resolve('tsx/cli');
    await execa(process.execPath, [tsx, bundleScript, out], { stdio: ['ignore', 'inherit', 'inherit'], ...childEnvOptions() });
    return await readFile(out, 'utf8');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
