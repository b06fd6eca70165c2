import { z } from 'zod';
import { HEAD_FORMAT, keys, type Head } from './manifest';

// What a reader accepts as a head record. The signature proves who wrote it; these checks prove it
// is the head it is stored as, so a signed head cannot be replayed under another sequence or source.

const headSchema = z.strictObject({
  format: z.literal(HEAD_FORMAT),
  source: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
  sequence: z.int().min(1),
  backupId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
  manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
  finishedAt: z.iso.datetime({ offset: true }),
  previousHeadSha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
});

/** `_heads/<source>/000000000042.json` → 42; undefined for any other key under the prefix. */
export function sequenceOfHeadKey(source: string, key: string): number | undefined {
  const match = /^(\d{12})\.json$/.exec(key.slice(keys.headPrefix(source).length));
  const sequence = match && key.startsWith(keys.headPrefix(source)) ? Number(match[1]) : 0;
  return sequence > 0 ? sequence : undefined;
}

export function parseHead(bytes: Buffer, key: string, source: string): { head: Head } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { problem: 'it is not valid JSON' };
  }
  const parsed = headSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { problem: `${issue.path.join('.') || 'the document'}: ${issue.message}` };
  }
  const head = parsed.data as Head;
  if (head.source !== source || key !== keys.head(source, head.sequence)) {
    return { problem: `it says it is head ${head.sequence} of ${head.source} but is stored at ${key}` };
  }
  return { head };
}
