import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { findBinary } from './binaries';
import { supervise } from './cleanup';
import { freePorts } from './ports';
import { type Log, spawnServer, waitHealthy } from './processes';

/** Custom search attributes Lifeboat's workflows set; all Keyword. The one list the harness and compose file follow. */
// The names the workflows set; the dev server must know them before a run can use them.
export { searchAttributeNames as LIFEBOAT_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { searchAttributeNames as LIFEBOAT_SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD; @temporalio/proto is not a direct dependency. */
export const INDEXED_VALUE_TYPE_KEYWORD = 2;

export interface TemporalInfo {
  address: string;
  namespace: string;
  uiUrl: string;
  /** Where the UI sends payloads to decode (--ui-codec-endpoint): a codec server a test starts there. */
  codecEndpoint?: string;
  pid: number;
}

/** Throws unless the namespace answers and every Lifeboat search attribute is registered on it as a Keyword. */
export async function checkTemporal(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    // A deadline, since gRPC calls otherwise wait forever on a server that accepts but never answers.
    await connection.withDeadline(Date.now() + 5_000, async () => {
      await connection.workflowService.describeNamespace({ namespace });
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
      const missing = LIFEBOAT_SEARCH_ATTRIBUTES.filter((name) => customAttributes?.[name] !== INDEXED_VALUE_TYPE_KEYWORD);
      if (missing.length > 0) throw new Error(`Keyword search attributes not registered yet: ${missing.join(', ')}`);
    });
  } finally {
    await connection.close();
  }
}

async function checkNamespace(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    await connection.withDeadline(Date.now() + 5_000, () => connection.workflowService.describeNamespace({ namespace }));
  } finally {
    await connection.close();
  }
}

/**
 * `temporal server start-dev` (in-memory unless `dbFile`) with the UI on. Started by hand rather than through
 * @temporalio/testing, whose launcher gives the server only 5 s to come up.
 */
export async function startTemporal(opts: { dir: string; port?: number; uiPort?: number; log?: Log; codecPort?: number; searchAttributes?: boolean; dbFile?: string }): Promise<{ temporal: TemporalInfo; stop(): Promise<void> }> {
  let ports: [number, number] = opts.port && opts.uiPort ? [opts.port, opts.uiPort] : ((await freePorts(2)) as [number, number]);
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startTemporalOn(opts, ...ports);
    } catch (error) {
      // A port found free can be taken before the server binds it (another test's server, an
      // outgoing connection's ephemeral port): start again on fresh ports rather than fail the run.
      if (attempt >= 3 || !String(error).includes('address already in use')) throw error;
      opts.log?.(`temporal: a port was taken before the dev server could bind it; starting again on fresh ports (attempt ${attempt + 1})`);
      ports = (await freePorts(2)) as [number, number];
    }
  }
}

async function startTemporalOn(opts: { dir: string; log?: Log; codecPort?: number; searchAttributes?: boolean; dbFile?: string }, port: number, uiPort: number): Promise<{ temporal: TemporalInfo; stop(): Promise<void> }> {
  const temporalBin = findBinary('temporal');
  const dir = path.resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const namespace = 'default';
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort), '--log-level', 'error', '--namespace', namespace];
  // searchAttributes: false is a fresh server as a new user starts it (test/search-attributes.test.ts).
  const registered = opts.searchAttributes ?? true;
  if (registered) for (const name of LIFEBOAT_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${name}=Keyword`);
  const codecEndpoint = opts.codecPort ? `http://127.0.0.1:${opts.codecPort}` : undefined;
  if (codecEndpoint) args.push('--ui-codec-endpoint', codecEndpoint);
  // A database file keeps every workflow across a restart of the server (the fault campaign restarts it).
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  const proc = spawnServer('temporal', temporalBin, args, { logFile: path.join(dir, 'temporal.log'), cwd: dir });
  const stop = supervise(proc.pid, opts.log);
  const address = `127.0.0.1:${port}`;
  try {
    await waitHealthy(proc, () => (registered ? checkTemporal(address, namespace) : checkNamespace(address, namespace)), 60_000);
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  return { temporal: { address, namespace, uiUrl: `http://127.0.0.1:${uiPort}`, codecEndpoint, pid: proc.pid }, stop };
}
