import { AesGcmCodec } from '../../lib/codec/aes-gcm';
import { loadCodecKeys } from '../../lib/codec/keys';
import { startCodecServer } from '../../lib/codec/server';
import type { Config } from '../../lib/config/schema';
import { readSecretRef } from '../../lib/config/secrets';
import { LifeboatError } from '../../lib/errors';
import type { Output } from '../output';

/** `lifeboat codec-server`: decodes for the Temporal UI and CLI until stopped (SIGINT, SIGTERM). */
export async function codecServerCommand(config: Config, overrides: { host?: string; port?: number }, out: Output): Promise<void> {
  const codec = config.temporal.codec;
  if (!codec) {
    throw new LifeboatError('Config', 'temporal.codec is not set: there is nothing to decode with', 'add temporal.codec with the keys (see "Encrypted payloads" in docs/security.md)');
  }
  const settings = codec.server;
  const token = readSecretRef(settings.tokenEnv, settings.tokenFile, 'temporal.codec.server token');
  const server = await startCodecServer({
    codec: new AesGcmCodec(loadCodecKeys(codec)),
    host: overrides.host ?? settings.host,
    port: overrides.port ?? settings.port,
    corsOrigins: settings.corsOrigins,
    token,
    log: (line) => out.note(line),
  });
  out.note(`lifeboat codec server at ${server.url} (CORS: ${settings.corsOrigins.join(', ') || 'no browser origin'}; ` +
    `${token ? 'bearer token required' : 'NO token: anyone who reaches this address can decrypt payloads'}); Ctrl-C stops it`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
}
