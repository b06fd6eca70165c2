import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { LifeboatError } from './errors';

// The catalog is signed with Ed25519 so that write access to a bucket is not enough to add a backup
// Lifeboat would restore. A signature is the raw 64 bytes over the exact bytes of the object, stored
// beside it as `<key>.sig`: `openssl pkeyutl -verify -pubin -inkey catalog.pub -rawin -in manifest.json
// -sigfile manifest.json.sig` checks it with no Lifeboat at hand.

export const SIGNATURE_SUFFIX = '.sig';
export const signatureKey = (key: string): string => `${key}${SIGNATURE_SUFFIX}`;

export interface TrustedKey {
  /** "ed25519:" and the first 16 hex digits of the SHA-256 of the public key (SPKI DER). */
  id: string;
  key: KeyObject;
}

export interface Signer {
  keyId: string;
  /** The public key as a config line for catalog.trustedKeys. */
  publicKey: string;
  sign(bytes: Buffer): Buffer;
}

export type Verdict = { trusted: true; keyId: string } | { trusted: false; reason: string };

/** The body of a PEM public key (base64 of SPKI DER): one line, as catalog.trustedKeys lists it. */
export function publicKeyLine(key: KeyObject): string {
  return (key.export({ type: 'spki', format: 'der' })).toString('base64');
}

export function keyIdOf(key: KeyObject): string {
  return `ed25519:${createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16)}`;
}

/** A line of catalog.trustedKeys (base64 SPKI DER, or a whole PEM block) as a key; throws Config when it is not an Ed25519 public key. */
export function parseTrustedKey(line: string): TrustedKey {
  const text = line.trim();
  let key: KeyObject;
  try {
    key = text.startsWith('-----BEGIN')
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new LifeboatError('Config', `catalog.trustedKeys: "${text.slice(0, 20)}…" is not a public key`, 'list the line "lifeboat catalog keygen" printed (base64 of the SPKI public key)');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new LifeboatError('Config', `catalog.trustedKeys: a ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`, 'make the signing key with "lifeboat catalog keygen"');
  }
  return { id: keyIdOf(key), key };
}

export function trustedKeys(lines: string[]): TrustedKey[] {
  return lines.map(parseTrustedKey);
}

export function signerFromPem(pem: string, what: string): Signer {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new LifeboatError('Config', `${what} is not a private key in PEM form`, 'make one with "lifeboat catalog keygen --out FILE"');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new LifeboatError('Config', `${what} is a ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`, 'make one with "lifeboat catalog keygen --out FILE"');
  }
  const publicKey = createPublicKey(key);
  return {
    keyId: keyIdOf(publicKey),
    publicKey: publicKeyLine(publicKey),
    sign: (bytes) => sign(null, bytes, key),
  };
}

/** The signing key named by catalog.signingKeyFile (0600, like the age identity) or catalog.signingKeyEnv (its PEM text). */
export function loadSigner(ref: { signingKeyFile?: string; signingKeyEnv?: string }, env: NodeJS.ProcessEnv = process.env): Signer {
  if (ref.signingKeyEnv) {
    const value = env[ref.signingKeyEnv];
    if (!value) {
      throw new LifeboatError('Config', `catalog.signingKeyEnv: ${ref.signingKeyEnv} is not set in this worker's environment`, `export ${ref.signingKeyEnv} (the PEM text of the signing key) before starting the worker`);
    }
    return signerFromPem(value, `environment variable ${ref.signingKeyEnv}`);
  }
  if (!ref.signingKeyFile) {
    throw new LifeboatError('Config', 'this worker writes to the catalog but has no signing key (catalog.signingKeyFile or catalog.signingKeyEnv)',
      'make one with "lifeboat catalog keygen --out /etc/lifeboat/catalog.key", list its public key in catalog.trustedKeys and name the file in catalog.signingKeyFile');
  }
  const file = ref.signingKeyFile;
  let pem: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0) {
      throw new LifeboatError('Config', `catalog.signingKeyFile ${file} may be read by other users`, `chmod 600 ${file}`);
    }
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof LifeboatError) throw error;
    throw new LifeboatError('Config', `catalog.signingKeyFile: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      'check the path and that the worker user may read it');
  }
  return signerFromPem(pem, `catalog.signingKeyFile ${file}`);
}

/** Writes a new Ed25519 private key to file (PEM, 0600; fails if the file exists) and returns its public key line. */
export function generateSigningKey(file: string): string {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  return publicKeyLine(publicKey);
}

/** The configured signing key, refused when catalog.trustedKeys does not list its public key. */
export function checkedSigner(config: { catalog: { trustedKeys: string[]; signingKeyFile?: string; signingKeyEnv?: string } }, env: NodeJS.ProcessEnv = process.env): Signer {
  const signer = loadSigner(config.catalog, env);
  if (!trustedKeys(config.catalog.trustedKeys).some((key) => key.id === signer.keyId)) {
    throw new LifeboatError('Config', `the catalog signing key (${signer.keyId}) is not in catalog.trustedKeys: everything this worker writes would be untrusted`,
      `add its public key to catalog.trustedKeys: ${signer.publicKey}`);
  }
  return signer;
}

/** Which trusted key signed bytes, or why none did. */
export function checkSignature(bytes: Buffer, signature: Buffer | undefined, trusted: TrustedKey[]): Verdict {
  if (!signature) return { trusted: false, reason: 'it has no signature' };
  if (signature.length !== 64) return { trusted: false, reason: `its signature is ${signature.length} bytes, not 64` };
  for (const { id, key } of trusted) {
    if (verify(null, bytes, key, signature)) return { trusted: true, keyId: id };
  }
  return { trusted: false, reason: `its signature is not by any key in catalog.trustedKeys (${trusted.map((k) => k.id).join(', ') || 'none'})` };
}
