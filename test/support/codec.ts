import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { execa } from 'execa';
import { decodedPayload } from '../../client/raw-payload';
import { ENCRYPTED_ENCODING } from '../../lib/codec/aes-gcm';
import type { Servers } from '../harness/servers';

// One payload codec key for the whole test run: every fixture's config names it, so any test's
// client (the secret scan's too) can read what any other test's workers wrote.

export const TEST_CODEC_KEY_ID = 'test-run';

export function codecKeyFile(servers: Servers): string {
  const file = join(servers.workDir, 'codec-key');
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return file;
}

export const codecKeyOf = (servers: Servers): string => readFileSync(codecKeyFile(servers), 'utf8').trim();

/** temporal.codec of every fixture: the run's key, and a codec server where the harness's UI looks for one. */
export function testCodecConfig(servers: Servers): Record<string, unknown> {
  const port = servers.temporal.codecEndpoint ? Number(new URL(servers.temporal.codecEndpoint).port) : undefined;
  return { keys: [{ id: TEST_CODEC_KEY_ID, file: codecKeyFile(servers) }], server: { ...(port ? { port } : {}), corsOrigins: [servers.temporal.uiUrl] } };
}

/**
 * A history (or any API message) with every encrypted payload decrypted by the client's codec, as
 * `temporal workflow show --codec-endpoint` shows it: what an operator with the key can read.
 */
export async function decrypted<T>(client: Client, message: T): Promise<T> {
  const walk = async (value: unknown): Promise<unknown> => {
    if (value instanceof Uint8Array || typeof value !== 'object' || value === null) return value;
    if (Array.isArray(value)) return Promise.all(value.map(walk));
    if (isEncrypted(value)) return walk(await decodedPayload(client.workflow, value));
    return Object.fromEntries(await Promise.all(Object.entries(value).map(async ([key, inner]) => [key, await walk(inner)])));
  };
  return (await walk(message)) as T;
}

function isEncrypted(value: object): value is Payload {
  const encoding = (value as Payload).metadata?.encoding;
  return encoding instanceof Uint8Array && Buffer.from(encoding).toString() === ENCRYPTED_ENCODING;
}

const lifeboat = fileURLToPath(new URL('../../bin/lifeboat', import.meta.url));

/** `lifeboat codec-server`, the real command, once it says it listens. */
export async function startCodecServer(configFile: string, env: Record<string, string>, port: number): Promise<{ url: string; stop(): Promise<void> }> {
  const proc = execa(lifeboat, ['--config', configFile, 'codec-server', '--port', String(port)], { env, reject: false });
  let said = '';
  await new Promise<void>((resolve, reject) => {
    proc.stderr.on('data', (chunk: Buffer) => {
      said += chunk.toString();
      if (said.includes('lifeboat codec server at')) resolve();
    });
    void proc.then(() => reject(new Error(`lifeboat codec-server exited: ${said}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: async () => { proc.kill('SIGTERM'); await proc; } };
}
