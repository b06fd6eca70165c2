import type { Client } from '@temporalio/client';
import { anyRegionQueue } from '../../lib/any-region-queue';
import { loadCodecKeys } from '../../lib/codec/keys';
import { KEY_ID_METADATA } from '../../lib/codec/aes-gcm';
import type { Config } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { heavyQueue, spoolQueue } from '../../lib/task-queues';

// temporal.api.enums.v1.TaskQueueType, by number: @temporalio/proto is not a dependency of its own.
const WORKFLOW_QUEUE = 1;
const ACTIVITY_QUEUE = 2;

/** The identities that polled a queue in the last minutes (Temporal forgets a poller after about five). */
export async function pollersOf(client: Client, namespace: string, queue: string, type: 'workflow' | 'activity'): Promise<string[]> {
  const answer = await client.workflowService.describeTaskQueue({
    namespace, taskQueue: { name: queue }, taskQueueType: type === 'workflow' ? WORKFLOW_QUEUE : ACTIVITY_QUEUE,
  });
  return (answer.pollers ?? []).map((poller) => poller.identity ?? '?');
}

/**
 * A region without a polling worker runs nothing: its backups, copies and verifications wait. A new
 * installation runs doctor before its first worker, so "none" is a warning, not a failure.
 */
export async function regionWorkersLine(client: Client, config: Config, region: string): Promise<string | { warn: string }> {
  const queue = `${config.temporal.taskQueuePrefix}${region}`;
  const [workflows, heavy] = await Promise.all([pollersOf(client, config.temporal.namespace, queue, 'workflow'), pollersOf(client, config.temporal.namespace, heavyQueue(queue), 'activity')]);
  if (workflows.length === 0 || heavy.length === 0) {
    return { warn: `no worker polls ${workflows.length === 0 ? queue : heavyQueue(queue)}: nothing of region ${region} runs until "lifeboat worker --region ${region}" does` };
  }
  const workers = [...new Set(workflows)];
  return `${workers.length} worker(s) poll ${queue}: ${workers.join(', ')}`;
}

/** What checkObjectives, sync and retention fall back on when the primary region is lost (issue 13, item 12). */
export async function anyRegionLine(client: Client, config: Config): Promise<string | { warn: string }> {
  const queue = anyRegionQueue(config.temporal.taskQueuePrefix);
  const pollers = await pollersOf(client, config.temporal.namespace, queue, 'workflow');
  if (pollers.length === 0) return { warn: `no worker polls ${queue}: the objective checks, sync and retention that any region may run have no taker` };
  return `${new Set(pollers).size} worker(s) poll ${queue}`;
}

/** A running shipper whose spool nobody polls ships nothing while the spool fills: a failure. */
export async function spoolPollersLine(client: Client, config: Config, source: string, lastError?: string): Promise<string> {
  const region = config.sources[source]!.region;
  const queue = spoolQueue(`${config.temporal.taskQueuePrefix}${region}`, source);
  const pollers = await pollersOf(client, config.temporal.namespace, queue, 'activity');
  if (pollers.length === 0) {
    throw new LifeboatError('Config', `no worker polls ${queue}: the WAL of ${source} stays in its spool${lastError ? `; ${lastError}` : ''}`,
      `start (or restart) "lifeboat worker --region ${region}" on the machine that holds wal.spool, after the directory exists`);
  }
  return `shipped by ${[...new Set(pollers)].join(', ')}`;
}

/**
 * The codec keys load, and the newest run's input was encrypted with one of them: a worker or
 * CLI missing a key another one rotated to cannot read those runs, nor answer their queries.
 */
export async function codecLine(client: Client, config: Config): Promise<string | { warn: string }> {
  const codec = config.temporal.codec;
  if (!codec) return { warn: 'not set: every payload is stored in Temporal in plain text (docs/security.md, "Encrypted payloads")' };
  const keys = loadCodecKeys(codec);
  const summary = `${keys.keys.size} key(s), new payloads use "${keys.current}"`;
  const prefix = config.temporal.taskQueuePrefix;
  const queues = [...Object.keys(config.regions).map((region) => `${prefix}${region}`), anyRegionQueue(prefix)];
  // This installation's runs only: a namespace may hold other installations', with other keys.
  for await (const run of client.workflow.list({ query: `TaskQueue IN (${queues.map((q) => `"${q}"`).join(', ')})`, pageSize: 1 })) {
    const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    const keyId = input?.metadata?.[KEY_ID_METADATA];
    if (!keyId) return summary;
    const id = Buffer.from(keyId).toString('utf8');
    if (!keys.keys.has(id)) {
      throw new LifeboatError('Config', `run ${run.workflowId} was encrypted with codec key "${id}", which temporal.codec.keys lacks here`,
        `add key "${id}" to temporal.codec.keys (keep old keys after a rotation until their runs are gone)`);
    }
    return `${summary}; the newest run (${run.workflowId}) decrypts`;
  }
  return summary;
}
