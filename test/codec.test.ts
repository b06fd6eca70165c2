import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure, DefaultFailureConverter, defaultPayloadConverter, type Payload } from '@temporalio/common';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { AesGcmCodec, KEY_ID_METADATA } from '../lib/codec/aes-gcm';
import { loadCodecKeys, type CodecConfig } from '../lib/codec/keys';
import { startCodecServer } from '../lib/codec/server';
import { parseConfig } from '../lib/config/load';
import { LifeboatError } from '../lib/errors';
import { problems } from './support/config';

const dir = mkdtempSync(join(tmpdir(), 'lifeboat-codec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keyFile(name: string, text = randomBytes(32).toString('base64')): string {
  const file = join(dir, name);
  writeFileSync(file, `${text}\n`, { mode: 0o600 });
  return file;
}

const codecOf = (codec: Omit<CodecConfig, 'server'>, env: NodeJS.ProcessEnv = {}) =>
  new AesGcmCodec(loadCodecKeys({ ...codec, server: { host: '127.0.0.1', port: 0, corsOrigins: [] } }, env));
const plain = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const text = (payload: Payload) => Buffer.from(payload.data!).toString('utf8');

function thrown(run: () => unknown): LifeboatError {
  try {
    run();
  } catch (error) {
    if (error instanceof LifeboatError) return error;
    throw error;
  }
  throw new Error('expected a LifeboatError');
}

async function rejected(promise: Promise<unknown>): Promise<LifeboatError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LifeboatError) return error;
    throw error;
  }
  throw new Error('expected a LifeboatError');
}

describe('the AES-256-GCM payload codec', () => {
  const old = keyFile('k2025');
  const current = keyFile('k2026');

  it('encrypts a payload whole, names its key id in clear metadata, and decrypts it back', async () => {
    const codec = codecOf({ keys: [{ id: 'k2026', file: current }] });
    const input = plain({ source: 'app-db', url: 'postgres://app@db.internal/app', tables: ['public.invoices'] });
    const [sealed] = await codec.encode([input]);
    expect(text(sealed!)).not.toMatch(/app-db|postgres:|invoices|json\/plain/);
    expect(Buffer.from(sealed!.metadata![KEY_ID_METADATA]!).toString()).toBe('k2026');
    const [back] = await codec.decode([sealed!]);
    expect(defaultPayloadConverter.fromPayload(back!)).toEqual({ source: 'app-db', url: 'postgres://app@db.internal/app', tables: ['public.invoices'] });
    // The same value twice is two different ciphertexts (a fresh IV each time).
    const [again] = await codec.encode([input]);
    expect(text(again!)).not.toBe(text(sealed!));
  });

  it('encrypts with the current key and decrypts with any configured key, so keys rotate', async () => {
    const before = codecOf({ keys: [{ id: 'k2025', file: old }] });
    const [written] = await before.encode([plain('written before the rotation')]);
    const after = codecOf({ keys: [{ id: 'k2025', file: old }, { id: 'k2026', env: 'CODEC_K2026' }], current: 'k2026' }, { CODEC_K2026: randomBytes(32).toString('hex') });
    expect(defaultPayloadConverter.fromPayload((await after.decode([written!]))[0]!)).toBe('written before the rotation');
    const [fresh] = await after.encode([plain('written after')]);
    expect(Buffer.from(fresh!.metadata![KEY_ID_METADATA]!).toString()).toBe('k2026');
  });

  it('refuses a payload whose key id it does not have, naming the key id', async () => {
    const [written] = await codecOf({ keys: [{ id: 'k2025', file: old }] }).encode([plain('x')]);
    const error = await rejected(codecOf({ keys: [{ id: 'k2026', file: current }] }).decode([written!]));
    expect(error.type).toBe('PayloadKey');
    expect(error.message).toContain('codec key "k2025"');
    expect(error.hint).toContain('add key "k2025" to temporal.codec.keys');
  });

  it('refuses a payload that does not decrypt with the key configured under its id (a wrong key, or altered bytes)', async () => {
    const [written] = await codecOf({ keys: [{ id: 'k2025', file: old }] }).encode([plain('x')]);
    const error = await rejected(codecOf({ keys: [{ id: 'k2025', file: current }] }).decode([written!]));
    expect(error.type).toBe('PayloadKey');
    expect(error.message).toContain('does not decrypt with codec key "k2025"');
  });

  it('leaves payloads that are not encrypted as they are (histories from before the codec stay readable)', async () => {
    const input = plain('from before');
    expect(await codecOf({ keys: [{ id: 'k2026', file: current }] }).decode([input])).toEqual([input]);
  });

  it('refuses a missing key file, an unset variable and a key that is not 32 bytes with a Config error naming the key', () => {
    const missing = thrown(() => codecOf({ keys: [{ id: 'gone', file: join(dir, 'nope') }] }));
    expect([missing.type, missing.message]).toEqual(['Config', expect.stringContaining('temporal.codec key "gone": cannot read key file')]);
    const unset = thrown(() => codecOf({ keys: [{ id: 'env-key', env: 'NOT_SET_CODEC_KEY' }] }));
    expect(unset.message).toContain('environment variable NOT_SET_CODEC_KEY is not set');
    const short = thrown(() => codecOf({ keys: [{ id: 'short', file: keyFile('short', randomBytes(16).toString('base64')) }] }));
    expect(short.message).toMatch(/temporal.codec key "short" .* is not an AES-256 key/);
  });

  it('carries failure messages and stack traces in a payload, which the codec encrypts', async () => {
    const converter = new DefaultFailureConverter({ encodeCommonAttributes: true });
    const failure = converter.errorToFailure(ApplicationFailure.nonRetryable('cannot read /srv/uploads/payroll', 'SourceUnreachable'), defaultPayloadConverter);
    expect(failure.message).toBe('Encoded failure');
    const [sealed] = await codecOf({ keys: [{ id: 'k2026', file: current }] }).encode([failure.encodedAttributes!]);
    expect(text(sealed!)).not.toContain('payroll');
  });
});

