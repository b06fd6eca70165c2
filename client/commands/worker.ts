import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Config } from '../../lib/config/schema';
import { checkedSigner } from '../../lib/signing';
import { coreMetricsAddress, startMetrics } from '../../worker/metrics/start';
import { startWorkers } from '../../worker/run';
import type { Output } from '../output';

const levels: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

export async function workerCommand(config: Config, regions: string[], out: Output): Promise<void> {
  const wanted = (process.env.LIFEBOAT_LOG_LEVEL ?? 'INFO').toUpperCase() as LogLevel;
  const coreMetrics = await coreMetricsAddress(config);
  // One line per event, so worker logs read well in journald and in `kubectl logs`.
  Runtime.install({
    logger: new DefaultLogger(levels.includes(wanted) ? wanted : 'INFO', ({ level, message, meta }) => {
      const fields = meta ? Object.entries(meta).map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`).join(' ') : '';
      process.stderr.write(`${new Date().toISOString()} ${level} ${message}${fields ? ` ${fields}` : ''}\n`);
    }),
    ...(coreMetrics ? { telemetryOptions: { metrics: { prometheus: { bindAddress: coreMetrics } } } } : {}),
  });
  // A signing key the readers do not trust would make every backup of this worker untrusted: refused before any runs.
  if (config.catalog.signingKeyFile || config.catalog.signingKeyEnv) checkedSigner(config);
  // Before the workers: a taken metrics port stops the start here, not after a backup ran.
  const metrics = await startMetrics(config, process.env, coreMetrics);
  const chosen = regions.length > 0 ? regions : Object.keys(config.regions);
  try {
    const workers = await startWorkers(config, chosen);
    out.note(`lifeboat worker polling ${workers.taskQueues.join(', ')} on ${config.temporal.address} (Ctrl-C stops it)${metrics ? `; metrics at ${metrics.url}` : ''}`);
    if (!config.temporal.codec) out.note('payloads are stored in Temporal in plain text: set temporal.codec to encrypt them (README, Encrypted payloads)');
    await workers.done;
  } finally {
    await metrics?.close();
  }
}
