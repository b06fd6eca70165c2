import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { backupWorkflowId } from '../lib/workflow-ids';
import { recreateDatabase, withClient } from '../scripts/sample-db';
import { freePorts } from './harness/ports';
import { makeFixture, type Fixture } from './support/fixture';
import { startCodecServer } from './support/codec';
import { historyText } from './support/secret-scan';
import { startHarness, type Harness } from './support/workers';

// What Temporal keeps of a backup, read three ways: raw from the server (no key), through
// `temporal workflow show --codec-endpoint` and in the Temporal UI with the codec endpoint set.

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));
/** Screenshots a person can look at after the run (gitignored). */
const artifacts = fileURLToPath(new URL('../test-artifacts/codec-ui/', import.meta.url));

/** The history without what the server must read in clear: workflow ids and search attributes (README, Encrypted payloads). */
function withoutIdentifiers(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutIdentifiers);
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => key !== 'workflowId' && key !== 'searchAttributes').map(([key, inner]) => [key, withoutIdentifiers(inner)]));
}

/** Every payload's data in `temporal workflow show --output json`, decoded from base64. */
function payloadTexts(json: string): string {
  const texts: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (typeof value === 'object' && value !== null) {
      const { metadata, data } = value as { metadata?: unknown; data?: unknown };
      if (typeof metadata === 'object' && typeof data === 'string') texts.push(Buffer.from(data, 'base64').toString('utf8'));
      Object.values(value).forEach(walk);
    }
  };
  walk(JSON.parse(json));
  return texts.join('\n');
}

describe('payloads in Temporal history, encrypted by the codec', () => {
  let fixture: Fixture;
  let harness: Harness;
  let treeParent: string;
  let tree: string;
  const table = 'payroll_ledger_q3';
  const database = 'codec_ledger';
  const ids = { db: '', files: '' };

  beforeAll(async () => {
    await recreateDatabase(pg, database);
    await withClient(pg, database, (c) => c.query(`create table ${table} as select g as id from generate_series(1, 100) g`));
    treeParent = mkdtempSync(join(tmpdir(), 'lifeboat-codec-'));
    tree = join(treeParent, 'ledger-tree-contracts');
    mkdirSync(tree);
    writeFileSync(join(tree, 'contract.txt'), 'terms');
    fixture = await makeFixture(servers, (ctx) => ({
      'ledger-db': ctx.postgres(database),
      'ledger-files': { kind: 'files', region: 'stockholm', path: tree },
    }), { sync: { afterBackup: false } });
    harness = await startHarness(fixture.config);
    ids.db = backupWorkflowId(fixture.config.temporal.taskQueuePrefix, 'ledger-db');
    ids.files = backupWorkflowId(fixture.config.temporal.taskQueuePrefix, 'ledger-files');
    await harness.client.workflow.execute('backupSource', { args: [{ source: 'ledger-db' }], workflowId: ids.db, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm` });
    // The CLI's client encrypts the input and decrypts the progress and the summary it prints.
    const cli = await execa(lifeboat, ['--config', fixture.configFile, 'backup', 'ledger-files', '--wait'], { env: fixture.env, reject: false });
    expect(cli.stderr + cli.stdout).toMatch(/backup \S+ of ledger-files \(files\) stored in stockholm/);
  }, 180_000);

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
    if (treeParent) rmSync(treeParent, { recursive: true, force: true });
  });

  it('holds no source name, path, table name or URL in the raw history, while temporal workflow show with the codec server shows the inputs and summaries', async () => {
    const keyless = new Client({ connection: harness.client.connection, namespace: fixture.config.temporal.namespace });
    const raw = [
      historyText(await keyless.workflow.getHandle(ids.db).fetchHistory()),
      historyText(await keyless.workflow.getHandle(ids.files).fetchHistory()),
    ].join('\n');
    const rawBeyondIds = [
      historyText(withoutIdentifiers(await keyless.workflow.getHandle(ids.db).fetchHistory())),
      historyText(withoutIdentifiers(await keyless.workflow.getHandle(ids.files).fetchHistory())),
    ].join('\n');
    expect(raw).toContain('binary/encrypted');
    for (const plain of [table, database, tree, 'contract.txt', 'postgres://', servers.s3.stockholm!.endpoint]) expect(raw).not.toContain(plain);
    for (const name of ['ledger-db', 'ledger-files']) expect(rawBeyondIds).not.toContain(name);

    // The CLI with a bearer token, as an operator runs it.
    const token = `codec-token-${process.pid}`;
    const document = parse(readFileSync(fixture.configFile, 'utf8')) as { temporal: { codec: { server: Record<string, unknown> } } };
    document.temporal.codec.server.tokenEnv = 'CODEC_TEST_TOKEN';
    const withToken = join(fixture.dir, 'with-token.yaml');
    writeFileSync(withToken, stringify(document));
    const server = await startCodecServer(withToken, { ...fixture.env, CODEC_TEST_TOKEN: token }, (await freePorts(1))[0]!);
    try {
      const show = (id: string, auth: string[]) => execa('temporal', ['workflow', 'show', '--address', servers.temporal.address, '--namespace', servers.temporal.namespace,
        '-w', id, '--output', 'json', '--codec-endpoint', server.url, ...auth], { reject: false });
      const db = payloadTexts((await show(ids.db, ['--codec-auth', `Bearer ${token}`])).stdout);
      expect(db).toContain('{"source":"ledger-db"}');
      // Table names never reach the history (the description is stored beside the backup); the summary does.
      expect(db).toContain('"contents":"1 table"');
      expect(db).toContain('ledger-db/');
      expect(payloadTexts((await show(ids.files, ['--codec-auth', `Bearer ${token}`])).stdout)).toContain('{"source":"ledger-files"}');
      const refused = await show(ids.db, []);
      // Without the token the codec server answers 401: nothing decrypted is shown.
      expect(refused.exitCode !== 0 || !payloadTexts(refused.stdout).includes('{"source":"ledger-db"}')).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('shows a backup\'s decoded input on its page in the Temporal UI with the codec endpoint set', async () => {
    // The harness's dev server was started with --ui-codec-endpoint on this port; the fixture lists the UI's origin for CORS.
    const server = await startCodecServer(fixture.configFile, fixture.env, Number(new URL(servers.temporal.codecEndpoint!).port));
    try {
      const { runId } = await harness.client.workflow.getHandle(ids.db).describe();
      const page = `${servers.temporal.uiUrl}/namespaces/${fixture.config.temporal.namespace}/workflows/${encodeURIComponent(ids.db)}/${runId}/history`;
      mkdirSync(artifacts, { recursive: true });
      const screenshot = join(artifacts, 'backup-input.png');
      const chromium = (args: string[]) => execa('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=15000', ...args, page]);
      const [dom] = await Promise.all([chromium(['--dump-dom']), chromium(['--window-size=1400,1600', `--screenshot=${screenshot}`])]);
      const text = dom.stdout.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
      expect(text).toMatch(/Input\W+\{ "source" : "ledger-db" \}/);
      expect(text).toContain('"contents" : "1 table"');
      expect(statSync(screenshot).size).toBeGreaterThan(10_000);
    } finally {
      await server.stop();
    }
  });
});
