import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Config } from '../../lib/config/schema';
import { checkedSigner } from '../../lib/signing';
import { coreMetricsAddress, startMetrics } from '../../worker/metrics/start';
import { startWorkers } from '../../worker/run';
import type { Output } from '../output';
import { walSources } from './wal';

const levels: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

export async function workerCommand(config: Config, regions: string[], out: Output): Promise<void> {
  const wanted = (process.env.LIFEBOAT_LOG_LEVEL ?? 'INFO').toUpperCase() as LogLevel;
  const coreMetrics = await coreMetricsAddress(config);
  // One line per event, so worker logs read well in journald and in `kubectl logs`.
  Runtime.install({
    logger: new DefaultLogger(levels.includes(wanted) ? wanted : 'INFO', ({ level, message, meta }) => {
      // The heavy and host queues run activities only, by design (worker/shape.ts): not worth a warning at every start.
      if (message === 'No workflows registered, not polling for workflow tasks') return;
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
    const registration = workers.searchAttributes;
    if ('refused' in registration) out.note(`lifeboat worker: WARNING: ${registration.refused.message}\nhint: ${registration.refused.hint}`);
    else if (registration.registered.length > 0) out.note(`lifeboat worker: registered search attributes ${registration.registered.join(', ')} in namespace ${config.temporal.namespace}`);
    out.note(`lifeboat worker polling ${workers.taskQueues.join(', ')} on ${config.temporal.address} (SIGTERM or Ctrl-C stops it; running activities get ${config.worker.shutdownGrace} to finish)${metrics ? `; metrics at ${metrics.url}` : ''}`);
    // The SDK's own handler (Runtime shutdownSignals) stops polling and waits for the grace time; this says so in the log.
    const stopping = (signal: string) => out.note(`lifeboat worker: ${signal}: taking no new tasks; running activities get up to ${config.worker.shutdownGrace} to finish, then are cancelled and resume from their last checkpoint elsewhere`);
    process.once('SIGTERM', () => stopping('SIGTERM'));
    process.once('SIGINT', () => stopping('SIGINT'));
    const version = workers.version;
    if (version) out.note(`deployment ${version.deploymentName}, build ${version.buildId}: new runs reach it once it is current ("temporal worker deployment set-current-version --deployment-name ${version.deploymentName} --build-id ${version.buildId}", docs/production.md, "Upgrades")`);
    for (const name of walSources(config)) {
      const source = config.sources[name]!;
      if (!chosen.includes(source.region) || workers.spools.includes(name)) continue;
      const spool = source.kind === 'postgres' ? source.wal?.spool : undefined;
      out.note(`lifeboat worker: WAL of ${name}: no spool ${spool} on this machine, so this worker does not ship it (a worker on the machine that has it must, started after the directory exists)`);
    }
    if (!config.temporal.codec) out.note('payloads are stored in Temporal in plain text: set temporal.codec to encrypt them (docs/security.md, "Encrypted payloads")');
    await workers.done;
    out.note('lifeboat worker: stopped');
  } finally {
    await metrics?.close();
  }
}