describe('temporal.codec in the config', () => {
  const config = (codec: string) => `
temporal: { codec: ${codec} }
primaryRegion: sto
regions: { sto: { storage: { type: local, path: /tmp/x } } }
encryption: { recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p] }
catalog: { trustedKeys: [MCowBQYDK2VwAyEAFG/YD/PCU6ibMaIW4yUreQbD7pURy+K18RbgMe289C4=] }
sources: {}
`;

  it('takes keys by file or variable, the current key by id, and the server\'s origins and token by reference', () => {
    const parsed = parseConfig(config('{ keys: [{ id: a, file: /etc/lb/a }, { id: b, env: LB_B }], current: b, server: { port: 8899, corsOrigins: ["https://ui.example.com"], tokenEnv: LB_CODEC_TOKEN } }'));
    expect(parsed.temporal.codec).toEqual({
      keys: [{ id: 'a', file: '/etc/lb/a' }, { id: 'b', env: 'LB_B' }], current: 'b',
      server: { host: '127.0.0.1', port: 8899, corsOrigins: ['https://ui.example.com'], tokenEnv: 'LB_CODEC_TOKEN' },
    });
  });

  it('refuses a key given both ways, a current id that names no key, a repeated id and a key written into the config', () => {
    expect(problems(config('{ keys: [{ id: a, file: /x, env: X }] }'))).toContain('temporal.codec.keys.0: expected exactly one of file or env');
    expect(problems(config('{ keys: [{ id: a, file: /x }], current: b }'))).toContain('temporal.codec.current: expected the id of one of the keys (a)');
    expect(problems(config('{ keys: [{ id: a, file: /x }, { id: a, env: X }] }'))).toContain('temporal.codec.keys.1.id: expected a key id not used by another key');
    expect(problems(config('{ keys: [{ id: a, key: c2VjcmV0 }] }'))).toContain('unknown key "key"');
    expect(problems(config('{ keys: [{ id: a, file: /x }], server: { tokenEnv: T, tokenFile: /t } }'))).toContain('either tokenEnv or tokenFile, not both');
  });
});

