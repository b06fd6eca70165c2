import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps } from '../activities/deps';
import { putSigned } from '../activities/signed';
import type { StorageBackend } from '../activities/storage/backend';
import { LocalStorage } from '../activities/storage/local';
import { restoreCommandScript, stageWal, walToStage, WAL_KEEP_BEHIND, WAL_PREFETCH, type StagedWal } from '../activities/sources/postgres/stage-wal';
import type { PostgresPhysicalDescription } from '../lib/manifest';
import { segmentName, walKeys } from '../lib/wal';
import { makeFixture, type Fixture } from './support/fixture';
import { testSigner, trusted } from './support/signing';

const servers = inject('servers');

/**
 * The archived WAL a point-in-time restore stages is a window ahead of replay, not the archive:
 * a DR host replaying a week of WAL to an early target must not fill its disk first. Driven
 * through the real restore_command script, against real storage, age and zstd.
 */
describe('WAL staging stays a window ahead of replay', () => {
  let fixture: Fixture;
  let storage: StorageBackend;
  const segmentBytes = 16 * 1024 * 1024;
  const count = 24;
  const names = Array.from({ length: count }, (_, index) => segmentName(1, index + 2, segmentBytes));
  const history = '00000002.history';
  const raw = (name: string) => Buffer.alloc(32 * 1024, name);
  const base = {
    kind: 'postgres', mode: 'physical', serverVersion: '15', systemIdentifier: '1', timeline: 1, startLsn: '0/2000028', stopLsn: '0/2000100',
    startWalFile: names[0]!, stopWalFile: names[0]!, walSegmentBytes: segmentBytes, startTime: '2026-11-28 00:00:00 UTC', sizeBytes: 0, databases: ['postgres'], hasBackupManifest: false,
  } satisfies PostgresPhysicalDescription;
  // The smallest window stageWal allows: two rounds of prefetch.
  const ahead = 2 * WAL_PREFETCH;

  // The same archive in a local region: there age reads each object's own file (StorageBackend.filePath).
  let local: StorageBackend;
  const archive = async (name: string, bytes: Buffer) => {
    const { stdout } = await execa('sh', ['-c', 'zstd -q | age -r "$1"', 'sh', fixture.key.recipient], { input: bytes, encoding: 'buffer', stripFinalNewline: false });
    const record = { format: 'lifeboat-wal-record/1', file: name, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    for (const region of [storage, local]) {
      await region.put(walKeys.object('pg', name), Buffer.from(stdout));
      await putSigned(region, walKeys.record('pg', name), Buffer.from(JSON.stringify(record)), testSigner);
    }
  };

  beforeAll(async () => {
    fixture = await makeFixture(servers, () => ({}));
    storage = createDeps(fixture.config).storage('stockholm');
    local = new LocalStorage(join(fixture.dir, 'local-region'));
    for (const name of names) await archive(name, raw(name));
    await archive(history, Buffer.from('1\t0/3000000\tno recovery target specified\n'));
  }, 120_000);

  afterAll(() => fixture?.cleanup());

  const stagedSegments = (directory: string) => readdirSync(directory).filter((name) => /^[0-9A-F]{24}$/.test(name)).sort();
  const until = async (done: () => boolean) => {
    for (const deadline = Date.now() + 30_000; !done();) {
      if (Date.now() > deadline) throw new Error('staging did not get there in 30 s');
      await sleep(50);
    }
  };
  const settle = async (directory: string) => {
    // Staging has caught up when the listing stops changing for a while.
    let last = '';
    for (let stable = 0; stable < 8;) {
      await sleep(100);
      const now = readdirSync(directory).sort().join(',');
      stable = now === last ? stable + 1 : 0;
      last = now;
    }
  };

  it('stages history files and a window of segments before replay asks, deletes what replay left behind, and fetches a deleted one again when asked', async () => {
    const directory = join(fixture.dir, 'staging');
    mkdirSync(directory);
    const script = join(fixture.dir, 'restore-wal.sh');
    writeFileSync(script, restoreCommandScript(directory), { mode: 0o700 });
    const stop = new AbortController();
    const plan = await walToStage(storage, 'pg', base);
    expect(plan.wanted).toEqual([...names, history]);
    const staging: Promise<StagedWal> = stageWal(storage, trusted, 'pg', plan, fixture.key.identityFile, directory,
      { segmentBytes, aheadBytes: 0, onProgress: () => {}, signal: stop.signal, pollMs: 20 });
    staging.catch(() => undefined);

    // Before replay asks for anything: the history file and the first window, not the archive.
    await until(() => existsSync(join(directory, history)) && stagedSegments(directory).length >= ahead + 1);
    await settle(directory);
    expect(existsSync(join(directory, history))).toBe(true);
    expect(stagedSegments(directory)).toEqual(names.slice(0, ahead + 1));

    const restoreWal = async (name: string) => {
      const into = join(fixture.dir, 'RECOVERYXLOG');
      const result = await execa(script, [name, into], { reject: false, timeout: 30_000 });
      return { exitCode: result.exitCode, bytes: result.exitCode === 0 ? readFileSync(into) : undefined };
    };
    let most = 0;
    for (const [index, name] of names.entries()) {
      const got = await restoreWal(name);
      expect(got.exitCode, name).toBe(0);
      expect(got.bytes!.equals(raw(name)), name).toBe(true);
      most = Math.max(most, stagedSegments(directory).length);
      if (index === 12) {
        await until(() => stagedSegments(directory).length === WAL_KEEP_BEHIND + 1 + ahead);
        await settle(directory);
        // Behind: only the ones PostgreSQL may read again; ahead: the window.
        expect(stagedSegments(directory)).toEqual(names.slice(index - WAL_KEEP_BEHIND, index + ahead + 1));
      }
    }
    expect(most).toBeLessThanOrEqual(WAL_KEEP_BEHIND + 1 + ahead);

    // Promotion asks for the next timeline's history: it moves nothing, and a name not archived ends the archive.
    expect((await restoreWal(history)).exitCode).toBe(0);
    expect((await restoreWal(segmentName(1, count + 2, segmentBytes))).exitCode).toBe(1);

    // A segment deleted long ago, asked for again: staged again, the same bytes.
    expect(existsSync(join(directory, names[0]!))).toBe(false);
    const again = await restoreWal(names[0]!);
    expect(again.exitCode).toBe(0);
    expect(again.bytes!.equals(raw(names[0]!))).toBe(true);

    stop.abort();
    const staged = await staging;
    expect(staged.files).toBe(count);
    expect(staged.through).toBe(names.at(-1));
  }, 120_000);

  it('ends on its own when the whole archive fits in the window', async () => {
    const directory = join(fixture.dir, 'all');
    mkdirSync(directory);
    const plan = await walToStage(storage, 'pg', base);
    const staged = await stageWal(storage, trusted, 'pg', plan, fixture.key.identityFile, directory, { segmentBytes, onProgress: () => {} });
    expect(staged.files).toBe(count);
    expect(stagedSegments(directory)).toEqual(names);
  }, 120_000);

  it('stages from a local region by handing age each object\'s own file, byte for byte', async () => {
    expect(local.filePath).toBeDefined();
    const directory = join(fixture.dir, 'from-local');
    mkdirSync(directory);
    const plan = await walToStage(local, 'pg', base);
    expect(plan.wanted).toEqual([...names, history]);
    const staged = await stageWal(local, trusted, 'pg', plan, fixture.key.identityFile, directory, { segmentBytes, onProgress: () => {} });
    expect(staged.files).toBe(count);
    for (const name of names) expect(readFileSync(join(directory, name)).equals(raw(name)), name).toBe(true);
  }, 120_000);
});
