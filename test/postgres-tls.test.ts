import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startPostgres, type PostgresInfo } from './harness/postgres';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { postgresOwner } from './support/wal';
import { failureOf, startHarness, type Harness } from './support/workers';

const servers = inject('servers');

/** A CA and a server certificate it signed for 127.0.0.1, as an operator's PKI would issue. */
async function certificates(dir: string, name: string): Promise<{ ca: string; cert: string; key: string }> {
  const at = (file: string) => join(dir, `${name}-${file}`);
  const openssl = (args: string[]) => execa('openssl', args);
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name} test CA`, '-keyout', at('ca.key'), '-out', at('ca.pem')]);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', at('server.key'), '-out', at('server.csr')]);
  writeFileSync(at('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  await openssl(['x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', at('san.ext'), '-out', at('server.pem')]);
  return { ca: at('ca.pem'), cert: at('server.pem'), key: at('server.key') };
}

describe('a PostgreSQL source whose URL asks for TLS (sslmode, sslrootcert)', () => {
  let dir: string;
  let cluster: { postgres: PostgresInfo; stop(): Promise<void> };
  let fixture: Fixture;
  let harness: Harness;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-tls-'));
    const pki = join(dir, 'pki');
    mkdirSync(pki);
    const good = await certificates(pki, 'good');
    const wrong = await certificates(pki, 'wrong');
    // The server refuses every connection that is not TLS: a backup that succeeds used TLS for all of its connections.
    const hba = join(pki, 'pg_hba.conf');
    writeFileSync(hba, 'local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostssl replication all 127.0.0.1/32 scram-sha-256\nhostnossl all all 0.0.0.0/0 reject\nhostnossl replication all 0.0.0.0/0 reject\n');
    if (process.getuid?.() === 0) {
      const { uid, gid } = postgresOwner();
      for (const file of [good.cert, good.key, hba]) chownSync(file, uid, gid);
    }
    cluster = await startPostgres({
      dir: join(dir, 'pg'),
      settings: { ssl: 'on', ssl_cert_file: good.cert, ssl_key_file: good.key, hba_file: hba, wal_level: 'replica', max_wal_senders: 4 },
      log: () => undefined,
    });
    const passwordEnv = `TLS_PG_${Date.now()}`;
    process.env[passwordEnv] = cluster.postgres.password;
    const url = (query: string) => `postgres://postgres@127.0.0.1:${cluster.postgres.port}/postgres?${query}`;
    fixture = await makeFixture(servers, (ctx) => ({
      'tls-db': { kind: 'postgres', region: 'stockholm', passwordEnv, url: url(`sslmode=verify-full&sslrootcert=${good.ca}`) },
      'tls-base': { kind: 'postgres', region: 'stockholm', mode: 'physical', passwordEnv, url: url(`sslmode=verify-full&sslrootcert=${good.ca}`) },
      'wrong-ca': { kind: 'postgres', region: 'stockholm', passwordEnv, url: url(`sslmode=verify-full&sslrootcert=${wrong.ca}`) },
      // The harness's shared server runs without TLS.
      'no-tls-server': ctx.postgres('postgres', { url: `postgres://${servers.postgres.user}@127.0.0.1:${servers.postgres.port}/postgres?sslmode=require` }),
    }));
    harness = await startHarness(fixture.config);
  });

  afterAll(async () => {
    await harness?.close();
    await cluster?.stop();
    fixture?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('takes a logical backup over verified TLS, on a server that refuses plain-text connections', async () => {
    const summary = await runBackup(harness.client, fixture.config, 'tls-db');
    expect(summary.backupId).toBeTruthy();
  });

  it('takes a physical base backup over verified TLS, on a server that refuses plain-text connections', async () => {
    const summary = await runBackup(harness.client, fixture.config, 'tls-base');
    expect(summary.backupId).toBeTruthy();
  });

  it('refuses a server whose certificate another CA signed, as a Config error in one attempt', async () => {
    const failure = await failureOf(runBackup(harness.client, fixture.config, 'wrong-ca'));
    expect(failure.type).toBe('Config');
    expect(failure.message).toMatch(/source wrong-ca .*TLS: .*(self[- ]signed|unable to|certificate)/i);
    expect(failure.message).not.toContain('gave up after');
  });

  it('refuses to fall back to plain text when sslmode=require meets a server without TLS', async () => {
    const failure = await failureOf(runBackup(harness.client, fixture.config, 'no-tls-server'));
    expect(failure.type).toBe('Config');
    expect(failure.message).toMatch(/TLS: .*does not support SSL/i);
  });
});
