import { trusted } from './support/signing';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { readAll, type StorageBackend } from '../activities/storage/backend';
import type { Alert } from '../lib/alerts';
import type { Manifest } from '../lib/manifest';
import { verifyWorkflowId } from '../lib/workflow-ids';
import { createNoiseDatabase, recreateDatabase, withClient } from '../scripts/sample-db';
import { startRedis } from './harness/redis';
import { corruptions, matrixTable, type MatrixRow } from './support/corruption';
import { makeFixture, type Fixture } from './support/fixture';
import { startReceiver, type Receiver } from './support/receiver';
import { activityAttempts, runBackup } from './support/runs';
import { runVerify, verifyRecords } from './support/verify';
import { failureOf, startHarness, type Harness } from './support/workers';
import { replaceObject } from './support/tamper';
import { stagingName } from '../activities/sources/postgres/target';

// LIFEBOAT_CORRUPTION=full (npm run corruption) runs the whole campaign: three sizes, 20 flips
// each. Without it, CI runs a slice: the small objects, a few flips each (test/restore-stream.test.ts
// covers a damaged multi-MiB object in CI).
const campaign = process.env.LIFEBOAT_CORRUPTION === 'full';
const seed = Number(process.env.LIFEBOAT_CORRUPTION_SEED ?? Math.floor(Math.random() * 1e9));
const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const MiB = 1024 * 1024;

interface Case {
  kind: 'postgres' | 'redis' | 'files';
  /** About this many bytes of source data; the stored object is near it (random data does not compress). */
  size: number;
  flips: number;
}

const cases: Case[] = campaign
  ? (['postgres', 'redis', 'files'] as const).flatMap((kind) => [1024, 10 * MiB, 200 * MiB].map((size) => ({ kind, size, flips: 20 })))
  : [{ kind: 'postgres', size: 1024, flips: 2 }, { kind: 'redis', size: 1024, flips: 2 }, { kind: 'files', size: 1024, flips: 2 }];
const nameOf = (c: Case) => `${c.kind}-${c.size}`;
// The campaign loads and backs up 600 MiB and reads it back hundreds of times.
const timeout = campaign ? 60 * 60_000 : undefined;

