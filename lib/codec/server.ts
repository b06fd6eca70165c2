import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { PayloadCodec } from '@temporalio/common';
import { LifeboatError } from '../errors';
import { payloadsFromJson, payloadsToJson } from './payload-json';

// The codec server of the Temporal UI and CLI: POST /encode and /decode, nothing stored, nothing
// logged but the refusals. A browser reaches it only from the configured UI origins (CORS); with a
// token, every request must carry it as "Authorization: Bearer <token>".

export interface CodecServerOptions {
  codec: PayloadCodec;
  host: string;
  port: number;
  corsOrigins: string[];
  token?: string;
  log?: (line: string) => void;
}

export interface RunningCodecServer {
  url: string;
  close(): Promise<void>;
}

/** A history page of the UI is one request: generous, but bounded. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

export async function startCodecServer(options: CodecServerOptions): Promise<RunningCodecServer> {
  const server = createServer((request, response) => {
    handle(options, request, response).catch((error: unknown) => reply(response, 500, { error: String(error) }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new LifeboatError('Config',
      `codec server: cannot listen on ${options.host}:${options.port}: ${error.code ?? error.message}`, 'choose another temporal.codec.server.port (or --port), or stop what holds it')));
    server.listen(options.port, options.host, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return { url: `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`, close: () => closeServer(server) };
}

async function handle(options: CodecServerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const origin = request.headers.origin;
  if (origin !== undefined) {
    if (!options.corsOrigins.includes(origin)) {
      options.log?.(`codec server: refused a request from origin ${origin} (not in temporal.codec.server.corsOrigins)`);
      return reply(response, 403, { error: `origin ${origin} is not allowed` });
    }
    response.setHeader('Access-Control-Allow-Origin', origin);
    response.setHeader('Access-Control-Allow-Credentials', 'true');
    response.setHeader('Vary', 'Origin');
  }
  if (request.method === 'OPTIONS') {
    // A preflight carries no credentials: it is answered for allowed origins only.
    response.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    response.setHeader('Access-Control-Allow-Headers', 'content-type, x-namespace, authorization');
    response.setHeader('Access-Control-Max-Age', '600');
    response.writeHead(204).end();
    return;
  }
  const path = (request.url ?? '').split('?')[0]!.replace(/\/+$/, '');
  const operation = path.endsWith('/encode') ? 'encode' : path.endsWith('/decode') ? 'decode' : undefined;
  if (request.method !== 'POST' || operation === undefined) return reply(response, 404, { error: 'POST /encode or /decode' });
  if (options.token !== undefined && !authorized(request.headers.authorization, options.token)) {
    options.log?.(`codec server: refused a ${operation} request without the bearer token`);
    return reply(response, 401, { error: 'a bearer token is required: Authorization: Bearer <token>' });
  }
  let body: unknown;
  try {
    body = JSON.parse(await readBody(request));
  } catch (error) {
    return reply(response, error instanceof BodyTooLarge ? 413 : 400, { error: error instanceof BodyTooLarge ? 'body too large' : 'not JSON' });
  }
  let payloads;
  try {
    payloads = payloadsFromJson(body);
  } catch (error) {
    return reply(response, 400, { error: (error as Error).message });
  }
  try {
    const done = operation === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
    reply(response, 200, payloadsToJson(done));
  } catch (error) {
    // An unknown key id or a payload that does not decrypt: the message names the key id, never the payload.
    const message = error instanceof LifeboatError ? error.message : String(error);
    options.log?.(`codec server: ${operation} failed: ${message}`);
    reply(response, 400, { error: message });
  }
}

function authorized(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.replace(/^Bearer\s+/i, '') ?? '');
  const wanted = Buffer.from(token);
  return header !== undefined && /^Bearer\s+/i.test(header) && given.length === wanted.length && timingSafeEqual(given, wanted);
}

class BodyTooLarge extends Error {}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) return;
  response.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
