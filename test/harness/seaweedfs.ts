import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
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
  /** Only when started with `tls`: the same S3 API over HTTPS, its certificate issued by `caFile`. */
  https?: { endpoint: string; port: number; caFile: string };
}

/** A server certificate for `weed mini`'s HTTPS listener, and the CA that issued it (PEM files). */
export interface S3Tls {
  caFile: string;
  certFile: string;
  keyFile: string;
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
function seaweedArgs(dataDir: string, dir: string, ports: number[], configFile: string, tls?: S3Tls): string[] {
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc, admin, adminGrpc, s3Https] = ports.map(String);
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
    // The plain HTTP port stays: the harness creates the bucket and checks credentials through it.
    ...(tls ? [`-s3.port.https=${s3Https}`, `-s3.cert.file=${tls.certFile}`, `-s3.key.file=${tls.keyFile}`] : []),
  ];
}

/**
 * A CA and a server certificate for 127.0.0.1 (EC P-256, valid 2 days), made with openssl in
 * `dir`, for the S3 HTTPS listener. The name is in the subject alternative names twice, as an
 * IP address (what Node and Go check) and as a DNS name: pgBackRest 2.45 compares the host it
 * connects to with DNS names and the common name only.
 */
export async function makeS3Tls(dir: string): Promise<S3Tls> {
  mkdirSync(dir, { recursive: true });
  const file = (name: string) => path.join(dir, name);
  const openssl = (args: string[]) => promisify(execFile)('openssl', args, { cwd: dir });
  const key = (name: string) => openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file(name)]);
  await key('ca.key');
  await openssl(['req', '-x509', '-new', '-key', file('ca.key'), '-days', '2', '-subj', '/CN=lifeboat test S3 CA', '-out', file('ca.pem'),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await key('server.key');
  await openssl(['req', '-new', '-key', file('server.key'), '-subj', '/CN=127.0.0.1', '-out', file('server.csr')]);
  writeFileSync(file('server.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:127.0.0.1\n');
  await openssl(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', file('server.ext'), '-out', file('server.pem')]);
  return { caFile: file('ca.pem'), certFile: file('server.pem'), keyFile: file('server.key') };
}

/** An unsigned GET over HTTPS, trusting only the test CA: the status code (403 once S3 is up and checking signatures). */
function httpsStatus(url: string, caFile: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(caFile), signal: AbortSignal.timeout(5_000) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', reject);
    req.end();
  });
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

/**
 * One SeaweedFS S3 endpoint for `region`, with its own ports, data dir, credentials and bucket `lb-<region>`.
 * With `tls`, S3 is also served over HTTPS on one more port (`s3.https`), beside plain HTTP.
 */
export async function startSeaweedS3(opts: { region: string; dir: string; ports?: number[]; log?: Log; tls?: S3Tls }): Promise<{ s3: S3Server; stop(): Promise<void> }> {
  const weed = findBinary('weed');
  const dir = path.resolve(opts.dir);
  const dataDir = path.join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const portCount = SEAWEED_PORT_COUNT + (opts.tls ? 1 : 0);
  const ports = opts.ports ?? (await freePorts(portCount));
  if (ports.length !== portCount) throw new Error(`startSeaweedS3 needs ${portCount} ports, got ${ports.length}`);
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
  const proc = spawnServer(`weed (${opts.region})`, weed, seaweedArgs(dataDir, dir, ports, configFile, opts.tls), { logFile: path.join(dir, 'weed.log'), cwd: dir, env });
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
    ...(opts.tls ? { https: { endpoint: `https://127.0.0.1:${ports[SEAWEED_PORT_COUNT]!}`, port: ports[SEAWEED_PORT_COUNT]!, caFile: opts.tls.caFile } } : {}),
  };
  const client = s3Client(s3);
  try {
    await waitHealthy(proc, () => createBucket(client, s3.bucket), 60_000);
    await assertCredentialsEnforced(s3);
    if (s3.https) {
      const status = await httpsStatus(`${s3.https.endpoint}/${s3.bucket}`, s3.https.caFile);
      if (status !== 403) throw new Error(`SeaweedFS at ${s3.https.endpoint} answered an unsigned HTTPS request with ${status}`);
    }
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  } finally {
    client.destroy();
  }
  return { s3, stop };
}
