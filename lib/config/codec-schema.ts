import { z } from 'zod';

// temporal.codec: AES-256-GCM payload encryption. Keys by reference only (a file or an
// environment variable); several for rotation, `current` encrypting, all decrypting.

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the name of an environment variable');
const keyId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a key id of letters, digits, dots, dashes and underscores');

const codecKey = z.strictObject({ id: keyId, file: z.string().min(1).optional(), env: envName.optional() })
  .refine((key) => (key.file === undefined) !== (key.env === undefined), 'exactly one of file or env (the key itself never goes in the config)');

/** `lifeboat codec-server`: /encode and /decode for the Temporal UI and CLI. */
const codecServer = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.int().min(1).max(65535).default(8888),
  /** Origins of the Temporal UI that may call the server from a browser (CORS), e.g. https://temporal.example.com. */
  corsOrigins: z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin such as https://temporal.example.com (scheme, host, port; no path)')).default([]),
  /** A bearer token every request must carry (the CLI sends it with --codec-auth "Bearer …"). */
  tokenEnv: envName.optional(),
  tokenFile: z.string().min(1).optional(),
}).refine((server) => !(server.tokenEnv && server.tokenFile), 'either tokenEnv or tokenFile, not both');

export const codecConfig = z.strictObject({
  keys: z.array(codecKey).min(1),
  /** The id of the key new payloads are encrypted with; default the first. */
  current: keyId.optional(),
  server: codecServer.prefault({}),
}).superRefine((codec, ctx) => {
  const ids = codec.keys.map((key) => key.id);
  ids.forEach((id, index) => {
    if (ids.indexOf(id) !== index) ctx.addIssue({ code: 'custom', path: ['keys', index, 'id'], input: id, message: 'a key id not used by another key' });
  });
  if (codec.current !== undefined && !ids.includes(codec.current)) {
    ctx.addIssue({ code: 'custom', path: ['current'], input: codec.current, message: `the id of one of the keys (${ids.join(', ')})` });
  }
});
