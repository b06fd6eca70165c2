import { LifeboatError } from '../lib/errors';
import { checkSignature, signatureKey, type Signer, type TrustedKey, type Verdict } from '../lib/signing';
import { readAll, type StorageBackend } from './storage/backend';

/**
 * Writes a catalog object and its signature. The signature goes first: a reader that finds the
 * object finds its signature too, so a backup is never seen half-signed (and alerted as untrusted)
 * while it is being written. Ed25519 is deterministic, so a retry with the same bytes writes the
 * same signature again.
 */
export async function putSigned(storage: StorageBackend, key: string, bytes: Buffer, signer: Signer): Promise<void> {
  await storage.put(signatureKey(key), signer.sign(bytes));
  await storage.put(key, bytes);
}

/** Removes a signed object and then its signature: never a signed-looking object without one. */
export async function removeSigned(storage: StorageBackend, key: string): Promise<void> {
  await storage.remove(key);
  await storage.remove(signatureKey(key));
}

export interface SignedObject {
  bytes: Buffer;
  verdict: Verdict;
}

/** Reads key and its signature; the verdict says whether a trusted key signed exactly these bytes. */
export async function readSigned(storage: StorageBackend, key: string, trusted: TrustedKey[]): Promise<SignedObject> {
  // The signature is read straight away (no stat first): one request per catalog object, not two.
  const [bytes, signature] = await Promise.all([
    readAll(await storage.get(key)),
    storage.get(signatureKey(key)).then(readAll, (error: unknown) => {
      if (error instanceof LifeboatError && error.type === 'BackupNotFound') return undefined;
      throw error;
    }),
  ]);
  return { bytes, verdict: checkSignature(bytes, signature, trusted) };
}
