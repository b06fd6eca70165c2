import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { execa } from 'execa';
import { createActivities } from '../activities';
import { createDeps } from '../activities/deps';
import { anyRegionQueue } from '../lib/any-region-queue';
import type { Config } from '../lib/config/schema';
import { LifeboatError } from '../lib/errors';
import { childEnvOptions } from '../lib/child-env';
import { packageRoot } from '../lib/package-root';
import { registerSearchAttributes, type Registration } from '../lib/search-attribute-registry';
import { describeConnection, temporalConnectionOptions } from '../lib/temporal-connection';
import { queueShapes } from './shape';
import { dataConverterOf } from '../lib/codec/data-converter';

const root = packageRoot();
export const workflowsPath = join(root, 'workflows', 'index.ts');
const bundleScript = join(root, 'worker', 'bundle.ts');

export interface RunningWorkers {
  taskQueues: string[];
  /** What the worker registered at start, or why it could not (then no run can start: the command says what to run). */
  searchAttributes: Registration;
  /** Resolves when every worker has stopped (after shutdown() or a signal). */
  done: Promise<void>;
  shutdown(): void;
  /** The WAL sources whose spool is on this machine: this worker ships them. */
  spools: string[];
  /** With temporal.deployment: this worker's Worker Deployment Version. */
  version?: { deploymentName: string; buildId: string };
  /** Workflow runs held in memory now, over every queue of this process (each queue at most worker.maxCachedWorkflows). */
  cachedWorkflows(): number;
}

/** One worker per region queue, sharing one connection, one workflow bundle and one set of clients. */
export async function startWorkers(config: Config, regions: string[], env: NodeJS.ProcessEnv = process.env,
  // A test's fault injection: the same workers, queues and codec with other activities.
  overrides: { activities?: ReturnType<typeof createActivities> } = {}): Promise<RunningWorkers> {
  for (const region of regions) {
    if (!(region in config.regions)) {
      throw new LifeboatError('Usage', `no region "${region}" in the config`, `regions are: ${Object.keys(config.regions).join(', ')}`);
    }
  }
  const options = temporalConnectionOptions(config.temporal, env);
  const dataConverter = dataConverterOf(config, env);
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect(options);
  } catch (error) {
    throw new LifeboatError('TemporalUnreachable', `cannot connect to Temporal at ${describeConnection(options)}: ${(error as Error).message}`,
      'start Temporal or set temporal.address / TEMPORAL_ADDRESS (and temporal.tls / apiKeyEnv for a secured one)');
  }
  const searchAttributes = await registerSearchAttributes(connection.operatorService, config.temporal.namespace);
  const activities = overrides.activities ?? createActivities(createDeps(config, env));
  const workflowBundle = await workflowCode(env);
  const versioning = deploymentOptions(config, workflowBundle, env);
  const shapes = regions.flatMap((region) => queueShapes(config, `${config.temporal.taskQueuePrefix}${region}`));
  const workers = await Promise.all(shapes.map(({ workflows, spool: _spool, ...shape }) => Worker.create({
    connection,
    namespace: config.temporal.namespace,
    ...shape,
    ...(workflows ? { workflowBundle: { code: workflowBundle } } : {}),
    activities,
    dataConverter,
    ...versioning,
  })));
  // Every worker process also serves the any-region queue: work about every region runs while any region is up.
  workers.push(await Worker.create({
    connection, namespace: config.temporal.namespace, taskQueue: anyRegionQueue(config.temporal.taskQueuePrefix), workflowBundle: { code: workflowBundle }, maxCachedWorkflows: config.worker.maxCachedWorkflows, activities, dataConverter, ...versioning,
  }));
  const done = Promise.all(workers.map((worker) => worker.run())).then(() => connection.close());
  return {
    taskQueues: [...shapes.map((shape) => shape.taskQueue), anyRegionQueue(config.temporal.taskQueuePrefix)],
    // From the shapes, not a second look at the disk: what is reported is what is polled.
    spools: shapes.flatMap((shape) => (shape.spool ? [shape.spool] : [])),
    searchAttributes,
    done,
    shutdown: () => workers.forEach((worker) => worker.shutdown()),
    version: versioning.workerDeploymentOptions?.version,
    cachedWorkflows: () => workers.reduce((sum, worker) => sum + worker.getStatus().numCachedWorkflows, 0),
  };
}

/**
 * With temporal.deployment, this worker is one build of a Worker Deployment: runs are pinned to the
 * build that started them (shipWal auto-upgrades, workflows/versioning.ts). The build id names the
 * workflow code itself unless LIFEBOAT_BUILD_ID says otherwise, so a deploy that changes only
 * activities keeps its build and one that changes workflows gets a new one.
 */
export function deploymentOptions(config: Config, bundle: string, env: NodeJS.ProcessEnv): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  const deployment = config.temporal.deployment;
  if (!deployment) return {};
  const buildId = env.LIFEBOAT_BUILD_ID || `wf-${createHash('sha256').update(bundle).digest('hex').slice(0, 12)}`;
  return { workerDeploymentOptions: { version: { deploymentName: deployment.name, buildId }, useWorkerVersioning: true, defaultVersioningBehavior: 'PINNED' } };
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
