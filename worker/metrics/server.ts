import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { LifeboatError } from '../../lib/errors';

export interface MetricsEndpoint {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics: the Temporal SDK's metrics (read from Core's own exporter, which listens
 * on loopback only) followed by Lifeboat's registry, as one Prometheus text document.
 */
export async function serveMetrics(host: string, port: number, registry: Registry, coreUrl: string | undefined): Promise<MetricsEndpoint> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '/').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Lifeboat worker: metrics are at /metrics\n');
      return;
    }
    Promise.all([coreMetrics(coreUrl), registry.metrics()]).then(([core, own]) => {
      response.writeHead(200, { 'content-type': registry.contentType }).end(`${core}${own}`);
    }, (error: unknown) => {
      response.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot collect metrics: ${String(error)}\n`);
    });
  });
  await listen(server, host, port);
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = `${host}:${port}`;
      reject(error.code === 'EADDRINUSE'
        ? new LifeboatError('Config', `metrics endpoint: ${where} is already in use`, 'stop whatever listens there, or set metrics.port to a free port (0 turns the endpoint off)')
        : new LifeboatError('Config', `metrics endpoint: cannot listen on ${where}: ${error.code ?? error.message}`, 'check metrics.host and metrics.port in the config'));
    });
    server.listen(port, host, () => resolve());
  });
}

async function coreMetrics(url: string | undefined): Promise<string> {
  if (!url) return '';
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    return text.endsWith('\n') || text === '' ? text : `${text}\n`;
  } catch (error) {
    // Lifeboat's own metrics are still worth serving when Core's exporter does not answer.
    return `# Temporal SDK metrics unavailable: ${(error as Error).message}\n`;
  }
}
