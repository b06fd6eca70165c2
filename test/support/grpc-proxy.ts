import { readFileSync } from 'node:fs';
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface GrpcProxy {
  address: string;
  /** The authorization header of every request, in order ('' when absent). */
  authorizations: string[];
  /** Requests whose TLS client presented a certificate the CA signed. */
  authenticatedRequests(): number;
  close(): Promise<void>;
}

export interface ProxyTls {
  certFile: string;
  keyFile: string;
  /** When set, a client certificate signed by this CA is required (mTLS). */
  clientCaFile?: string;
}

/**
 * `temporal server start-dev` cannot serve TLS (its StartOptions have no TLS field), so a test that
 * needs a secured frontend puts this HTTP/2 proxy in front of it: it terminates TLS (and checks the
 * client certificate), records the authorization header, and forwards each gRPC call unchanged.
 */
export async function startGrpcProxy(upstreamAddress: string, tls?: ProxyTls): Promise<GrpcProxy> {
  const upstream = http2.connect(`http://${upstreamAddress}`);
  upstream.on('error', () => undefined);
  const authorizations: string[] = [];
  let authenticated = 0;
  const server = tls
    ? http2.createSecureServer({
      cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile),
      ...(tls.clientCaFile ? { ca: readFileSync(tls.clientCaFile), requestCert: true, rejectUnauthorized: true } : {}),
    })
    : http2.createServer();
  server.on('stream', (stream, headers) => {
    authorizations.push(String(headers.authorization ?? ''));
    const socket = stream.session?.socket as { authorized?: boolean } | undefined;
    if (socket?.authorized) authenticated += 1;
    const request = upstream.request(forwardable(headers));
    stream.pipe(request);
    request.on('response', (response, flags) => {
      // A gRPC "trailers-only" answer (an error status with no body) ends the stream with its headers.
      const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      if (!stream.destroyed) stream.respond(forwardable(response), endStream ? { endStream: true } : { waitForTrailers: true });
    });
    let trailers: OutgoingHttpHeaders = {};
    request.on('trailers', (received) => { trailers = forwardable(received); });
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    request.pipe(stream);
    request.on('error', () => stream.destroyed || stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    stream.on('error', () => request.destroyed || request.close(http2.constants.NGHTTP2_CANCEL));
    stream.on('close', () => request.destroyed || request.close(http2.constants.NGHTTP2_CANCEL));
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    authorizations,
    authenticatedRequests: () => authenticated,
    async close() {
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      upstream.close();
    },
  };
}

/** Everything but the pseudo-headers HTTP/2 sets per hop (method and path travel on). */
function forwardable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name === ':authority' || name === ':scheme') continue;
    if (value !== undefined) out[name] = value;
  }
  return out;
}
