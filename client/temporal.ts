import { Client, Connection } from '@temporalio/client';
import type { Config } from '../lib/config/schema';
import { LifeboatError } from '../lib/errors';
import { describeConnection, temporalConnectionOptions } from '../lib/temporal-connection';
import { searchAttributeGuard } from './search-attribute-guard';
import { dataConverterOf } from '../lib/codec/data-converter';

export async function connectClient(config: Config): Promise<Client> {
  const options = temporalConnectionOptions(config.temporal);
  // Before the connection: a missing codec key is a Config error, not an unreachable Temporal.
  const dataConverter = dataConverterOf(config);
  try {
    const connection = await Connection.connect({ ...options, connectTimeout: '5s' });
    return new Client({
      connection,
      namespace: config.temporal.namespace,
      dataConverter,
      interceptors: searchAttributeGuard(connection, config.temporal.namespace),
    });
  } catch (error) {
    throw new LifeboatError('TemporalUnreachable', `cannot connect to Temporal at ${describeConnection(options)}: ${(error as Error).message}`,
      'start Temporal (or the demo), or set temporal.address / TEMPORAL_ADDRESS (and temporal.tls / apiKeyEnv for a secured one)');
  }
}

export function taskQueueOf(config: Config, region: string): string {
  return `${config.temporal.taskQueuePrefix}${region}`;
}

/** Where the Temporal UI shows a run: LIFEBOAT_TEMPORAL_UI, else the dev server's default UI address. */
export function uiLink(config: Config, workflowId: string, runId?: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.LIFEBOAT_TEMPORAL_UI ?? 'http://localhost:8233';
  return `${base}/namespaces/${config.temporal.namespace}/workflows/${encodeURIComponent(workflowId)}${runId ? `/${runId}` : ''}`;
}
