import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createDeps } from '../activities/deps';
import type { Config } from '../lib/config/schema';
import { LifeboatError } from '../lib/errors';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

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
  const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
  const workers = await Promise.all(regions.map((region) => Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: `${config.temporal.taskQueuePrefix}${region}`,
    workflowBundle,
    activities,
  })));
  const done = Promise.all(workers.map((worker) => worker.run())).then(() => connection.close());
  return {
    taskQueues: regions.map((region) => `${config.temporal.taskQueuePrefix}${region}`),
    done,
    shutdown: () => workers.forEach((worker) => worker.shutdown()),
  };
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};