describe(`a damaged object is named, in one attempt, by verify and by restore (seed ${seed})`, () => {
  let fixture: Fixture;
  let harness: Harness;
  let receiver: Receiver;
  let storage: StorageBackend;
  let work: string;
  const stops: Array<() => Promise<void>> = [];
  const rows: MatrixRow[] = [];
  const database = (c: Case) => `corrupt_${c.kind}_${c.size}`;

  beforeAll(async () => {
    console.log(`corruption matrix seed ${seed} (replay with LIFEBOAT_CORRUPTION_SEED=${seed})`);
    receiver = await startReceiver();
    work = mkdtempSync(join(tmpdir(), 'lifeboat-corruption-'));
    const sources: Record<string, (ctx: { postgres(db: string): Record<string, unknown> }) => Record<string, unknown>> = {};
    for (const c of cases) {
      if (c.kind === 'postgres') {
        if (c.size < MiB) {
          await recreateDatabase(pg, database(c));
          await withClient(pg, database(c), (client) => client.query("create table t (id int, note text); insert into t select g, 'row ' || g from generate_series(1, 20) g"));
        } else {
          await createNoiseDatabase(pg, database(c), Math.round(c.size / 1024));
        }
        sources[nameOf(c)] = (ctx) => ctx.postgres(database(c));
      } else if (c.kind === 'redis') {
        const { redis, stop } = await startRedis({ dir: join(work, nameOf(c)) });
        stops.push(stop);
        await fillRedis(redis.port, c.size);
        sources[nameOf(c)] = () => ({ kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${redis.port}` });
      } else {
        const tree = join(work, nameOf(c));
        mkdirSync(tree, { recursive: true });
        writeFileSync(join(tree, 'first.txt'), 'the full backup\n');
        sources[nameOf(c)] = () => ({ kind: 'files', region: 'stockholm', path: tree });
      }
    }
    fixture = await makeFixture(servers, (ctx) => Object.fromEntries(Object.entries(sources).map(([name, make]) => [name, make(ctx)])),
      { sync: { afterBackup: false }, alerts: { channels: [{ type: 'webhook', url: `${receiver.url}/alerts` }] } });
    harness = await startHarness(fixture.config);
    storage = createDeps(fixture.config).storage('stockholm');
    for (const c of cases) {
      // Two backups: the newest is damaged, the older one is what a swapped object is swapped with.
      await runBackup(harness.client, fixture.config, nameOf(c));
      if (c.kind === 'files') writeFileSync(join(work, nameOf(c), 'increment.bin'), randomBytes(c.size));
      await runBackup(harness.client, fixture.config, nameOf(c));
    }
  }, timeout);

  afterAll(async () => {
    if (rows.length > 0) console.log(matrixTable(rows, seed));
    await harness?.close();
    await receiver?.close();
    for (const stop of stops) await stop().catch(() => undefined);
    fixture?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  for (const c of cases) {
    it(`every damage to the newest ${c.kind} object of about ${c.size} bytes fails verify and restore in one attempt, naming the object and the cause`, async () => {
      const source = nameOf(c);
      const [older, newest] = (await listBackups(storage, trusted, source)).map((entry) => entry.manifest);
      expect(newest!.parent ?? null).toBe(c.kind === 'files' ? older!.id : null);
      const object = newest!.objects.find((o) => o.role === 'data')!;
      const original = await readAll(await storage.get(object.key));
      const other = await readAll(await storage.get(older!.objects.find((o) => o.role === 'data')!.key));
      try {
        for (const corruption of corruptions(original.length, c.flips, seed)) {
          const started = Date.now();
          await replaceObject(storage, object.key, corruption.mutate(original, other));
          const verify = await verifyDetects(source, newest!, object.key, corruption.cause);
          const restore = await restoreDetects(c, source, newest!, object.key, corruption.cause);
          rows.push({ source: c.kind, size: original.length, corruption: corruption.name, verify, restore, ms: Date.now() - started });
          expect({ corruption: corruption.name, verify, restore }).toEqual({ corruption: corruption.name, verify: 'detected', restore: 'detected' });
        }
      } finally {
        await replaceObject(storage, object.key, original);
      }
      // The undamaged object still verifies: the checks above judged the damage, not the backup.
      const passed = await runVerify(harness.client, fixture.config, { source, region: 'stockholm', level: 'integrity', backupId: newest!.id });
      expect(passed.outcome).toBe('passed');
    }, timeout);
  }

  /** 'detected' or what was wrong: a verify that failed as it must, recorded once, alerted once, in one attempt. */
  async function verifyDetects(source: string, manifest: Manifest, key: string, cause: RegExp): Promise<string> {
    const recordsBefore = (await verifyRecords(storage, source, manifest.id)).length;
    const alertsBefore = verifyAlerts(source).length;
    const failure = await failureOf(runVerify(harness.client, fixture.config, { source, region: 'stockholm', level: 'integrity', backupId: manifest.id }));
    if (failure.type !== 'VerificationFailed') return `type ${failure.type}: ${failure.message}`;
    if (!failure.message.includes(key) || !cause.test(failure.message)) return `message does not name ${key} and ${cause}: ${failure.message}`;
    const attempts = await activityAttempts(harness.client.workflow.getHandle(verifyWorkflowId(fixture.config.temporal.taskQueuePrefix, source)), 'verifyIntegrity');
    if (attempts.join() !== '1') return `verifyIntegrity attempts ${attempts.join() || 'none'}`;
    const records = await verifyRecords(storage, source, manifest.id);
    if (records.length !== recordsBefore + 1 || records.at(-1)!.outcome !== 'failed') return `${records.length - recordsBefore} new record(s), last ${records.at(-1)?.outcome}`;
    try {
      await expect.poll(() => verifyAlerts(source).length, { timeout: 20_000 }).toBe(alertsBefore + 1);
    } catch {
      return `${verifyAlerts(source).length - alertsBefore} alert(s)`;
    }
    return 'detected';
  }

  /** 'detected' or what was wrong: a restore that failed as ChecksumMismatch in one attempt and left its target as it was. */
  async function restoreDetects(c: Case, source: string, manifest: Manifest, key: string, cause: RegExp): Promise<string> {
    const workflowId = `test-corrupt-restore-${source}-${Date.now()}`;
    const directory = join(work, 'targets', `${source}-${Date.now()}`);
    const target = c.kind === 'postgres' ? `postgres://${pg.user}@127.0.0.1:${pg.port}/corrupt_target` : directory;
    const failure = await failureOf(harness.client.workflow.execute('restoreBackup', {
      args: [{ source, region: 'stockholm', backupId: manifest.id, target, targetPasswordEnv: Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_')), clean: false, noOwner: false }],
      workflowId,
      taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    }));
    if (failure.type !== 'ChecksumMismatch') return `type ${failure.type}: ${failure.message}`;
    if (!failure.message.includes(key) || !cause.test(failure.message)) return `message does not name ${key} and ${cause}: ${failure.message}`;
    const attempts = await activityAttempts(harness.client.workflow.getHandle(workflowId), 'restoreBackupTo');
    if (attempts.join() !== '1') return `restoreBackupTo attempts ${attempts.join() || 'none'}`;
    if (c.kind === 'postgres') {
      const exists = await withClient(pg, 'postgres', (client) => client.query("select 1 from pg_database where datname = 'corrupt_target'"));
      if (exists.rowCount !== 0) return 'the target database was created';
      // A forged object that restores cleanly (another backup's, "swapped") went into a staging database: dropped again.
      const staging = await withClient(pg, 'postgres', (client) => client.query('select 1 from pg_database where datname = $1', [stagingName('corrupt_target', manifest.id)]));
      if (staging.rowCount !== 0) return `the staging database ${stagingName('corrupt_target', manifest.id)} was left behind`;
    } else if (existsSync(directory) && readdirSync(directory).length > 0) {
      return `the target directory holds ${readdirSync(directory).join(', ')}`;
    }
    return 'detected';
  }

  function verifyAlerts(source: string): Alert[] {
    return receiver.requests.map((r) => JSON.parse(r.body) as Alert).filter((a) => a.kind === 'verify-failed' && a.source === source);
  }
});

/** About `bytes` of incompressible values in 1 KiB strings, loaded with redis-cli --pipe. */
async function fillRedis(port: number, bytes: number): Promise<void> {
  const keys = Math.max(1, Math.round(bytes / 1024));
  const commands: string[] = [];
  for (let i = 0; i < keys; i++) {
    const value = randomBytes(bytes < 1024 ? bytes : 768).toString('base64');
    commands.push(`*3\r\n$3\r\nSET\r\n$${`k${i}`.length}\r\nk${i}\r\n$${value.length}\r\n${value}\r\n`);
  }
  await execa('redis-cli', ['-p', String(port), '--pipe'], { input: commands.join('') });
}
