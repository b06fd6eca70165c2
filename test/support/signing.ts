import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { putSigned } from '../../activities/signed';
import type { StorageBackend } from '../../activities/storage/backend';
import { keys, MANIFEST_FORMAT, type Manifest } from '../../lib/manifest';
import { signerFromPem, trustedKeys, publicKeyLine } from '../../lib/signing';

// One catalog signing key per test process: fixtures write it into their directory (0600, as the
// worker requires), and tests read catalogs with the matching trusted key.
const pair = generateKeyPairSync('ed25519');
const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

export const testPublicKey = publicKeyLine(pair.publicKey);
export const trusted = trustedKeys([testPublicKey]);
export const testSigner = signerFromPem(pem, 'the test signing key');

/** The catalog block of a test config, its signing key written into dir. */
export function catalogConfig(dir: string): { trustedKeys: string[]; signingKeyFile: string } {
  const signingKeyFile = join(dir, 'catalog.key');
  writeFileSync(signingKeyFile, pem, { mode: 0o600 });
  return { trustedKeys: [testPublicKey], signingKeyFile };
}

/** A catalog object written as Lifeboat writes one: the JSON, signed by the test key. */
export async function putSignedJson(storage: StorageBackend, key: string, value: unknown): Promise<void> {
  await putSigned(storage, key, Buffer.from(JSON.stringify(value)), testSigner);
}

/** A manifest planted by a test: the fields it cares about, the rest filled in as a backup would, signed. */
export async function plantManifest(storage: StorageBackend, fields: Pick<Manifest, 'id' | 'source' | 'kind' | 'region' | 'finishedAt' | 'objects'> & Partial<Manifest>): Promise<void> {
  const manifest: Manifest = {
    format: MANIFEST_FORMAT, startedAt: fields.finishedAt, workflow: { workflowId: `planted-${fields.id}`, runId: 'planted' },
    compression: { algorithm: 'zstd', level: 3 }, encryption: { algorithm: 'age-x25519', recipients: [] }, tools: {},
    description: { kind: fields.kind } as Manifest['description'], parent: null, previousManifestSha256: null, retentionTags: [], restoreWith: 'planted',
    ...fields,
  };
  await putSignedJson(storage, keys.manifest(manifest.source, manifest.id), manifest);
}
