import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema';
import { LifeboatError } from '../errors';

// Codec keys are given by reference (a file or an environment variable), like every secret: the
// config names where a key is, never the key. A key is 32 random bytes, written in base64
// (`openssl rand -base64 32`) or hex.

export type CodecConfig = NonNullable<Config['temporal']['codec']>;

export interface CodecKeys {
  /** The key every new payload is encrypted with. */
  current: string;
  /** Every configured key by id: old ones decrypt what they encrypted before a rotation. */
  keys: Map<string, Buffer>;
}

export function loadCodecKeys(codec: CodecConfig, env: NodeJS.ProcessEnv = process.env): CodecKeys {
  const keys = new Map<string, Buffer>();
  for (const ref of codec.keys) keys.set(ref.id, readKey(ref, env));
  return { current: codec.current ?? codec.keys[0]!.id, keys };
}

function readKey(ref: CodecConfig['keys'][number], env: NodeJS.ProcessEnv): Buffer {
  const what = `temporal.codec key "${ref.id}"`;
  let text: string;
  if (ref.env) {
    const value = env[ref.env];
    if (value === undefined || value === '') {
      throw new LifeboatError('Config', `${what}: environment variable ${ref.env} is not set in this process's environment`,
        `export ${ref.env} (32 random bytes in base64: openssl rand -base64 32)`);
    }
    text = value;
  } else {
    try {
      text = readFileSync(ref.file!, 'utf8');
    } catch (error) {
      throw new LifeboatError('Config', `${what}: cannot read key file ${ref.file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        'check the path and that this user may read it; make one with: openssl rand -base64 32 > FILE && chmod 600 FILE');
    }
  }
  const key = parseKey(text.trim());
  if (!key) {
    throw new LifeboatError('Config', `${what} (${ref.env ? `$${ref.env}` : ref.file}) is not an AES-256 key: expected 32 bytes in base64 (44 characters) or hex (64 characters)`,
      'make one with: openssl rand -base64 32');
  }
  return key;
}

function parseKey(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return Buffer.from(text, 'base64');
  return undefined;
}
