import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startReceiver, type Receiver } from './support/receiver';
import { makeFixture, type Fixture } from './support/fixture';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

describe('lifeboat doctor and the alert channels', () => {
  let fixture: Fixture;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    fixture = await makeFixture(servers, () => ({}), {
      alerts: { channels: [{ type: 'webhook', urlEnv: 'DOCTOR_HOOK_URL', secretEnv: 'DOCTOR_HOOK_KEY' }, { type: 'slack', urlEnv: 'DOCTOR_SLACK_URL' }] },
    });
  });

  afterAll(async () => {
    await receiver?.close();
    fixture?.cleanup();
  });

  it('checks that each channel\'s URL and key can be read, names a missing one, and sends nothing', async () => {
    const env = { ...fixture.env, DOCTOR_HOOK_URL: `${receiver.url}/hooks/DOCTORSECRET`, DOCTOR_HOOK_KEY: 'k' };
    const result = await execa(lifeboat, ['--config', fixture.configFile, '--json', 'doctor'], { env, reject: false });
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: Array<{ check: string; ok: boolean; detail: string }> };
    const byName = Object.fromEntries(report.checks.map((c) => [c.check, c]));
    expect(byName['alert channel 1 (webhook)']).toEqual({ check: 'alert channel 1 (webhook)', ok: true, detail: `${new URL(receiver.url).host}, signed (not sent)` });
    expect(byName['alert channel 2 (slack)']).toMatchObject({ ok: false, detail: expect.stringContaining('environment variable DOCTOR_SLACK_URL is not set') });
    expect(report.ok).toBe(false);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('alert channel 2 (slack)');
    expect(`${result.stdout}${result.stderr}`).not.toContain('DOCTORSECRET');
    expect(receiver.requests).toEqual([]);
  });
});
