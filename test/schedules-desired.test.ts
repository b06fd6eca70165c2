import { describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config/load';
import { desiredSchedules } from '../lib/schedules/desired';
import { localTime } from '../lib/schedules/local-time';

const recipient = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

function config(extra: string, sources: string) {
  return parseConfig(`
primaryRegion: stockholm
regions:
  stockholm: { storage: { type: local, path: /srv/sto } }
  malmo: { storage: { type: local, path: /srv/mal } }
encryption: { recipients: [${recipient}] }
catalog: { trustedKeys: [MCowBQYDK2VwAyEAFG/YD/PCU6ibMaIW4yUreQbD7pURy+K18RbgMe289C4=] }
${extra}
sources:
${sources}
`);
}

const twoSources = `
  app-db:
    kind: postgres
    region: malmo
    url: postgres://app@127.0.0.1:5432/app
    passwordEnv: APP_DB_PASSWORD
    schedule: { cron: "0 */6 * * *", timezone: Europe/Stockholm, jitter: 5m, overlap: BUFFER_ONE, catchupWindow: 30m }
  cache: { kind: redis, region: stockholm, url: "redis://127.0.0.1:6379", schedule: { cron: "30 2 * * *" } }
  uploads: { kind: files, region: stockholm, path: /srv/uploads }
`;

describe('the schedules a config asks for', () => {
  it('makes one backup schedule per source that has a schedule, on the source\'s region queue', () => {
    const schedules = desiredSchedules(config('', twoSources));
    expect(schedules.map((s) => s.id)).toEqual(['lifeboat-backup-app-db', 'lifeboat-backup-cache']);
    expect(schedules[0]).toMatchObject({
      kind: 'backup', workflowType: 'scheduledBackup', args: [{ source: 'app-db' }], taskQueue: 'lifeboat-malmo', workflowId: 'lifeboat-scheduled-backup-app-db',
      cron: '0 */6 * * *', timezone: 'Europe/Stockholm', jitterMs: 300_000, overlap: 'BUFFER_ONE', catchupWindowMs: 1_800_000,
      searchAttributes: { source: 'app-db', region: 'malmo', kind: 'postgres' }, configKey: 'sources.app-db.schedule',
    });
  });

  it('fills in UTC, no jitter, SKIP and a one-hour catch-up window when the config says nothing', () => {
    const cache = desiredSchedules(config('', twoSources)).find((s) => s.id === 'lifeboat-backup-cache');
    expect(cache).toMatchObject({ timezone: 'UTC', jitterMs: undefined, overlap: 'SKIP', catchupWindowMs: 3_600_000, taskQueue: 'lifeboat-stockholm' });
  });

  it('adds sync, retention and objectives schedules on the queue every region\'s worker polls, under the configured prefix', () => {
    const extra = `
temporal: { taskQueuePrefix: lb-eu- }
objectives: { rpo: 6h, rto: 4h }
sync: { schedule: { cron: "15 * * * *" } }
retention: { schedule: { cron: "0 4 * * *", timezone: Europe/Stockholm } }
`;
    const schedules = desiredSchedules(config(extra, twoSources));
    expect(schedules.map((s) => [s.id, s.workflowType, s.taskQueue, s.cron, s.timezone])).toEqual([
      ['lb-eu-backup-app-db', 'scheduledBackup', 'lb-eu-malmo', '0 */6 * * *', 'Europe/Stockholm'],
      ['lb-eu-backup-cache', 'scheduledBackup', 'lb-eu-stockholm', '30 2 * * *', 'UTC'],
      ['lb-eu-sync', 'syncRegions', 'lb-eu-any-region', '15 * * * *', 'UTC'],
      ['lb-eu-retention', 'applyRetention', 'lb-eu-any-region', '0 4 * * *', 'Europe/Stockholm'],
      ['lb-eu-check-objectives', 'checkObjectives', 'lb-eu-any-region', '*/15 * * * *', 'UTC'],
    ]);
    expect(schedules.slice(2).every((s) => s.searchAttributes === undefined && JSON.stringify(s.args) === '[{}]')).toBe(true);
  });

  it('asks for no schedule when no source, sync or retention has one and there are no objectives', () => {
    expect(desiredSchedules(config('', '  uploads: { kind: files, region: stockholm, path: /srv/uploads }'))).toEqual([]);
  });

  it('keeps a schedule\'s hash while the config means the same and changes it with the cron or the time zone', () => {
    const hashOf = (sources: string) => desiredSchedules(config('', sources)).find((s) => s.id === 'lifeboat-backup-cache')!.hash;
    const same = hashOf(twoSources);
    expect(hashOf(twoSources)).toBe(same);
    expect(hashOf(twoSources.replace('schedule: { cron: "30 2 * * *" }', 'schedule: { timezone: UTC, cron: "30 2 * * *" }'))).toBe(same);
    expect(hashOf(twoSources.replace('"30 2 * * *"', '"30 3 * * *"'))).not.toBe(same);
    expect(hashOf(twoSources.replace('"30 2 * * *" }', '"30 2 * * *", timezone: Europe/Stockholm }'))).not.toBe(same);
  });

  it('puts no secret into a schedule\'s input', () => {
    const text = JSON.stringify(desiredSchedules(config('', twoSources)).map((s) => s.args));
    expect(text).not.toMatch(/postgres:|redis:|APP_DB_PASSWORD/);
  });
});

describe('the verification schedules a config asks for', () => {
  const verifying = `
  app-db:
    kind: postgres
    region: malmo
    url: postgres://app@127.0.0.1:5432/app
    passwordEnv: APP_DB_PASSWORD
    verify: { integrity: { cron: "0 3 * * *" }, restore: { cron: "0 4 * * 0", timezone: Europe/Stockholm } }
  cache: { kind: redis, region: stockholm, url: "redis://127.0.0.1:6379", verify: { restore: { cron: "0 5 * * 1" } } }
  uploads: { kind: files, region: stockholm, path: /srv/uploads, verify: { strategy: random-within-window } }
`;

  it('makes one verifyRestore schedule per level a source asks for, on the source\'s region queue', () => {
    const schedules = desiredSchedules(config('temporal: { taskQueuePrefix: lb-eu- }', verifying));
    expect(schedules.map((s) => [s.id, s.kind, s.workflowType, s.args, s.taskQueue, s.cron, s.timezone])).toEqual([
      ['lb-eu-verify-integrity-app-db', 'verify', 'verifyRestore', [{ source: 'app-db', level: 'integrity' }], 'lb-eu-malmo', '0 3 * * *', 'UTC'],
      ['lb-eu-verify-restore-app-db', 'verify', 'verifyRestore', [{ source: 'app-db', level: 'restore' }], 'lb-eu-malmo', '0 4 * * 0', 'Europe/Stockholm'],
      ['lb-eu-verify-restore-cache', 'verify', 'verifyRestore', [{ source: 'cache', level: 'restore' }], 'lb-eu-stockholm', '0 5 * * 1', 'UTC'],
    ]);
  });

  it('tags verification schedules with the source\'s search attributes and names the config key', () => {
    const [integrity] = desiredSchedules(config('', verifying));
    expect(integrity).toMatchObject({
      workflowId: 'lifeboat-verify-integrity-app-db', configKey: 'sources.app-db.verify.integrity',
      searchAttributes: { source: 'app-db', region: 'malmo', kind: 'postgres' },
    });
  });

  it('asks for no verification schedule when verify names no integrity or restore cron', () => {
    expect(desiredSchedules(config('', '  uploads: { kind: files, region: stockholm, path: /srv/uploads, verify: { strategy: latest } }'))).toEqual([]);
  });

  it('changes only the changed level\'s hash when one verification cron changes', () => {
    const hashes = (sources: string) => desiredSchedules(config('', sources)).map((s) => s.hash);
    const [integrity, restore] = hashes(verifying);
    const [integrity2, restore2] = hashes(verifying.replace('"0 4 * * 0"', '"0 4 * * 6"'));
    expect(integrity2).toBe(integrity);
    expect(restore2).not.toBe(restore);
  });
});

describe('a schedule\'s cron in the config', () => {
  const withCron = (cron: string) => `  cache: { kind: redis, region: stockholm, url: "redis://127.0.0.1:6379", schedule: { cron: ${JSON.stringify(cron)} } }`;
  const refusal = (cron: string) => {
    try {
      config('', withCron(cron));
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error(`expected "${cron}" to be refused`);
  };

  it('accepts five to seven fields and Temporal\'s @ shorthands', () => {
    for (const cron of ['0 */6 * * *', '30 2 * * * 2027', '0 30 2 * * * 2027', '@daily', '@hourly', '@every 90m', ' 15 * * * * ']) {
      expect(desiredSchedules(config('', withCron(cron)))[0]!.cron).toBe(cron.trim());
    }
  });

  it('refuses a cron with too few fields when the config is loaded, naming the key', () => {
    expect(refusal('0 */6 * *')).toContain('sources.cache.schedule.cron: expected a cron expression such as "0 */6 * * *"');
    expect(refusal('0 */6 * *')).toContain('found "0 */6 * *"');
  });

  it('refuses a zone written into the cron, which would silently override the timezone key', () => {
    expect(refusal('CRON_TZ=Asia/Tokyo 0 1 * * *')).toContain('sources.cache.schedule.cron: expected a cron without CRON_TZ=');
  });
});

describe('local run times', () => {
  it('shows an instant in Stockholm with its winter and its summer offset', () => {
    expect(localTime(new Date('2026-11-24T17:00:00Z'), 'Europe/Stockholm')).toBe('2026-11-24T18:00:00+01:00');
    expect(localTime(new Date('2026-07-01T22:30:00Z'), 'Europe/Stockholm')).toBe('2026-07-02T00:30:00+02:00');
    expect(localTime(new Date('2026-07-01T22:30:00Z'), 'America/St_Johns')).toBe('2026-07-01T20:00:00-02:30');
    expect(localTime(new Date('2026-07-01T22:30:00Z'), 'UTC')).toBe('2026-07-01T22:30:00+00:00');
  });
});
