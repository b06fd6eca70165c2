import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { inspect } from 'node:util';
import type { Config } from '../../lib/config/schema';
import { serversOfRun, workerLog } from './secret-scan';
import { startWorkers, type RunningWorkers } from '../../worker/run';
import { temporalConnectionOptions } from '../../lib/temporal-connection';
import { dataConverterOf } from '../../lib/codec/data-converter';

export interface Harness {
  client: Client;
  workers: RunningWorkers;
  close(): Promise<void>;
}

/** In-process workers for every region plus a client, as `lifeboat worker` would run them. */
let runtimeInstalled = false;

export async function startHarness(config: Config): Promise<Harness> {
  if (!runtimeInstalled) {
    // Worker state changes at INFO drown the test output; warnings and errors still show. Everything
    // from INFO up also goes to this run's worker log, which the secret scan reads.
    const console = new DefaultLogger('WARN');
    const servers = serversOfRun();
    Runtime.install({
      logger: new DefaultLogger('INFO', (entry) => {
        workerLog(servers, `in-process-${process.pid}.log`, `${entry.level} ${entry.message} ${inspect(entry.meta ?? {}, { depth: 6, breakLength: Infinity })}`);
        console.log(entry.level, entry.message, entry.meta);
      }),
    });
    runtimeInstalled = true;
  }
  const workers = await startWorkers(config, Object.keys(config.regions));
  const connection = await Connection.connect(temporalConnectionOptions(config.temporal));
  const client = new Client({ connection, namespace: config.temporal.namespace, dataConverter: dataConverterOf(config) });
  return {
    client,
    workers,
    async close() {
      workers.shutdown();
      await workers.done;
      await connection.close();
    },
  };
}

/** The failure type and message a workflow ended with; throws if it succeeded. */
export async function failureOf(result: Promise<unknown>): Promise<{ type: string | undefined; message: string }> {
  try {
    await result;
  } catch (error) {
    if (error instanceof WorkflowFailedError && error.cause instanceof ApplicationFailure) {
      return { type: error.cause.type ?? undefined, message: error.cause.message };
    }
    throw error;
  }
  throw new Error('expected the workflow to fail, but it succeeded');
}
