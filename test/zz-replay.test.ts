import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AesGcmCodec } from '../lib/codec/aes-gcm';
import { failureConverterPath } from '../lib/codec/data-converter';
import { loadCodecKeys } from '../lib/codec/keys';
import { bundledTypes, committedHistories, historiesOfRun, recordHistories, replayFailures, type RunHistory } from './support/histories';
import { codecKeyFile, TEST_CODEC_KEY_ID } from './support/codec';

// Runs after every other test file (test/harness/sequencer.ts), so it replays what the whole run
// produced. LIFEBOAT_RECORD_HISTORIES=DIR also writes one history per workflow type to DIR
// (scripts/record-histories.sh commits them to test/histories/), decrypted: the run's codec key
// dies with the run, and a later version must still read them.

const servers = inject('servers');

describe('replay of workflow histories against today\'s workflow code', () => {
  let connection: Connection;
  let client: Client;
  const bundle = readFileSync(process.env.LIFEBOAT_WORKFLOW_BUNDLE!, 'utf8');
  const failures = (failed: Array<{ workflowId: string; error?: Error }>) => failed.map((f) => `${f.workflowId}: ${f.error?.name}: ${f.error?.message.split('\n')[0]}`);
  // The run's payloads are encrypted with the run's codec key: replay reads them as a worker would.
  const dataConverter = { failureConverterPath, payloadCodecs: [new AesGcmCodec(loadCodecKeys({ keys: [{ id: TEST_CODEC_KEY_ID, file: codecKeyFile(servers) }], server: { host: '127.0.0.1', port: 0, corsOrigins: [] } }))] };

  beforeAll(async () => {
    connection = await Connection.connect({ address: servers.temporal.address });
    client = new Client({ connection, namespace: servers.temporal.namespace, dataConverter });
  });

  afterAll(async () => {
    await connection?.close();
  });

  it('replays every history of a bundled workflow that this test run produced, without a nondeterminism error', async () => {
    const runs: RunHistory[] = [];
    for await (const run of historiesOfRun(client)) runs.push(run);
    const { replayed, failed } = await replayFailures(bundle, runs, dataConverter);
    const types = new Set(runs.map((r) => r.type));
    console.log(`replay: ${replayed} histories of ${types.size} workflow types (${[...types].sort().join(', ')}); ${failed.length} failed`);
    expect(failures(failed)).toEqual([]);
    expect(replayed).toBe(runs.length);
    const record = process.env.LIFEBOAT_RECORD_HISTORIES;
    if (record) {
      console.log(`recorded histories of ${(await recordHistories(record, runs, dataConverter.payloadCodecs[0]!, servers.temporal)).join(', ')} in ${record}`);
    }
  }, 600_000);

  it('replays the histories an earlier version committed in test/histories/', async () => {
    const committed = committedHistories();
    // An empty directory would pass any replay: the first set was recorded with the version that added Worker Versioning.
    expect(committed.map((h) => h.file)).toEqual(expect.arrayContaining(['backupSource.json', 'drFailover.json', 'shipWal.json']));
    for (const history of committed) expect(bundledTypes(), `${history.file} is of a workflow type no longer bundled`).toContain(history.type);
    const { replayed, failed } = await replayFailures(bundle, committed, { failureConverterPath });
    console.log(`replay: ${replayed} committed histories (${committed.map((h) => h.file).join(', ')}); ${failed.length} failed`);
    expect(failures(failed)).toEqual([]);
    expect(replayed).toBe(committed.length);
  }, 300_000);
});
