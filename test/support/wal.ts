import { putSignedJson } from './signing';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { execa } from 'execa';
import type { StorageBackend } from '../../activities/storage/backend';
import { readAll } from '../../activities/storage/backend';
import { keys, MANIFEST_FORMAT, type Manifest } from '../../lib/manifest';
import { parseWalName, walKeys } from '../../lib/wal';

/** WAL file names in a spool directory (temp and dot files left out), sorted. */
export function spooled(dir: string): string[] {
  return readdirSync(dir).filter((name) => parseWalName(name)).sort();
}

/** The archived WAL file names of a source in a region, sorted. */
export async function archived(storage: StorageBackend, source: string): Promise<string[]> {
  const names: string[] = [];
  for await (const object of storage.list(walKeys.prefix(source))) {
    const name = walKeys.fileName(source, object.key);
    if (name) names.push(name);
  }
  return names.sort();
}

/** An archived file decrypted the way an operator would without Lifeboat: age -d | zstd -d. */
export async function decryptArchived(storage: StorageBackend, source: string, name: string, identityFile: string): Promise<Buffer> {
  const stored = await readAll(await storage.get(walKeys.object(source, name)));
  const age = await execa('age', ['-d', '-i', identityFile], { input: stored, encoding: 'buffer' });
  const plain = await execa('zstd', ['-d', '-c'], { input: age.stdout, encoding: 'buffer' });
  return Buffer.from(plain.stdout);
}

export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A base backup's manifest with a physical description, as the physical driver writes one; only what WAL continuity and retention read is real. */
export async function writeBaseBackupManifest(storage: StorageBackend, source: string, region: string, id: string, finishedAt: string, startWalFile: string): Promise<void> {
  const parsed = parseWalName(startWalFile)!;
  const manifest: Manifest = {
    format: MANIFEST_FORMAT, id, source, kind: 'postgres', region, startedAt: finishedAt, finishedAt,
    workflow: { workflowId: 'test', runId: 'test' }, objects: [], compression: { algorithm: 'zstd', level: 3 },
    encryption: { algorithm: 'age-x25519', recipients: [] }, tools: {},
    description: {
      kind: 'postgres', mode: 'physical', serverVersion: '16', systemIdentifier: '1', timeline: parsed.timeline,
      startLsn: '0/0', stopLsn: '0/0', startWalFile, stopWalFile: startWalFile, walSegmentBytes: 16 * 1024 * 1024,
      startTime: finishedAt, sizeBytes: 0, databases: ['postgres'], hasBackupManifest: false,
    },
    parent: null, previousManifestSha256: null, retentionTags: [], restoreWith: 'test',
  };
  await putSignedJson(storage, keys.manifest(source, id), manifest);
}

/** A TCP forwarder that can be switched off, as a region whose network is gone: connections are refused-by-reset and open ones cut. */
export interface Switch {
  port: number;
  up(): void;
  down(): void;
  /** Stops forwarding the server's bytes on the first connection that has received `bytes` of them, until release(); resolves then. */
  holdAfter(bytes: number): Promise<void>;
  release(): void;
  close(): Promise<void>;
}

export async function startSwitch(target: { host: string; port: number }): Promise<Switch> {
  let isUp = true;
  const open = new Set<Socket>();
  let hold: { bytes: number; reached: () => void } | undefined;
  const held: Array<() => void> = [];
  const server: Server = createServer((client) => {
    if (!isUp) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    open.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.connect(target.port, target.host, () => {
      client.pipe(upstream);
      upstream.pipe(client);
      let received = 0;
      upstream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (!hold || received < hold.bytes) return;
        // The server's sends block once the socket buffers fill: a client that stopped reading.
        upstream.unpipe(client);
        upstream.pause();
        held.push(() => upstream.pipe(client));
        hold.reached();
        hold = undefined;
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    up: () => { isUp = true; },
    holdAfter: (bytes) => new Promise<void>((reached) => { hold = { bytes, reached }; }),
    release: () => {
      for (const resume of held.splice(0)) resume();
    },
    down: () => {
      isUp = false;
      for (const socket of open) socket.destroy();
    },
    close: () => new Promise((resolve) => {
      for (const socket of open) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** uid and gid of the postgres OS user, who must own directories the server writes. */
export function postgresOwner(): { uid: number; gid: number } {
  return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) };
}
