import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { LifeboatError } from '../../../lib/errors';

/** The libpq TLS parameters a postgres:// URL may carry; pg_dump and pg_basebackup read them from the URL themselves. */
const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
type SslMode = typeof SSL_MODES[number];

export interface TlsPlan {
  /** What node-postgres is given: false for plain text. */
  ssl: false | ConnectionOptions;
  /** allow/prefer: libpq falls back to plain text when the server has no TLS; so do we, only then. */
  plainIfRefused: boolean;
}

/**
 * The node-postgres twin of what libpq does with `sslmode`, `sslrootcert`, `sslcert`, `sslkey` and
 * `sslcrl` in the URL, so Lifeboat's own connections (the snapshot holder, row counts, checks) are
 * exactly as protected as the tools' (libpq's default, prefer, stays plain text as before).
 */
export function tlsPlan(url: string): TlsPlan {
  const query = new URL(url).searchParams;
  const raw = query.get('sslmode') ?? 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(raw)) {
    throw new LifeboatError('Config', `sslmode=${raw} in a postgres URL is not a libpq sslmode`, `use one of ${SSL_MODES.join(', ')}`);
  }
  const rootcert = query.get('sslrootcert') ?? undefined;
  // libpq: "require" with a root certificate given verifies the chain, as verify-ca does.
  const mode: SslMode = raw === 'require' && rootcert ? 'verify-ca' : raw as SslMode;
  if (mode === 'disable') return { ssl: false, plainIfRefused: false };
  const file = (name: string, path: string | undefined) => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (error) {
      throw new LifeboatError('Config', `${name}=${path} in a postgres URL cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        `make ${path} readable by the worker, or fix ${name}`);
    }
  };
  const ssl: ConnectionOptions = {
    // "system" (libpq 16): the operating system's trusted roots, which is what Node uses without `ca`.
    ca: rootcert === 'system' ? undefined : file('sslrootcert', rootcert),
    cert: file('sslcert', query.get('sslcert') ?? undefined),
    key: file('sslkey', query.get('sslkey') ?? undefined),
    crl: file('sslcrl', query.get('sslcrl') ?? undefined),
    rejectUnauthorized: mode === 'verify-ca' || mode === 'verify-full',
  };
  // verify-ca checks the chain only; Node checks the host name too unless told not to.
  if (mode === 'verify-ca') ssl.checkServerIdentity = () => undefined;
  if (mode === 'allow' || mode === 'prefer') {
    // Opportunistic: what libpq does by default. Only asked for explicitly do we try TLS first.
    return query.has('sslmode') ? { ssl, plainIfRefused: true } : { ssl: false, plainIfRefused: false };
  }
  return { ssl, plainIfRefused: false };
}

/** TLS failures no retry fixes: the server, its certificate or the URL's TLS settings must change. */
export function tlsError(message: string): boolean {
  return /does not support SSL|SSL was required|certificate|self[- ]signed|unable to (get|verify)|Hostname\/IP does not match|ERR_TLS|SSL error|no pg_hba\.conf entry for .*(no encryption|SSL)|sslmode|root cert/i.test(message);
}
