import pg from 'pg';
import { LifeboatError } from '../../../lib/errors';
import { redactUrl as redact } from '../../../lib/redact';
import { tlsError, tlsPlan, type TlsPlan } from './tls';

export interface PgTarget {
  /** postgres://user@host:port/db, never with a password. */
  url: string;
  password?: string;
}

/** The URL safe for messages: lib/redact.ts's one redaction, under the name this module's callers use. */
export { redactUrl as redact } from '../../../lib/redact';

export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!name) throw new LifeboatError('Config', `${redact(url)} names no database`, 'add /DBNAME to the URL');
  return name;
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/**
 * A pg client that survives its server going away. node-postgres emits 'error' on an idle client
 * whose connection the server ends (a restart, a failover, an idle-killing firewall), and an
 * 'error' nobody listens to ends the whole worker process, with every activity it runs. Listening
 * keeps the worker alive; the client's next query fails with the error, and the activity's own
 * handling names it.
 */
export function pgClient(config: pg.ClientConfig): pg.Client {
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  return client;
}

/** `replication: true` opens a physical replication (walsender) connection, as pg_basebackup does: pg_hba's "replication" lines apply. */
export async function connect(target: PgTarget, what: string, options: { replication?: true } = {}): Promise<pg.Client> {
  const tls = tlsPlan(target.url);
  try {
    return await connectWith(target, tls.ssl, options.replication);
  } catch (error) {
    if (tls.plainIfRefused && /does not support SSL/i.test((error as Error).message)) {
      return connectWith(target, false, options.replication).catch((plain: unknown) => { throw classifyConnectError(plain, target.url, what); });
    }
    throw classifyConnectError(error, target.url, what);
  }
}

async function connectWith(target: PgTarget, ssl: TlsPlan['ssl'], replication?: true): Promise<pg.Client> {
  // Discrete fields: with connectionString, pg lets the URL's (absent) password override ours.
  const url = new URL(target.url);
  const host = decodeURIComponent(url.hostname) || undefined;
  const client = pgClient({
    host,
    port: url.port ? Number(url.port) : undefined,
    user: decodeURIComponent(url.username) || undefined,
    database: databaseName(target.url),
    password: target.password,
    connectionTimeoutMillis: 10_000,
    application_name: 'lifeboat',
    // A physical snapshot's session holds its WAL slot for the whole backup: an idle-killing firewall must not end it.
    keepAlive: true,
    // The name verify-full checks the certificate against (an IP literal is checked against the IP SANs).
    ssl: ssl === false ? false : { ...ssl, servername: host && !/^[\d.]+$|:/.test(host) ? host : undefined },
    // Not in @types/pg's ClientConfig; node-postgres sends it in the startup message.
    ...(replication ? { replication: 'true' } : {}),
  } as pg.ClientConfig);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

export function classifyConnectError(error: unknown, url: string, what: string): LifeboatError {
  const code = (error as { code?: string }).code;
  const message = (error as Error).message;
  const where = `${what} (${redact(url)})`;
  if (code === '28P01' || code === '28000') {
    return new LifeboatError('Config', `${where}: authentication failed: ${message}`, 'check the user and the password named by passwordEnv/passwordFile');
  }
  if (code === '3D000') return new LifeboatError('Config', `${where}: ${message}`, 'check the database name in the URL');
  // node-postgres's words when the server asks for a password and the connection has none: no retry brings one.
  if (/client password must be a string|password authentication .*no password supplied/i.test(message)) {
    return new LifeboatError('Config', `${where}: the server asks for a password and none was given`,
      what.startsWith('restore target') ? 'pass --to-password-env NAME (a variable the worker has, named in the config: a source\'s passwordEnv or restore.targetPasswordEnvs)' : 'set passwordEnv or passwordFile for this source');
  }
  if (tlsError(message)) {
    return new LifeboatError('Config', `${where}: TLS: ${message}`, 'check sslmode/sslrootcert in the URL against the server\'s ssl settings and certificate (docs/security.md, "PostgreSQL over TLS")');
  }
  return new LifeboatError('SourceUnreachable', `${where}: cannot connect: ${message}`, 'check that the server is running and reachable from this worker');
}

/** pg_dump / pg_restore / psql report connection problems on stderr; map them like the driver's. */
export function classifyToolStderr(url: string, what: string) {
  return (stderr: string): LifeboatError | undefined => {
    if (tlsError(stderr)) {
      return new LifeboatError('Config', `${what} (${redact(url)}): TLS: ${stderr.trim().split('\n')[0]}`, 'check sslmode/sslrootcert in the URL against the server\'s ssl settings and certificate (docs/security.md, "PostgreSQL over TLS")');
    }
    if (/password authentication failed|no password supplied|authentication failed/i.test(stderr)) {
      return new LifeboatError('Config', `${what} (${redact(url)}): authentication failed`, 'check the user and the password named by passwordEnv/passwordFile');
    }
    // pg_dump locks every table it dumps; retrying cannot make the server's lock table larger.
    if (/out of shared memory/i.test(stderr) && /max_locks_per_transaction/.test(stderr)) {
      return new LifeboatError('Config', `${what} (${redact(url)}): the server ran out of lock table space: ${stderr.trim().split('\n')[0]}`,
        'pg_dump takes a lock on every table: raise max_locks_per_transaction on the server so that max_locks_per_transaction × max_connections exceeds the number of tables (docs/limits.md)');
    }
    if (/could not connect|Connection refused|could not translate host name|timeout expired|server closed the connection/i.test(stderr)) {
      return new LifeboatError('SourceUnreachable', `${what} (${redact(url)}): cannot connect: ${stderr.split('\n')[0]}`, 'check that the server is running and reachable from this worker');
    }
    return undefined;
  };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
