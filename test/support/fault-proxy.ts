import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the proxy does to one request instead of (or while) passing it on:
 * - `error`: an S3 error answer (500 InternalError, 503 ServiceUnavailable or 503 SlowDown);
 * - `reset`: the connection is cut half-way through the body (the upload's for a PUT, else the answer's);
 * - `stall`: the answer's headers and first bytes are sent, then nothing for `ms`, then the connection is cut.
 */
export type S3Fault =
  | { kind: 'error'; status: 500 | 503; code: 'InternalError' | 'ServiceUnavailable' | 'SlowDown' }
  | { kind: 'reset' }
  | { kind: 'stall'; ms: number };

export interface S3Request {
  method: string;
  /** Path and query as sent, e.g. `/bucket/prefix/key?partNumber=2&uploadId=…`. */
  url: string;
  /** 1 for the first request the proxy saw, and so on. */
  n: number;
}

/** Called for every request; a fault to inject, or undefined to pass it on untouched. */
export type FaultScript = (request: S3Request) => S3Fault | undefined;

export interface FaultProxy {
  endpoint: string;
  /** Replaces the script (undefined: pass everything). */
  script(script: FaultScript | undefined): void;
  /** The region is gone for `ms`: open connections are cut and new ones reset until then. */
  down(ms: number): void;
  /** Faults injected so far, by kind (`error 503 SlowDown`, `reset`, `stall`, `down`). */
  injected(): Record<string, number>;
  requests(): number;
  close(): Promise<void>;
}

const errorBody = (code: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the fault proxy</Message></Error>`;

/**
 * A loopback HTTP proxy in front of an S3 endpoint (SeaweedFS in the tests). Headers pass
 * unchanged, so the client's signatures stay valid; the script decides per request what goes wrong.
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  let current: FaultScript | undefined;
  let downUntil = 0;
  let seen = 0;
  const injected: Record<string, number> = {};
  const count = (what: string) => { injected[what] = (injected[what] ?? 0) + 1; };
  const sockets = new Set<Socket>();

  const forward = (request: IncomingMessage, response: ServerResponse, onAnswer: (answer: IncomingMessage) => void) => {
    const out = httpRequest({ host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers }, onAnswer);
    out.on('error', () => response.destroy());
    request.pipe(out);
  };

  const server = createServer((request, response) => {
    seen += 1;
    const fault = current?.({ method: request.method ?? 'GET', url: request.url ?? '/', n: seen });
    if (!fault) {
      forward(request, response, (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      });
      return;
    }
    if (fault.kind === 'error') {
      count(`error ${fault.status} ${fault.code}`);
      request.resume();
      response.writeHead(fault.status, { 'content-type': 'application/xml' }).end(errorBody(fault.code));
      return;
    }
    count(fault.kind);
    const length = Number(request.headers['content-length'] ?? 0);
    if (fault.kind === 'reset' && length > 0) {
      // Half the upload arrives, then the connection dies: the server never sees a whole part.
      let received = 0;
      request.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= length / 2) request.socket.destroy();
      });
      return;
    }
    forward(request, response, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      response.flushHeaders();
      const total = Number(answer.headers['content-length'] ?? 0);
      const half = Math.floor(total / 2);
      let sent = 0;
      let cut = false;
      const cutNow = () => {
        if (cut) return;
        cut = true;
        answer.destroy();
        const kill = () => response.socket?.destroy();
        if (fault.kind === 'stall') setTimeout(kill, fault.ms);
        else kill();
      };
      answer.on('data', (chunk: Buffer) => {
        if (cut) return;
        const part = total > 0 ? chunk.subarray(0, Math.max(0, half - sent)) : chunk;
        response.write(part);
        sent += part.length;
        if (total === 0 || sent >= half) cutNow();
      });
      // An answer without a body: cut it after its headers.
      answer.on('end', cutNow);
    });
  });
  server.on('connection', (socket: Socket) => {
    if (Date.now() < downUntil) {
      count('down');
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    script: (script) => { current = script; },
    down: (ms) => {
      downUntil = Date.now() + ms;
      for (const socket of sockets) socket.destroy();
    },
    injected: () => ({ ...injected }),
    requests: () => seen,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}
