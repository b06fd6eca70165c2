import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { missingSearchAttributes } from '../lib/search-attribute-registry';
import { searchAttributeNames } from '../workflows/search-attributes';
import { startTemporal } from './harness/temporal';
import { makeFixture, type Fixture } from './support/fixture';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

// A fresh `temporal server start-dev`, as a new user starts it: no --search-attribute flags.
describe('a Temporal namespace without Lifeboat\'s search attributes', () => {
  let fixture: Fixture;
  let fresh: Awaited<ReturnType<typeof startTemporal>>;
  let work: string;
  const cli = (args: string[]) => execa(lifeboat, ['--config', fixture.configFile, ...args],
    { env: { ...fixture.env, TEMPORAL_ADDRESS: fresh.temporal.address }, reject: false });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lifeboat-sa-'));
    writeFileSync(join(work, 'note.txt'), 'a file to back up\n');
    fresh = await startTemporal({ dir: join(work, 'temporal'), searchAttributes: false });
    fixture = await makeFixture(servers, () => ({ notes: { kind: 'files', region: 'stockholm', path: work } }), { sync: { afterBackup: false } });
  }, 90_000);

  afterAll(async () => {
    await fresh?.stop();
    fixture?.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('makes lifeboat backup fail with SearchAttributesMissing and the command that registers them', async () => {
    const result = await cli(['backup', 'notes']);
    expect(result.stderr).not.toMatch(/unexpected error|this is a bug/);
    expect(result.stderr).toMatch(/lacks Lifeboat's search attributes LifeboatSource, LifeboatRegion, LifeboatKind/);
    expect(result.stderr).toContain('temporal operator search-attribute create --namespace default --name LifeboatSource --type Keyword --name LifeboatRegion --type Keyword --name LifeboatKind --type Keyword');
    expect(result.exitCode).toBe(22);
  });

  it('shows as a failed doctor check', async () => {
    const result = await cli(['--json', 'doctor']);
    const { checks } = JSON.parse(result.stdout) as { checks: { check: string; ok: boolean; detail: string }[] };
    const line = checks.find((c) => c.check === 'temporal search attributes');
    expect(line).toMatchObject({ ok: false });
    expect(line!.detail).toMatch(/temporal operator search-attribute create/);
    expect(result.exitCode).not.toBe(0);
  }, 60_000);

  it('is completed by a worker at start, after which a backup runs', async () => {
    const config = { ...fixture.config, temporal: { ...fixture.config.temporal, address: fresh.temporal.address } };
    let harness: Harness | undefined;
    try {
      harness = await startHarness(config);
      expect(harness.workers.searchAttributes).toEqual({ registered: searchAttributeNames });
      const connection = await Connection.connect({ address: fresh.temporal.address });
      try {
        expect(await missingSearchAttributes(connection.operatorService, 'default')).toEqual([]);
      } finally {
        await connection.close();
      }
      const backup = await cli(['backup', 'notes', '--wait']);
      expect(backup.stderr).not.toMatch(/search attribute/);
      expect(backup.exitCode).toBe(0);
    } finally {
      await harness?.close();
    }
  }, 120_000);
});
