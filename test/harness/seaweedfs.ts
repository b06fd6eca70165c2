import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { findBinary } from './binaries';
import { supervise } from './cleanup';
import { freePorts } from './ports';
import { type Log, spawnServer, waitHealthy } from './processes';

export interface S3Server {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  dataDir: string;
  port: number;
  pid: number;
}

/** `weed mini` listens on this many ports; every one is set explicitly (see seaweedArgs). */
export const SEAWEED_PORT_COUNT = 10;

/** An S3 client for one server, configured the way SeaweedFS needs (path-style, no flexible checksums). */
export function s3Client(server: Pick<S3Server, 'endpoint' | 'region' | 'accessKeyId' | 'secretAccessKey'>, secretAccessKey = server.secretAccessKey): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
  });
}

/**
 * Flags for `weed mini` (master, volume, filer and S3 in one process, starts in ~1 s and stops
 * in ~3 s, where `weed server` takes ~17 s to stop). Every port is explicit because unset gRPC
 * ports default to HTTP port + 10000, which can collide or overflow with OS-chosen ports;
 * WebDAV, Iceberg and Lance are off; telemetry is off since it would phone home.
 */
function seaweedArgs(dataDir: string, dir: string, ports: number[], configFile: string): string[] {
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc, admin, adminGrpc] = ports.map(String);
  return [
    'mini',
    `-dir=${dataDir}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    `-s3.port=${s3}`,
    `-s3.port.grpc=${s3Grpc}`,
    `-admin.port=${admin}`,
    `-admin.port.grpc=${adminGrpc}`,
    '-admin.ui=false',
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    '-webdav=false',
    '-master.telemetry=false',
    `-s3.config=${configFile}`,
    // Small volumes, and no pre-allocation, keep disk and memory low; 0 = as many as disk allows.
    '-master.volumeSizeLimitMB=64',
    '-volume.max=0',
    '-volume.preStopSeconds=0',
    // Sockets default to /tmp/seaweedfs-*-<port>.sock, which would outlive the run.
    `-filer.localSocket=${path.join(dir, 'filer.sock')}`,
    `-s3.localSocket=${path.join(dir, 's3.sock')}`,
  ];
}

function isS3Error(e: unknown, ...names: string[]): boolean {
  return e instanceof S3ServiceException && names.includes(e.name);
}

/** Create the bucket; its success is the health check (the filer behind S3 must be up too). */
async function createBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    // Bounded: a port held by something that never answers would otherwise hang startup forever.
    await client.send(new CreateBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(5_000) });
  } catch (e) {
    if (!isS3Error(e, 'BucketAlreadyOwnedByYou', 'BucketAlreadyExists')) throw e;
  }
}

/** A server that would accept any key would make every credential test meaningless, so refuse to hand one out. */
async function assertCredentialsEnforced(server: S3Server): Promise<void> {
  const wrong = s3Client(server, `${server.secretAccessKey}-wrong`);
  try {
    await wrong.send(new ListObjectsV2Command({ Bucket: server.bucket }), { abortSignal: AbortSignal.timeout(5_000) });
    throw new Error(`SeaweedFS at ${server.endpoint} accepted a wrong secret key`);
  } catch (e) {
    if (!isS3Error(e, 'SignatureDoesNotMatch', 'InvalidAccessKeyId', 'AccessDenied')) throw e;
  } finally {
    wrong.destroy();
  }
  const anonymous = await fetch(`${server.endpoint}/${server.bucket}`, { signal: AbortSignal.timeout(5_000) });
  if (anonymous.status !== 403) throw new Error(`SeaweedFS at ${server.endpoint} answered an unsigned request with ${anonymous.status}`);
}

/** One SeaweedFS S3 endpoint for `region`, with its own ports, data dir, credentials and bucket `lb-<region>`. */
export async function startSeaweedS3(opts: { region: string; dir: string; ports?: number[]; log?: Log }): Promise<{ s3: S3Server; stop(): Promise<void> }> {
  const weed = findBinary('weed');
  const dir = path.resolve(opts.dir);
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const ports = opts.ports ?? (await freePorts(SEAWEED_PORT_COUNT));
  if (ports.length !== SEAWEED_PORT_COUNT) throw new Error(`startSeaweedS3 needs ${SEAWEED_PORT_COUNT} ports, got ${ports.length}`);
  const s3Port = ports[6]!;

  const accessKeyId = `LB${opts.region.toUpperCase().replace(/[^A-Z0-9]/g, '')}${randomBytes(4).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(20).toString('hex');
  const configFile = path.join(dir, 's3-identities.json');
  const identities = { identities: [{ name: 'lifeboat', credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }], actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'] }] };
  writeFileSync(configFile, JSON.stringify(identities, null, 2), { mode: 0o600 });

  // weed falls back to AWS_* variables for credentials; keep the caller's out so only the file counts.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  // A soft heap limit: the Go runtime collects harder instead of growing past it.
  env.GOMEMLIMIT = '256MiB';
  const proc = spawnServer(`weed (${opts.region})`, weed, seaweedArgs(dataDir, dir, ports, configFile), { logFile: path.join(dir, 'weed.log'), cwd: dir, env });
  const stop = supervise(proc.pid, opts.log);

  const s3: S3Server = {
    endpoint: `http://127.0.0.1:${s3Port}`,
    region: opts.region,
    accessKeyId,
    secretAccessKey,
    bucket: `lb-${opts.region}`,
    dataDir,
    port: s3Port,
    pid: proc.pid,
  };
  const client = s3Client(s3);
  try {
    await waitHealthy(proc, () => createBucket(client, s3.bucket), 60_000);
    await assertCredentialsEnforced(s3);
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  } finally {
    client.destroy();
  }
  return { s3, stop };
}
