import { z } from 'zod';

// temporal.codec: AES-256-GCM payload encryption. Keys by reference only (a file or an
// environment variable); several for rotation, `current` encrypting, all decrypting.

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'the name of an environment variable')
  .meta({ 'x-type': 'environment variable name' });
const keyId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a key id of letters, digits, dots, dashes and underscores')
  .meta({ 'x-type': 'key id (letters, digits, . _ -)' });

const codecKey = z.strictObject({
  id: keyId.describe('The key\'s id, stored with every payload it encrypts; unique among the keys.'),
  file: z.string().min(1).optional().describe('A file holding the key: 32 random bytes in base64 or hex (openssl rand -base64 32). Exactly one of file or env.'),
  env: envName.optional().describe('The environment variable holding the key, 32 bytes in base64 or hex. Exactly one of file or env.'),
})
  .refine((key) => (key.file === undefined) !== (key.env === undefined), 'exactly one of file or env (the key itself never goes in the config)');

const codecServer = z.strictObject({
  host: z.string().default('127.0.0.1').describe('The address `lifeboat codec-server` listens on.'),
  port: z.int().min(1).max(65535).default(8888).describe('The port `lifeboat codec-server` listens on.'),
  corsOrigins: z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'an origin such as https://temporal.example.com (scheme, host, port; no path)')
    .meta({ 'x-type': 'origin (e.g. https://temporal.example.com)' })).default([])
    .describe('Origins of the Temporal UI that may call the server from a browser (CORS), e.g. https://temporal.example.com. Empty: no browser may.'),
  tokenEnv: envName.optional().describe('The environment variable holding a bearer token every request must carry (the CLI sends it with --codec-auth "Bearer …"). Without it (and tokenFile), requests need no token.'),
  tokenFile: z.string().min(1).optional().describe('A file holding that bearer token (instead of tokenEnv).'),
}).refine((server) => !(server.tokenEnv && server.tokenFile), 'either tokenEnv or tokenFile, not both');

export const codecConfig = z.strictObject({
  keys: z.array(codecKey.describe('One key, by reference.')).min(1)
    .describe('The payload keys, at least one; older keys stay so that older histories still decrypt.'),
  current: keyId.optional().describe('The id of the key new payloads are encrypted with; default: the first key.'),
  server: codecServer.prefault({}).describe('`lifeboat codec-server`: /encode and /decode for the Temporal UI and CLI.'),
}).superRefine((codec, ctx) => {
  const ids = codec.keys.map((key) => key.id);
  ids.forEach((id, index) => {
    if (ids.indexOf(id) !== index) ctx.addIssue({ code: 'custom', path: ['keys', index, 'id'], input: id, message: 'a key id not used by another key' });
  });
  if (codec.current !== undefined && !ids.includes(codec.current)) {
    ctx.addIssue({ code: 'custom', path: ['current'], input: codec.current, message: `the id of one of the keys (${ids.join(', ')})` });
  }
});
