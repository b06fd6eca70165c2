import { createServer } from 'node:net';
import { Registry } from 'prom-client';
import { createDeps } from '../../activities/deps';
import { registry } from '../../activities/metrics';
import { parseDuration } from '../../lib/config/duration';
import type { Config } from '../../lib/config/schema';
import { catalogGauges } from './catalog';
import { serveMetrics, type MetricsEndpoint } from './server';

/**
 * Where Core's Prometheus exporter should listen: a free loopback port, never the public one,
 * because Runtime.install can run once per process and the worker's /metrics merges it with
 * Lifeboat's own. Undefined when the config turns metrics off (metrics.port 0).
 */
export async function coreMetricsAddress(config: Config): Promise<string | undefined> {
  if (config.metrics.port === 0) return undefined;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return `127.0.0.1:${port}`;
}

/** The worker's /metrics: fails at once (before any worker polls) when the port is taken. */
export async function startMetrics(config: Config, env: NodeJS.ProcessEnv, coreAddress: string | undefined): Promise<MetricsEndpoint | undefined> {
  if (config.metrics.port === 0) return undefined;
  const deps = createDeps(config, env);
  // The catalog gauges get their own registry, so a second start in one process cannot collide.
  const catalog = new Registry();
  const gauges = catalogGauges(config, (region) => deps.storage(region), catalog);
  const endpoint = await serveMetrics(config.metrics.host, config.metrics.port, Registry.merge([registry, catalog]), coreAddress ? `http://${coreAddress}/metrics` : undefined);
  // A read that fails marks its region down (lifeboat_catalog_up 0); anything else is a bug to see.
  const refresh = () => void gauges.refresh().catch((error: unknown) => process.stderr.write(`metrics: cannot update the catalog gauges: ${String(error)}\n`));
  refresh();
  const timer = setInterval(refresh, parseDuration(config.metrics.catalogInterval));
  timer.unref();
  return {
    url: endpoint.url,
    async close() {
      clearInterval(timer);
      await endpoint.close();
    },
  };
}
