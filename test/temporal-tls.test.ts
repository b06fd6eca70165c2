import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { backupWorkflowId } from '../lib/workflow-ids';
import { connectClient } from '../client/temporal';
import { makeTestPki, type TestPki } from './support/certs';
import { configVariant, makeFixture, type Fixture } from './support/fixture';
import { startGrpcProxy, type GrpcProxy } from './support/grpc-proxy';
import { historyText, registerSecret } from './support/secret-scan';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

// The dev server has no TLS options; the frontend these tests reach is test/support/grpc-proxy.ts
// terminating TLS in front of it, with certificates made here by openssl.
describe('a secured Temporal', () => {
  let fixture: Fixture;
  let pki: TestPki;
  let work: string;
  let harness: Harness | undefined;
  let proxy: GrpcProxy | undefined;

  const variant = (name: string, temporal: Record<string, unknown>) => configVariant(fixture, name, { temporal });
  const cli = (file: string, args: string[], env: Record<string, string> = {}) =>
    execa(lifeboat, ['--config', file, ...args], { env: { ...fixture.env, ...env }, reject: false });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lifeboat-tls-'));
    writeFileSync(join(work, 'note.txt'), 'a file to back up\n');
    pki = await makeTestPki(mkdtempSync(join(tmpdir(), 'lifeboat-pki-')));
    fixture = await makeFixture(servers, () => ({ notes: { kind: 'files', region: 'stockholm', path: work } }), { sync: { afterBackup: false } });
  });

  afterEach(async () => {
    await harness?.close();
    await proxy?.close();
    harness = undefined;
    proxy = undefined;
  });

  afterAll(() => {
    fixture?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('is reached over mutual TLS by the worker and the CLI with temporal.tls, and refused without the client certificate', async () => {
    proxy = await startGrpcProxy(servers.temporal.address, { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, clientCaFile: pki.caFile });
    const mtls = variant('mtls', { address: proxy.address, tls: { serverCaFile: pki.caFile, clientCertFile: pki.clientCertFile, clientKeyFile: pki.clientKeyFile, serverName: pki.serverName } });
    harness = await startHarness(mtls.config);
    const backup = await cli(mtls.file, ['backup', 'notes', '--wait']);
    expect(backup.stderr).not.toMatch(/cannot connect/);
    expect(backup.exitCode).toBe(0);
    expect(proxy.authenticatedRequests()).toBeGreaterThan(10);

    const noClientCert = variant('no-client-cert', { address: proxy.address, tls: { serverCaFile: pki.caFile, serverName: pki.serverName } });
    const refused = await cli(noClientCert.file, ['backup', 'notes']);
    expect(refused.stderr).toMatch(/cannot connect to Temporal at 127\.0\.0\.1:\d+ \(TLS\)/);
    expect(refused.exitCode).toBe(9);

    const wrongName = variant('wrong-name', { address: proxy.address, tls: { serverCaFile: pki.caFile, clientCertFile: pki.clientCertFile, clientKeyFile: pki.clientKeyFile, serverName: 'elsewhere.test' } });
    await expect(connectClient(wrongName.config)).rejects.toMatchObject({ type: 'TemporalUnreachable' });
    const plain = variant('plain', { address: proxy.address });
    await expect(connectClient(plain.config)).rejects.toMatchObject({ type: 'TemporalUnreachable' });
  }, 120_000);

  it('is reached with Temporal\'s own TEMPORAL_ADDRESS and TEMPORAL_TLS_* variables instead of the config', async () => {
    proxy = await startGrpcProxy(servers.temporal.address, { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, clientCaFile: pki.caFile });
    const env = {
      TEMPORAL_ADDRESS: proxy.address, TEMPORAL_TLS_SERVER_CA_CERT_PATH: pki.caFile, TEMPORAL_TLS_CLIENT_CERT_PATH: pki.clientCertFile,
      TEMPORAL_TLS_CLIENT_KEY_PATH: pki.clientKeyFile, TEMPORAL_TLS_SERVER_NAME: pki.serverName,
    };
    const worker = variant('worker', { address: proxy.address, tls: { serverCaFile: pki.caFile, clientCertFile: pki.clientCertFile, clientKeyFile: pki.clientKeyFile, serverName: pki.serverName } });
    harness = await startHarness(worker.config);
    const result = await cli(fixture.configFile, ['backup', 'notes', '--wait'], env);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/backup \S+ of notes \(files\) stored in stockholm/);
  }, 120_000);

  it('receives the API key from apiKeyFile on every call of the worker and the CLI, and the key is in no output and no history', async () => {
    proxy = await startGrpcProxy(servers.temporal.address, { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile });
    const apiKey = `lbtest-${Math.random().toString(36).slice(2)}-apikey`;
    registerSecret(servers, 'Temporal API key of temporal-tls.test', apiKey);
    const keyFile = join(fixture.dir, 'temporal-api-key');
    writeFileSync(keyFile, `${apiKey}\n`, { mode: 0o600 });
    // As Temporal Cloud: TLS with a CA the system would trust (here the test's), and the key as a bearer token.
    const cloud = variant('cloud', { address: proxy.address, apiKeyFile: keyFile, tls: { serverCaFile: pki.caFile, serverName: pki.serverName } });
    harness = await startHarness(cloud.config);
    const result = await cli(cloud.file, ['backup', 'notes', '--wait']);
    expect(result.exitCode).toBe(0);
    expect(proxy.authorizations.length).toBeGreaterThan(10);
    expect(new Set(proxy.authorizations)).toEqual(new Set([`Bearer ${apiKey}`]));
    expect(`${result.stdout}${result.stderr}`).not.toContain(apiKey);
    const handle = harness.client.workflow.getHandle(backupWorkflowId(fixture.config.temporal.taskQueuePrefix, 'notes'));
    expect(historyText(await handle.fetchHistory())).not.toContain(apiKey);

    // And a missing key is a Config error naming the file, never a connection without it.
    const missing = variant('missing-key', { address: proxy.address, apiKeyFile: join(fixture.dir, 'no-such-key'), tls: { serverCaFile: pki.caFile, serverName: pki.serverName } });
    const refused = await cli(missing.file, ['backup', 'notes']);
    expect(refused.stderr).toMatch(/temporal API key: cannot read .*no-such-key: ENOENT/);
    expect(refused.exitCode).toBe(2);
  }, 120_000);
});
