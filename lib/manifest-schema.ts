import { z } from 'zod';
import { keys, MANIFEST_FORMAT, type Manifest, type Tombstone } from './manifest';
import { SIGNATURE_SUFFIX } from './signing';

// What a reader accepts from storage. A manifest decides what gets restored, as root, over a live
// database: its shape, and that it only names objects of its own backup, are checked before a byte
// of it is used — a signature proves who wrote it, not that it is sane.

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in hex');
const timestamp = z.iso.datetime({ offset: true });
const segment = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'one path segment of letters, digits, ".", "_" and "-"');

const storedObject = z.strictObject({
  key: z.string().min(1),
  role: z.enum(['data', 'state']),
  content: z.string(),
  size: z.int().min(0),
  sha256,
});

const manifestSchema = z.looseObject({
  format: z.literal(MANIFEST_FORMAT),
  id: segment,
  source: segment,
  kind: z.enum(['postgres', 'redis', 'files']),
  region: z.string(),
  startedAt: timestamp,
  finishedAt: timestamp,
  workflow: z.looseObject({ workflowId: z.string(), runId: z.string() }),
  objects: z.array(storedObject),
  compression: z.looseObject({ algorithm: z.literal('zstd'), level: z.int() }),
  encryption: z.looseObject({ algorithm: z.literal('age-x25519'), recipients: z.array(z.string()) }),
  tools: z.record(z.string(), z.string()),
  description: z.looseObject({ kind: z.enum(['postgres', 'redis', 'files']) }),
  parent: segment.nullable(),
  previousManifestSha256: sha256.nullable(),
  retentionTags: z.array(z.string()),
  restoreWith: z.string(),
});

const tombstoneSchema = z.strictObject({
  format: z.literal('lifeboat-tombstone/1'),
  source: segment,
  id: segment,
  finishedAt: timestamp,
  manifestSha256: sha256,
  previousManifestSha256: sha256.nullable(),
  deletedAt: timestamp,
  reason: z.string(),
});

const segmentPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** One path segment as sources and backup ids are named: no "/", no "..", nothing empty. */
export function isSegment(text: string): boolean {
  return segmentPattern.test(text);
}

/** A data object directly under the backup's prefix: not its manifest, tombstone, a signature or anything deeper. */
export function isOwnObjectKey(prefix: string, key: string): boolean {
  const name = key.slice(prefix.length);
  return key.startsWith(prefix) && isSegment(name) && name !== 'manifest.json' && name !== 'deleted.json' && !name.endsWith(SIGNATURE_SUFFIX);
}

/** `<source>/<id>/<file>` → its source and backup id; undefined for a key of another shape. */
export function backupOfKey(key: string): { source: string; id: string } | undefined {
  const match = /^([^/]+)\/([^/]+)\/[^/]+$/.exec(key);
  return match ? { source: match[1]!, id: match[2]! } : undefined;
}

function problemOf(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${issue.path.join('.') || 'the document'}: ${issue.message}`;
}

function parseJson(bytes: Buffer): { value: unknown } | { problem: string } {
  try {
    return { value: JSON.parse(bytes.toString('utf8')) };
  } catch {
    return { problem: 'it is not valid JSON' };
  }
}

/**
 * The manifest stored at key, or why it is refused: not JSON, not the schema, a source or id that
 * is not the key's own, or an object outside the backup's own prefix (which could make a restore
 * read, a sync copy, or retention delete, another backup's or another source's objects).
 */
export function parseManifest(bytes: Buffer, key: string): { manifest: Manifest } | { problem: string } {
  const json = parseJson(bytes);
  if ('problem' in json) return json;
  if ((json.value as { format?: unknown } | null)?.format !== MANIFEST_FORMAT) {
    return { problem: `its format is ${JSON.stringify((json.value as { format?: unknown } | null)?.format)}, this Lifeboat reads ${MANIFEST_FORMAT}` };
  }
  const parsed = manifestSchema.safeParse(json.value);
  if (!parsed.success) return { problem: problemOf(parsed.error) };
  const manifest = parsed.data as unknown as Manifest;
  const where = backupOfKey(key);
  if (!where || key !== keys.manifest(where.source, where.id)) return { problem: 'it is not stored at <source>/<id>/manifest.json' };
  if (manifest.source !== where.source || manifest.id !== where.id) {
    return { problem: `it says it is ${manifest.source}/${manifest.id} but is stored as ${where.source}/${where.id}` };
  }
  const prefix = keys.backupPrefix(manifest.source, manifest.id);
  for (const object of manifest.objects) {
    if (!isOwnObjectKey(prefix, object.key)) {
      return { problem: `it names object ${object.key}, which is not a data object under its own prefix ${prefix}` };
    }
  }
  if (manifest.parent === manifest.id) return { problem: 'it names itself as its parent' };
  return { manifest };
}

export function parseTombstone(bytes: Buffer, key: string): { tombstone: Tombstone } | { problem: string } {
  const json = parseJson(bytes);
  if ('problem' in json) return json;
  const parsed = tombstoneSchema.safeParse(json.value);
  if (!parsed.success) return { problem: problemOf(parsed.error) };
  const where = backupOfKey(key);
  if (!where || key !== keys.tombstone(where.source, where.id) || parsed.data.source !== where.source || parsed.data.id !== where.id) {
    return { problem: `it is for ${parsed.data.source}/${parsed.data.id} but is stored at ${key}` };
  }
  return { tombstone: parsed.data };
}
