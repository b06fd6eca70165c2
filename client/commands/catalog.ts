import { existsSync } from 'node:fs';
import { createDeps } from '../../activities/deps';
import { readAll, type StorageBackend } from '../../activities/storage/backend';
import { verifiedBackupPrefix } from '../../activities/verify-catalog';
import type { Config } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { parseManifest, parseTombstone } from '../../lib/manifest-schema';
import { checkSignature, generateSigningKey, signatureKey, SIGNATURE_SUFFIX, type Signer, type TrustedKey } from '../../lib/signing';
import { table, type Output, usage } from '../output';

/** A new Ed25519 signing key in PEM (0600, never overwriting a file), and the line for catalog.trustedKeys. */
export function catalogKeygenCommand(file: string, out: Output): void {
  if (existsSync(file)) throw usage(`${file} exists; refusing to overwrite a key (backups signed with it would become untrusted once it is gone)`);
  const line = generateSigningKey(file);
  out.result({ signingKeyFile: file, publicKey: line }, [
    `wrote the signing key to ${file} (mode 0600); keep a copy offline`,
    'add its public key to the config of every worker and CLI host:',
    '',
    'catalog:',
    `  trustedKeys: [${line}]`,
    `  signingKeyFile: ${file}`,
  ].join('\n'));
}

export interface TrustExistingRow {
  region: string;
  key: string;
  /** signed: it had no signature and passed the checks; refused: why it was left unsigned. */
  action: 'signed' | 'would sign' | 'refused';
  detail: string;
}

type Kind = 'manifest' | 'tombstone' | 'verify record' | 'WAL record';

function kindOf(key: string): Kind | undefined {
  if (key.endsWith('/manifest.json')) return 'manifest';
  if (key.endsWith('/deleted.json')) return 'tombstone';
  if (verifiedBackupPrefix(key)) return 'verify record';
  if (key.startsWith('_wal/') && key.endsWith('.sha256.json')) return 'WAL record';
  return undefined;
}

/** Why bytes at key may not be signed as what they claim to be; undefined when they may. */
function problemOf(kind: Kind, key: string, bytes: Buffer): string | undefined {
  if (kind === 'manifest') {
    const parsed = parseManifest(bytes, key);
    return 'problem' in parsed ? parsed.problem : undefined;
  }
  if (kind === 'tombstone') {
    const parsed = parseTombstone(bytes, key);
    return 'problem' in parsed ? parsed.problem : undefined;
  }
  try {
    const value = JSON.parse(bytes.toString('utf8')) as { format?: unknown };
    const expected = kind === 'verify record' ? 'lifeboat-verify/1' : 'lifeboat-wal-record/1';
    return value.format === expected ? undefined : `its format is ${JSON.stringify(value.format)}, not ${expected}`;
  } catch {
    return 'it is not valid JSON';
  }
}

/** signer undefined: a dry run, which only lists. */
async function trustExistingIn(storage: StorageBackend, region: string, prefixes: string[], trusted: TrustedKey[], signer: Signer | undefined): Promise<TrustExistingRow[]> {
  const rows: TrustExistingRow[] = [];
  for (const prefix of prefixes) {
    const found = new Set<string>();
    for await (const object of storage.list(prefix)) found.add(object.key);
    for (const key of [...found].sort()) {
      const kind = kindOf(key);
      if (!kind || key.endsWith(SIGNATURE_SUFFIX)) continue;
      const bytes = await readAll(await storage.get(key));
      if (found.has(signatureKey(key))) {
        const verdict = checkSignature(bytes, await readAll(await storage.get(signatureKey(key))), trusted);
        // Already trusted: nothing to do. Signed by another key: never re-signed over it (that is what a forger would want).
        if (!verdict.trusted) rows.push({ region, key, action: 'refused', detail: `already signed, ${verdict.reason}` });
        continue;
      }
      const problem = problemOf(kind, key, bytes);
      if (problem) {
        rows.push({ region, key, action: 'refused', detail: `${kind}: ${problem}` });
        continue;
      }
      if (signer) await storage.put(signatureKey(key), signer.sign(bytes));
      rows.push({ region, key, action: signer ? 'signed' : 'would sign', detail: kind });
    }
  }
  return rows;
}

/**
 * The one-time step after upgrading to a signed catalog: signs what older Lifeboat versions wrote
 * unsigned (manifests, tombstones, verify records, WAL records), after the same sanity checks every
 * reader makes. It trusts whatever is in the bucket now, so it runs once, after "backups list" and
 * a look at what it would sign (--dry-run), never on a schedule.
 */
export async function catalogSignCommand(config: Config, options: { trustExisting?: boolean; dryRun?: boolean; source?: string; region?: string }, out: Output): Promise<void> {
  if (!options.trustExisting) {
    throw usage('catalog sign only signs what older versions left unsigned, and only when told so: add --trust-existing (and try --dry-run first)');
  }
  if (options.region && !(options.region in config.regions)) throw usage(`no region "${options.region}" in the config`);
  if (options.source && !(options.source in config.sources)) throw usage(`no source "${options.source}" in the config`);
  const deps = createDeps(config);
  const signer = options.dryRun ? undefined : deps.signer();
  const sources = options.source ? [options.source] : Object.keys(config.sources);
  const prefixes = sources.flatMap((source) => [`${source}/`, `_wal/${source}/`]);
  const rows: TrustExistingRow[] = [];
  for (const region of options.region ? [options.region] : Object.keys(config.regions)) {
    rows.push(...await trustExistingIn(deps.storage(region), region, prefixes, deps.trusted, signer));
  }
  const refused = rows.filter((row) => row.action === 'refused');
  const text = rows.length === 0 ? 'nothing unsigned: every catalog object is signed' : table([['REGION', 'KEY', 'ACTION', 'DETAIL'], ...rows.map((r) => [r.region, r.key, r.action, r.detail])]);
  out.result(rows, text);
  if (refused.length > 0) {
    throw new LifeboatError('Untrusted', `${refused.length} catalog object(s) were not signed: they are not what they claim to be, or another key signed them`,
      'they stay untrusted and are never restored; find out who wrote them');
  }
}
