import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps } from '../activities/deps';
import { recordHead, scanHeads } from '../activities/heads';
import type { StorageBackend } from '../activities/storage/backend';
import { makeFixture, type Fixture } from './support/fixture';
import { testSigner, trusted } from './support/signing';

const servers = inject('servers');

/**
 * Backups of one source started under different workflow ids (a second deployment, a run started
 * by hand) can finish at once: each still gets a head, chained to the one before, in real storage.
 */
describe('head records written at once', () => {
  let fixture: Fixture;
  let storage: StorageBackend;

  beforeAll(async () => {
    fixture = await makeFixture(servers, () => ({}));
    storage = createDeps(fixture.config).storage('stockholm');
  });
  afterAll(() => fixture?.cleanup());

  it('gives each of several backups finishing together its own sequence, every head chained to the one before', async () => {
    const backups = Array.from({ length: 4 }, (_, n) => ({
      source: 'racing', backupId: `20261129T170000Z-00000000000${n}`, manifestSha256: createHash('sha256').update(String(n)).digest('hex'), finishedAt: new Date(Date.UTC(2026, 10, 29, 17, 0, n)).toISOString(),
    }));
    const heads = await Promise.all(backups.map((backup) => recordHead(storage, trusted, testSigner, backup)));
    expect(heads.map((head) => head.sequence).sort()).toEqual([1, 2, 3, 4]);
    const scanned = (await scanHeads(storage, trusted, 'racing', 10)).heads;
    expect(scanned.map((entry) => entry.head.sequence)).toEqual([1, 2, 3, 4]);
    expect(new Set(scanned.map((entry) => entry.head.backupId))).toEqual(new Set(backups.map((backup) => backup.backupId)));
    expect(scanned[0]!.head.previousHeadSha256).toBeNull();
    for (let index = 1; index < scanned.length; index += 1) expect(scanned[index]!.head.previousHeadSha256).toBe(scanned[index - 1]!.sha256);
  }, 60_000);
});