describe('the codec server', () => {
  const codec = codecOf({ keys: [{ id: 'k2026', file: current() }] });
  function current() {
    return keyFile('server-key');
  }
  const origin = 'http://127.0.0.1:8233';
  const post = (url: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const json = (payload: Payload) => ({ metadata: Object.fromEntries(Object.entries(payload.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), data: Buffer.from(payload.data!).toString('base64') });

  it('decodes and encodes for a caller with the bearer token, and refuses one without it', async () => {
    const server = await startCodecServer({ codec, host: '127.0.0.1', port: 0, corsOrigins: [origin], token: 'tok-123' });
    try {
      const [sealed] = await codec.encode([plain({ source: 'app-db' })]);
      expect((await post(server.url, '/decode', { payloads: [json(sealed!)] })).status).toBe(401);
      expect((await post(server.url, '/decode', { payloads: [json(sealed!)] }, { authorization: 'Bearer tok-12' })).status).toBe(401);
      const decoded = await post(server.url, '/decode', { payloads: [json(sealed!)] }, { authorization: 'Bearer tok-123' });
      expect(decoded.status).toBe(200);
      const [payload] = ((await decoded.json()) as { payloads: Array<{ data: string }> }).payloads;
      expect(JSON.parse(Buffer.from(payload!.data, 'base64').toString())).toEqual({ source: 'app-db' });
      const encoded = await post(server.url, '/encode', { payloads: [json(plain('x'))] }, { authorization: 'Bearer tok-123' });
      const [again] = ((await encoded.json()) as { payloads: Array<{ metadata: Record<string, string> }> }).payloads;
      expect(Buffer.from(again!.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
    } finally {
      await server.close();
    }
  });

  it('answers the UI\'s origin (preflight and request) and refuses any other origin', async () => {
    const server = await startCodecServer({ codec, host: '127.0.0.1', port: 0, corsOrigins: [origin] });
    try {
      const preflight = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' } });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
      expect(preflight.headers.get('access-control-allow-headers')).toContain('x-namespace');
      const allowed = await post(server.url, '/decode', { payloads: [] }, { origin, 'x-namespace': 'default' });
      expect([allowed.status, allowed.headers.get('access-control-allow-origin')]).toEqual([200, origin]);
      const other = await post(server.url, '/decode', { payloads: [] }, { origin: 'https://evil.example.com' });
      expect([other.status, other.headers.get('access-control-allow-origin')]).toEqual([403, null]);
    } finally {
      await server.close();
    }
  });

  it('answers a payload of an unknown key with a 400 naming the key id', async () => {
    const server = await startCodecServer({ codec, host: '127.0.0.1', port: 0, corsOrigins: [] });
    try {
      const [foreign] = await codecOf({ keys: [{ id: 'k1999', file: keyFile('k1999') }] }).encode([plain('x')]);
      const response = await post(server.url, '/decode', { payloads: [json(foreign!)] });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toContain('codec key "k1999"');
      expect((await post(server.url, '/decode', 'not payloads')).status).toBe(400);
    } finally {
      await server.close();
    }
  });
});

describe('the CLI with temporal.codec', () => {
  const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));
  const configWith = (codec: string) => {
    const file = join(dir, `cli-${randomBytes(4).toString('hex')}.yaml`);
    writeFileSync(file, `
temporal: { address: 127.0.0.1:1${codec} }
primaryRegion: sto
regions: { sto: { storage: { type: local, path: ${dir} } } }
encryption: { recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p] }
catalog: { trustedKeys: [MCowBQYDK2VwAyEAFG/YD/PCU6ibMaIW4yUreQbD7pURy+K18RbgMe289C4=] }
sources: { files: { kind: files, region: sto, path: ${dir} } }
`);
    return file;
  };

  it('refuses to start with a missing key file, naming the key (not as an unreachable Temporal)', async () => {
    const result = await execa(lifeboat, ['--config', configWith(`, codec: { keys: [{ id: k1, file: ${join(dir, 'absent-key')} }] }`), 'backup', 'files'], { reject: false });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('temporal.codec key "k1": cannot read key file');
  });

  it('refuses to run a codec server without temporal.codec', async () => {
    const result = await execa(lifeboat, ['--config', configWith(''), 'codec-server'], { reject: false });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('temporal.codec is not set');
  });
});
