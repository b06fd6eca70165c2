import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeS3Tls, type S3Server, startSeaweedS3 } from './seaweedfs';

// The benchmark's physical part (bench/physical-part.ts) needs S3 over HTTPS for pgBackRest:
// startSeaweedS3 with `tls` serves it beside plain HTTP, under a certificate from a CA of its own.
describe('SeaweedFS with an HTTPS listener (startSeaweedS3 tls)', () => {
  let dir: string;
  let server: { s3: S3Server; stop(): Promise<void> };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-s3-https-'));
    const tls = await makeS3Tls(join(dir, 'tls'));
    server = await startSeaweedS3({ region: 'secure', dir: join(dir, 's3'), tls, log: () => undefined });
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (ca?: Buffer) => new S3Client({
    endpoint: server.s3.https!.endpoint,
    region: server.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.s3.accessKeyId, secretAccessKey: server.s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    requestHandler: { httpsAgent: new Agent(ca ? { ca } : {}) },
  });

  it('serves the same bucket over HTTPS to a client that trusts the CA, and stays on HTTP too', async () => {
    expect(server.s3.https?.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(server.s3.endpoint).toMatch(/^http:\/\//);
    const trusting = client(readFileSync(server.s3.https!.caFile));
    try {
      await trusting.send(new PutObjectCommand({ Bucket: server.s3.bucket, Key: 'over-tls', Body: 'hello over TLS' }));
      const got = await trusting.send(new GetObjectCommand({ Bucket: server.s3.bucket, Key: 'over-tls' }));
      expect(await got.Body!.transformToString()).toBe('hello over TLS');
    } finally {
      trusting.destroy();
    }
  });

  it('refuses a client that does not trust the CA (the certificate is really checked)', async () => {
    const untrusting = client();
    try {
      await expect(untrusting.send(new GetObjectCommand({ Bucket: server.s3.bucket, Key: 'over-tls' }))).rejects.toThrow(/certificate/i);
    } finally {
      untrusting.destroy();
    }
  });

  it('names 127.0.0.1 as an IP address and as a DNS name (pgBackRest 2.45 checks only DNS names)', () => {
    const pem = readFileSync(join(dir, 'tls', 'server.pem'), 'utf8');
    const names = new X509Certificate(pem).subjectAltName ?? '';
    expect(names).toContain('IP Address:127.0.0.1');
    expect(names).toContain('DNS:127.0.0.1');
  });
});
