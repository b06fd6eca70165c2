import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { s3Client } from './seaweedfs';
import { INDEXED_VALUE_TYPE_KEYWORD, LIFEBOAT_SEARCH_ATTRIBUTES } from './temporal';

const servers = inject('servers');
const regions = Object.keys(servers.s3);

function s3Of(region: string) {
  const server = servers.s3[region];
  if (!server) throw new Error(`no S3 server for ${region}`);
  return server;
}

async function s3ErrorName(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'no error';
  } catch (e) {
    return e instanceof S3ServiceException ? e.name : String(e);
  }
}

/** One RESP round trip; no Redis client is a dependency, and PING needs none. */
function redisCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`${command}\r\n`));
    socket.setTimeout(5_000, () => socket.destroy(new Error('redis timed out')));
    socket.once('data', (data) => {
      resolve(data.toString().trim());
      socket.end();
    });
    socket.once('error', reject);
  });
}

describe('the test servers', () => {
  it('include S3 servers for stockholm and gothenburg', () => {
    expect(regions).toEqual(expect.arrayContaining(['stockholm', 'gothenburg']));
  });

  it('Temporal answers on its address and has the three Lifeboat search attributes as Keywords', async () => {
    const connection = await Connection.connect({ address: servers.temporal.address });
    try {
      const ns = await connection.workflowService.describeNamespace({ namespace: servers.temporal.namespace });
      expect(ns.namespaceInfo?.name).toBe('default');
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      for (const name of LIFEBOAT_SEARCH_ATTRIBUTES) expect(customAttributes?.[name], name).toBe(INDEXED_VALUE_TYPE_KEYWORD);
    } finally {
      await connection.close();
    }
    const ui = await fetch(servers.temporal.uiUrl);
    expect(ui.status).toBe(200);
  });

  describe.each(regions)('the %s S3 server', (region) => {
    const server = s3Of(region);

    it('stores and returns an object with its credentials', async () => {
      const client = s3Client(server);
      const key = `harness/put-get-${Date.now()}`;
      await client.send(new PutObjectCommand({ Bucket: server.bucket, Key: key, Body: `hello ${region}` }));
      const got = await client.send(new GetObjectCommand({ Bucket: server.bucket, Key: key }));
      expect(await got.Body?.transformToString()).toBe(`hello ${region}`);
      client.destroy();
    });

    it('rejects a wrong secret key and an unsigned request', async () => {
      const wrong = s3Client(server, 'not-the-secret');
      expect(await s3ErrorName(wrong.send(new ListObjectsV2Command({ Bucket: server.bucket })))).toBe('SignatureDoesNotMatch');
      wrong.destroy();
      const unsigned = await fetch(`${server.endpoint}/${server.bucket}?list-type=2`);
      expect(unsigned.status).toBe(403);
    });

    it('supports multipart upload, ListMultipartUploads and AbortMultipartUpload', async () => {
      const client = s3Client(server);
      const Key = `harness/multipart-${Date.now()}`;
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: server.bucket, Key }));
      expect(UploadId).toBeTruthy();
      // 5 MiB is S3's minimum size for every part but the last.
      const part = await client.send(new UploadPartCommand({ Bucket: server.bucket, Key, UploadId, PartNumber: 1, Body: Buffer.alloc(5 * 1024 * 1024, 7) }));
      expect(part.ETag).toBeTruthy();
      const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket }));
      expect(listed.Uploads?.map((u) => u.UploadId)).toContain(UploadId);
      await client.send(new AbortMultipartUploadCommand({ Bucket: server.bucket, Key, UploadId }));
      const after = await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket }));
      expect(after.Uploads?.map((u) => u.UploadId) ?? []).not.toContain(UploadId);
      client.destroy();
    });
  });

  it('run stockholm and gothenburg as distinct servers: what is put in one is not in the other', async () => {
    const sthlm = s3Of('stockholm');
    const gbg = s3Of('gothenburg');
    expect(new Set([sthlm.port, gbg.port]).size).toBe(2);
    expect(sthlm.pid).not.toBe(gbg.pid);
    expect(sthlm.dataDir).not.toBe(gbg.dataDir);

    const key = `harness/only-in-stockholm-${Date.now()}`;
    const sthlmClient = s3Client(sthlm);
    const gbgClient = s3Client(gbg);
    await sthlmClient.send(new PutObjectCommand({ Bucket: sthlm.bucket, Key: key, Body: 'x' }));
    expect(await s3ErrorName(gbgClient.send(new HeadBucketCommand({ Bucket: sthlm.bucket })))).toBe('NotFound');
    expect(await s3ErrorName(gbgClient.send(new GetObjectCommand({ Bucket: gbg.bucket, Key: key })))).toBe('NoSuchKey');
    // Each region has its own identities: stockholm's key means nothing to gothenburg.
    const crossed = s3Client({ ...gbg, accessKeyId: sthlm.accessKeyId }, sthlm.secretAccessKey);
    expect(await s3ErrorName(crossed.send(new ListObjectsV2Command({ Bucket: gbg.bucket })))).toMatch(/InvalidAccessKeyId|AccessDenied/);
    for (const c of [sthlmClient, gbgClient, crossed]) c.destroy();
  });

  it('PostgreSQL accepts a password login over TCP', async () => {
    const { host, port, user, password } = servers.postgres;
    const client = new pg.Client({ host, port, user, password, database: 'postgres' });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: string }>("select current_setting('server_version') as version");
      expect(rows[0]?.version).toMatch(/^\d+/);
    } finally {
      await client.end();
    }
  });

  it('PostgreSQL rejects a wrong password', async () => {
    const { host, port, user } = servers.postgres;
    const client = new pg.Client({ host, port, user, password: 'wrong-password', database: 'postgres' });
    // 28P01 is invalid_password: the server checked it, rather than refusing the connection outright.
    await expect(client.connect()).rejects.toMatchObject({ code: '28P01' });
  });

  it('Redis answers PING', async () => {
    expect(await redisCommand(servers.redis.port, 'PING')).toBe('+PONG');
  });
});

describe('the workflow bundle of the run', () => {
  it('is built once by the global setup and named to every test process, so worker starts skip webpack', () => {
    const bundle = process.env.LIFEBOAT_WORKFLOW_BUNDLE;
    expect(bundle, 'LIFEBOAT_WORKFLOW_BUNDLE').toBeDefined();
    expect(readFileSync(bundle!, 'utf8')).toContain('backupSource');
  });
});
