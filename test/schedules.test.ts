import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import type { TypedSearchAttributes } from '@temporalio/common';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { ScheduleListing } from '../client/schedules/list';
import { applySchedules, describeOrUndefined, ownedScheduleIds, type ApplyReport } from '../client/schedules/reconcile';
import { parseConfig } from '../lib/config/load';
import type { Config } from '../lib/config/schema';
import { makeFixture, type Fixture } from './support/fixture';
import { dataConverterOf } from '../lib/codec/data-converter';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

type Document = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- a YAML document the tests edit freely

describe('schedules from the config', () => {
  let fixture: Fixture;
  let connection: Connection;
  let client: Client;
  let prefix: string;
  let foreignPrefix: string;
  const started: Array<{ workflowId: string; runId: string }> = [];

  /** The fixture's config, edited, in a file of its own; both the file (for the CLI) and the parsed config. */
  const variant = (name: string, edit: (doc: Document) => void): { file: string; config: Config } => {
    const doc = parse(readFileSync(fixture.configFile, 'utf8')) as Document;
    edit(doc);
    const file = join(fixture.dir, `${name}.yaml`);
    writeFileSync(file, stringify(doc));
    return { file, config: parseConfig(readFileSync(file, 'utf8'), file) };
  };
  const cli = (file: string, args: string[]) => execa(lifeboat, ['--config', file, ...args], { env: fixture.env, reject: false });
  const changeOf = (report: ApplyReport, id: string) => report.changes.find((c) => c.id === id)?.change;
  const id = (what: string) => `${prefix}${what}`;

  beforeAll(async () => {
    fixture = await makeFixture(servers, (ctx) => ({
      'app-db': ctx.postgres('schedules_db', { schedule: { cron: '0 */6 * * *', timezone: 'Europe/Stockholm' } }),
      cache: { kind: 'redis', region: 'gothenburg', url: `redis://127.0.0.1:${servers.redis.port}`, schedule: { cron: '30 2 * * *', jitter: '1m' } },
      uploads: { kind: 'files', region: 'stockholm', path: '/srv/uploads' },
    }), {
      objectives: { rpo: '6h', rto: '4h' },
      sync: { schedule: { cron: '15 * * * *' } },
      retention: { schedule: { cron: '0 4 * * *', timezone: 'Europe/Stockholm', overlap: 'BUFFER_ONE', catchupWindow: '3h' } },
    });
    prefix = fixture.config.temporal.taskQueuePrefix;
    foreignPrefix = `other-${prefix}`;
    connection = await Connection.connect({ address: servers.temporal.address });
    client = new Client({ connection, namespace: servers.temporal.namespace, dataConverter: dataConverterOf(fixture.config) });
  });

  afterAll(async () => {
    for (const run of started) await client?.workflow.getHandle(run.workflowId, run.runId).terminate('test cleanup').catch(() => undefined);
    for await (const schedule of client?.schedule.list() ?? []) {
      if (schedule.scheduleId.startsWith(prefix) || schedule.scheduleId.startsWith(foreignPrefix)) {
        await client.schedule.getHandle(schedule.scheduleId).delete().catch(() => undefined);
      }
    }
    await connection?.close();
    fixture?.cleanup();
  });

  it('creates every schedule the config asks for, printing each with its cron and zone', async () => {
    const result = await cli(fixture.configFile, ['schedules', 'apply']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^CHANGE +SCHEDULE +CRON +TIMEZONE +WORKFLOW +WHY$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^created +${id('backup-app-db')} +0 \\*/6 \\* \\* \\* +Europe/Stockholm +scheduledBackup$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^created +${id('backup-cache')} +30 2 \\* \\* \\* +UTC +scheduledBackup$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^created +${id('sync')} +15 \\* \\* \\* \\* +UTC +syncRegions$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^created +${id('retention')} +0 4 \\* \\* \\* +Europe/Stockholm +applyRetention$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^created +${id('check-objectives')} +\\*/15 \\* \\* \\* \\* +UTC +checkObjectives$`)));
    expect(lines.at(-1)).toBe('5 created');

    const backup = (await describeOrUndefined(client, id('backup-cache')))!;
    expect(backup.action).toMatchObject({ workflowType: 'scheduledBackup', taskQueue: `${prefix}gothenburg`, workflowId: id('scheduled-backup-cache'), args: [{ source: 'cache' }] });
    expect(backup.policies).toEqual({ overlap: 'SKIP', catchupWindow: 3_600_000, pauseOnFailure: false });
    expect(backup.spec.jitter).toBe(60_000);
    expect((backup.action.typedSearchAttributes as TypedSearchAttributes).getAll().map((pair) => [pair.key.name, pair.value])).toEqual(
      expect.arrayContaining([['LifeboatSource', 'cache'], ['LifeboatRegion', 'gothenburg'], ['LifeboatKind', 'redis']]));
    const retention = (await describeOrUndefined(client, id('retention')))!;
    expect(retention.action).toMatchObject({ workflowType: 'applyRetention', taskQueue: `${prefix}any-region`, args: [{}] });
    expect(retention.policies).toMatchObject({ overlap: 'BUFFER_ONE', catchupWindow: 3 * 3_600_000 });
    expect(JSON.stringify([backup.action, backup.memo, retention.action])).not.toMatch(/PG_PASSWORD|postgres:\/\/|redis:\/\//);
  });

  it('changes nothing when applied a second time', async () => {
    const before = (await describeOrUndefined(client, id('backup-app-db')))!.info.lastUpdatedAt;
    const result = await cli(fixture.configFile, ['--json', 'schedules', 'apply']);
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout) as ApplyReport;
    expect(report.dryRun).toBe(false);
    expect(report.changes.map((c) => c.change)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged']);
    expect((await describeOrUndefined(client, id('backup-app-db')))!.info.lastUpdatedAt).toEqual(before);
  });

  it('puts back a cron that was edited behind its back, in the Temporal UI say', async () => {
    await client.schedule.getHandle(id('sync')).update((previous) => ({ ...previous, spec: { cronExpressions: ['0 0 * * *'], timezone: 'UTC' } }));
    const report = await applySchedules(client, fixture.config, false);
    expect(report.changes.find((c) => c.id === id('sync'))).toMatchObject({ change: 'updated', reasons: ['calendar changed outside Lifeboat'] });
    expect(report.changes.filter((c) => c.change === 'unchanged')).toHaveLength(4);
    expect((await describeOrUndefined(client, id('sync')))!.spec.calendars![0]).toMatchObject({ minute: [{ start: 15, end: 15, step: 1 }], hour: [{ start: 0, end: 23, step: 1 }] });
    expect((await applySchedules(client, fixture.config, false)).changes.every((c) => c.change === 'unchanged')).toBe(true);
  });

  it('updates a schedule whose cron and time zone changed, and the described spec shows them', async () => {
    const { config } = variant('new-cron', (doc) => { doc.sources['app-db'].schedule = { cron: '45 3 * * *', timezone: 'America/New_York' }; });
    const report = await applySchedules(client, config, false);
    expect(changeOf(report, id('backup-app-db'))).toBe('updated');
    expect(report.changes.find((c) => c.id === id('backup-app-db'))!.reasons).toEqual(['cron 0 */6 * * * → 45 3 * * *', 'timezone Europe/Stockholm → America/New_York']);
    expect(report.changes.filter((c) => c.change === 'unchanged')).toHaveLength(4);

    const described = (await describeOrUndefined(client, id('backup-app-db')))!;
    expect(described.spec.timezone).toBe('America/New_York');
    expect(described.spec.calendars).toHaveLength(1);
    expect(described.spec.calendars![0]).toMatchObject({ minute: [{ start: 45, end: 45, step: 1 }], hour: [{ start: 3, end: 3, step: 1 }] });
    const newYork = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hourCycle: 'h23', hour: '2-digit', minute: '2-digit' });
    expect(described.info.nextActionTimes.length).toBeGreaterThan(2);
    expect(described.info.nextActionTimes.map((at) => newYork.format(at))).toEqual(described.info.nextActionTimes.map(() => '03:45'));
    expect((await applySchedules(client, config, false)).changes.every((c) => c.change === 'unchanged')).toBe(true);
  });

  it('keeps an operator\'s pause when it updates a schedule', async () => {
    await client.schedule.getHandle(id('backup-app-db')).pause('disk replacement');
    const { config } = variant('paused', (doc) => { doc.sources['app-db'].schedule = { cron: '50 3 * * *', timezone: 'America/New_York' }; });
    expect(changeOf(await applySchedules(client, config, false), id('backup-app-db'))).toBe('updated');
    const described = (await describeOrUndefined(client, id('backup-app-db')))!;
    expect(described.state).toMatchObject({ paused: true, note: 'disk replacement' });
    expect(described.spec.calendars![0]).toMatchObject({ minute: [{ start: 50, end: 50, step: 1 }] });
  });

  it('prints what it would change with --dry-run and changes nothing', async () => {
    const before = await describeOrUndefined(client, id('backup-app-db'));
    const { file } = variant('dry-run', (doc) => {
      doc.sources['app-db'].schedule = { cron: '0 1 * * *' };
      delete doc.sources.cache;
      doc.sources.uploads.schedule = { cron: '0 5 * * 0' };
    });
    const text = await cli(file, ['schedules', 'apply', '--dry-run']);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`would be updated +${id('backup-app-db')} +0 1 \\* \\* \\* +UTC`));
    expect(text.stdout).toMatch(new RegExp(`would be deleted +${id('backup-cache')} +30 2 \\* \\* \\* +UTC +scheduledBackup +no longer in the config`));
    expect(text.stdout).toMatch(new RegExp(`would be created +${id('backup-uploads')} +0 5 \\* \\* 0 +UTC`));
    expect(text.stdout).toMatch(/dry run, nothing changed: 1 created, 1 updated, 1 deleted, 3 unchanged$/);
    const json = await cli(file, ['--json', 'schedules', 'apply', '--dry-run']);
    expect(JSON.parse(json.stdout)).toMatchObject({ dryRun: true });

    expect(await describeOrUndefined(client, id('backup-uploads'))).toBeUndefined();
    expect(await describeOrUndefined(client, id('backup-cache'))).toBeDefined();
    const after = (await describeOrUndefined(client, id('backup-app-db')))!;
    expect(after.info.lastUpdatedAt).toEqual(before!.info.lastUpdatedAt);
    expect(after.spec).toEqual(before!.spec);
  });

  it('deletes the schedule of a removed source and leaves every schedule it does not own alone', async () => {
    const action = { type: 'startWorkflow' as const, workflowType: 'backupSource', taskQueue: `${foreignPrefix}stockholm`, args: [{ source: 'cache' }] };
    // Another tool's schedule, and one that only looks like ours: the id prefix without Lifeboat's mark.
    await client.schedule.create({ scheduleId: `${foreignPrefix}backup-cache`, spec: { cronExpressions: ['0 0 * * *'] }, action });
    await client.schedule.create({ scheduleId: id('handmade'), spec: { cronExpressions: ['0 0 * * *'] }, action, memo: { summary: 'made by hand' } });
    // Visibility lags the write by a moment; apply finds schedules to delete through it.
    await expect.poll(() => ownedScheduleIds(client, fixture.config), { timeout: 15_000, interval: 250 }).toContain(id('backup-cache'));

    const { config } = variant('no-cache', (doc) => { delete doc.sources.cache; });
    const report = await applySchedules(client, config, false);
    expect(report.changes.filter((c) => c.change === 'deleted').map((c) => c.id)).toEqual([id('backup-cache')]);
    expect(await describeOrUndefined(client, id('backup-cache'))).toBeUndefined();
    for (const kept of [id('backup-app-db'), id('sync'), id('retention'), id('check-objectives'), `${foreignPrefix}backup-cache`, id('handmade')]) {
      expect(await describeOrUndefined(client, kept), kept).toBeDefined();
    }
  });

  it('lists each schedule with its next runs in its own time zone, paused state and last result', async () => {
    const { file, config } = variant('stockholm', (doc) => {
      doc.sources['app-db'].schedule = { cron: '0 */6 * * *', timezone: 'Europe/Stockholm' };
      delete doc.sources.cache;
    });
    await applySchedules(client, config, false);
    await client.schedule.getHandle(id('backup-app-db')).unpause();
    // No worker serves this fixture's queues: the triggered run stays RUNNING, and lastResult must say so.
    await client.schedule.getHandle(id('check-objectives')).trigger();
    // At least: a run at a quarter past (the schedule's own */15) may have started beside the triggered one.
    await expect.poll(async () => (await describeOrUndefined(client, id('check-objectives')))!.info.recentActions.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(1);

    const result = await cli(file, ['--json', 'schedules', 'list', '--next', '4']);
    expect(result.exitCode).toBe(0);
    const listings = JSON.parse(result.stdout) as ScheduleListing[];
    expect(listings.map((s) => s.id)).toEqual([id('backup-app-db'), id('check-objectives'), id('retention'), id('sync')]);

    const appDb = listings.find((s) => s.id === id('backup-app-db'))!;
    expect(appDb).toMatchObject({ cron: '0 */6 * * *', timezone: 'Europe/Stockholm', paused: false, inConfig: true, lastResult: null });
    expect(appDb.nextRuns).toHaveLength(4);
    const stockholmHour = new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Stockholm', hourCycle: 'h23', hour: '2-digit' });
    for (const run of appDb.nextRuns) {
      expect(run.local).toMatch(/^\d{4}-\d\d-\d\dT(00|06|12|18):00:00\+0[12]:00$/);
      expect(Date.parse(run.local)).toBe(Date.parse(run.at));
      expect(Number(stockholmHour.format(new Date(run.at))) % 6).toBe(0);
    }
    expect(new Date(appDb.nextRuns[0]!.at).getTime()).toBeGreaterThan(Date.now());

    const check = listings.find((s) => s.id === id('check-objectives'))!;
    expect(check.lastResult).toMatchObject({ status: 'RUNNING' });
    expect(check.lastResult!.workflowId.startsWith(`${id('check-objectives')}-`)).toBe(true);
    started.push({ workflowId: check.lastResult!.workflowId, runId: check.lastResult!.runId });
    await client.workflow.getHandle(check.lastResult!.workflowId, check.lastResult!.runId).terminate('test: the last result follows the run');
    const again = JSON.parse((await cli(file, ['--json', 'schedules', 'list'])).stdout) as ScheduleListing[];
    expect(again.find((s) => s.id === id('check-objectives'))!.lastResult).toMatchObject({ status: 'TERMINATED' });

    const text = await cli(file, ['schedules', 'list']);
    expect(text.stdout.split('\n')[0]).toMatch(/^SCHEDULE +CRON +TIMEZONE +STATE +NEXT RUNS \(local time\) +LAST RESULT$/);
    expect(text.stdout).toMatch(new RegExp(`${id('check-objectives')} +\\*/15 \\* \\* \\* \\* +UTC +active +.* TERMINATED ${id('check-objectives')}-`));
  });

  it('names the source, the key and what is wrong for a malformed cron, with exit code 2, and still applies the rest', async () => {
    const { file } = variant('bad-cron', (doc) => {
      doc.sources['app-db'].schedule = { cron: '61 * * * *' };
      doc.sync.schedule = { cron: '20 * * * *' };
    });
    const result = await cli(file, ['schedules', 'apply']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`lifeboat: sources.app-db.schedule.cron: "61 * * * *" was refused by Temporal: Minute is not in range [0-59] (schedule ${id('backup-app-db')})`);
    expect(result.stderr).toMatch(/hint: write the cron as "minute hour day-of-month month day-of-week"/);
    expect(result.stdout).toMatch(new RegExp(`failed +${id('backup-app-db')} +61 \\* \\* \\* \\*`));
    expect(result.stdout).toMatch(new RegExp(`updated +${id('sync')} +20 \\* \\* \\* \\*`));
    // The refused cron left the schedule as it was.
    expect((await describeOrUndefined(client, id('backup-app-db')))!.spec.calendars![0]).toMatchObject({ hour: [{ start: 0, end: 23, step: 6 }] });
  });
});
