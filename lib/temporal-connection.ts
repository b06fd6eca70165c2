import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import type { Config } from './config/schema';
import { LifeboatError } from './errors';
import { readSecretRef } from './config/secrets';

/** What both Connection.connect (client) and NativeConnection.connect (worker) take to reach Temporal. */
export interface TemporalConnectionOptions {
  address: string;
  /** false: plain text, even with an API key (a loopback proxy that adds TLS itself). */
  tls: TLSConfig | false;
  apiKey?: string;
}

/**
 * Temporal's own environment variables, as the `temporal` CLI reads them, override the config
 * file (as TEMPORAL_ADDRESS always has). TOML profiles (TEMPORAL_CONFIG_FILE) need
 * @temporalio/envconfig, which Lifeboat does not ship: use these variables or the config.
 */
const envPaths = {
  serverCa: ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_DATA'],
  clientCert: ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_CERT_DATA'],
  clientKey: ['TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_CLIENT_KEY_DATA'],
} as const;

/**
 * Resolved at connect time, in the process that connects: the key and the certificates are read
 * here and live only in the connection, never in the config object, a workflow input or a log line.
 */
export function temporalConnectionOptions(temporal: Config['temporal'], env: NodeJS.ProcessEnv = process.env): TemporalConnectionOptions {
  const apiKey = env.TEMPORAL_API_KEY?.trim() || readSecretRef(temporal.apiKeyEnv, temporal.apiKeyFile, 'temporal API key', env);
  if (apiKey !== undefined && apiKey === '') throw new LifeboatError('Config', 'temporal.apiKeyFile is empty', 'put the API key in the file');
  if (env.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION && /^(1|true)$/i.test(env.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION)) {
    throw new LifeboatError('Config', 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported: the Temporal SDK always verifies the server',
      'unset it; set TEMPORAL_TLS_SERVER_NAME (or temporal.tls.serverName) to the name in the server\'s certificate');
  }
  const fromFile = typeof temporal.tls === 'object' ? temporal.tls : {};
  const serverCa = pem(envPaths.serverCa, fromFile.serverCaFile, 'temporal.tls.serverCaFile', env);
  const clientCert = pem(envPaths.clientCert, fromFile.clientCertFile, 'temporal.tls.clientCertFile', env);
  const clientKey = pem(envPaths.clientKey, fromFile.clientKeyFile, 'temporal.tls.clientKeyFile', env);
  if (!clientCert !== !clientKey) {
    throw new LifeboatError('Config', 'a Temporal client certificate needs its key, and a key its certificate', 'set both temporal.tls.clientCertFile and clientKeyFile (or both TEMPORAL_TLS_CLIENT_* variables)');
  }
  const serverName = env.TEMPORAL_TLS_SERVER_NAME || fromFile.serverName;
  const envTls = env.TEMPORAL_TLS === undefined || env.TEMPORAL_TLS === '' ? undefined : /^(1|true)$/i.test(env.TEMPORAL_TLS);
  const anyTlsSetting = serverCa !== undefined || clientCert !== undefined || serverName !== undefined;
  // Like the CLI: TLS is on once any TLS setting or an API key is given, unless turned off outright.
  const wanted = envTls ?? (temporal.tls === false ? false : temporal.tls !== undefined || anyTlsSetting || apiKey !== undefined);
  if (!wanted) return { address: temporal.address, tls: false, ...(apiKey ? { apiKey } : {}) };
  const tls: TLSConfig = {
    ...(serverCa ? { serverRootCACertificate: serverCa } : {}),
    ...(clientCert && clientKey ? { clientCertPair: { crt: clientCert, key: clientKey } } : {}),
    ...(serverName ? { serverNameOverride: serverName } : {}),
  };
  return { address: temporal.address, tls, ...(apiKey ? { apiKey } : {}) };
}

/** Where the connection goes and how, for messages: never the key. */
export function describeConnection(options: TemporalConnectionOptions): string {
  const how = [options.tls === false ? 'plain text' : options.tls.clientCertPair ? 'mTLS' : 'TLS', ...(options.apiKey ? ['API key'] : [])];
  return `${options.address} (${how.join(', ')})`;
}

function pem([pathVar, dataVar]: readonly [string, string], configFile: string | undefined, key: string, env: NodeJS.ProcessEnv): Buffer | undefined {
  const data = env[dataVar];
  if (data) return Buffer.from(data);
  const file = env[pathVar] || configFile;
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (error) {
    const from = env[pathVar] ? pathVar : key;
    throw new LifeboatError('Config', `${from}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, 'check the path and that this user may read it');
  }
}
