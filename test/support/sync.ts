import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../lib/config/load';
import type { Alert } from '../../lib/alerts';
import type { StorageBackend } from '../../activities/storage/backend';
import type { Fixture } from './fixture';

/** The fixture's config with more top-level keys merged in (regions are added to, not replaced), written to its file too. */
export function extendFixture(fixture: Fixture, more: { regions?: Record<string, unknown>; [key: string]: unknown }): Fixture {
  const document = parse(readFileSync(fixture.configFile, 'utf8')) as { regions: Record<string, unknown> };
  const { regions, ...rest } = more;
  Object.assign(document, rest, { regions: { ...document.regions, ...regions } });
  const text = stringify(document);
  writeFileSync(fixture.configFile, text);
  return { ...fixture, config: parseConfig(text, fixture.configFile) };
}

/** A JSON webhook receiver on loopback that keeps every alert it was sent. */
export interface AlertSink {
  url: string;
  received: Alert[];
  close(): Promise<void>;
}

export async function startAlertSink(): Promise<AlertSink> {
  const received: Alert[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => { body += chunk.toString(); });
    request.on('end', () => {
      received.push(JSON.parse(body) as Alert);
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export async function keysIn(storage: StorageBackend, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of storage.list(prefix)) keys.push(object.key);
  return keys.sort();
}

export async function incompleteIn(storage: StorageBackend, prefix: string): Promise<string[]> {
  const uploads: string[] = [];
  for await (const upload of storage.listIncomplete(prefix)) uploads.push(upload.key);
  return uploads;
}

/**
 * An HTTP proxy in front of an S3 endpoint that makes part uploads slow (so a copy lasts long
 * enough to be interrupted) and answers the first `slowDowns` of them with 503 SlowDown, as a
 * throttling S3 would. Headers pass unchanged, so the client's signatures stay valid.
 */
export interface S3Proxy {
  endpoint: string;
  /** 503 SlowDown answers given so far. */
  throttled(): number;
  /** Part uploads passed on to the server. */
  parts(): number;
  close(): Promise<void>;
}

export async function startS3Proxy(target: string, options: { partDelayMs: number; slowDowns: number }): Promise<S3Proxy> {
  const upstream = new URL(target);
  let throttled = 0;
  let parts = 0;
  const server = createServer((request, response) => {
    const isPart = request.method === 'PUT' && /[?&]partNumber=/.test(request.url ?? '');
    if (isPart && throttled < options.slowDowns) {
      throttled += 1;
      request.resume();
      response.writeHead(503, { 'content-type': 'application/xml' })
        .end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    if (isPart) parts += 1;
    setTimeout(() => {
      const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      });
      forward.on('error', () => response.destroy());
      request.pipe(forward);
    }, isPart ? options.partDelayMs : 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    throttled: () => throttled,
    parts: () => parts,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
