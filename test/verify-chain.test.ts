import { describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../activities/catalog-judge';
import { chainLink } from '../activities/verify-integrity';
import { keys, type Manifest } from '../lib/manifest';

const entry = (id: string, finishedAt: string, previousManifestSha256: string | null, manifestSha256: string): CatalogEntry => ({
  manifest: { id, source: 'db', finishedAt, previousManifestSha256 } as Manifest,
  manifestSha256,
  keyId: 'k1',
});

describe('the manifest chain link', () => {
  // Ids carry the start second and a random tail: the earlier backup's tail may sort after the later one's.
  const earlierId = '20261129T120000Z-ffffffffffff';
  const laterId = '20261129T120000Z-000000000000';

  it('names a rewritten manifest started in the same second as broken, whichever way the ids sort', () => {
    const later = entry(laterId, '2026-11-29T12:00:00.900Z', 'a'.repeat(64), 'b'.repeat(64));
    const untrusted = [{ key: keys.manifest('db', earlierId), reason: 'its signature does not match' }];
    const link = chainLink([later], [], later.manifest, untrusted);
    expect(link.ok).toBe(false);
    expect(link.detail).toContain(`the manifest before it is not trusted: ${keys.manifest('db', earlierId)}`);
  });

  it('still links to a trusted manifest of the same second', () => {
    const earlier = entry(earlierId, '2026-11-29T12:00:00.400Z', null, 'a'.repeat(64));
    const later = entry(laterId, '2026-11-29T12:00:00.900Z', 'a'.repeat(64), 'b'.repeat(64));
    const link = chainLink([earlier, later], [], later.manifest, []);
    expect(link).toMatchObject({ ok: true, detail: expect.stringContaining(`links to ${earlierId}`) });
  });

  it('does not blame an untrusted manifest newer than the backup being checked', () => {
    const only = entry(earlierId, '2026-11-29T12:00:00.400Z', null, 'a'.repeat(64));
    const untrusted = [{ key: keys.manifest('db', '20261129T120001Z-000000000000'), reason: 'planted' }];
    expect(chainLink([only], [], only.manifest, untrusted)).toMatchObject({ ok: true, detail: 'first backup of the source' });
  });
});
