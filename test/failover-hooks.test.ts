import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHook, type HookContext } from '../activities/failover/hooks';
import { verify } from '../activities/notify/signature';
import type { FailoverHookConfig } from '../lib/config/schema';
import { LifeboatError } from '../lib/errors';
import { startReceiver, type Receiver } from './support/receiver';

const context: HookContext = { hook: 'cutover', workflowId: 'lb-failover', runId: 'run-1', targetRegion: 'gothenburg', drill: false };
const hook = (fields: Partial<FailoverHookConfig>): FailoverHookConfig => ({ timeout: '10s', ...fields });

describe('failover hooks', () => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('runs a command without a shell, with the failover in its environment, and keeps the tail of its output', async () => {
    const run = await runHook(hook({ command: ['/bin/sh', '-c', 'for i in $(seq 1 30); do echo line $i; done; echo "$LIFEBOAT_FAILOVER_ID $LIFEBOAT_TARGET_REGION $LIFEBOAT_STEP $LIFEBOAT_DRILL" >&2'] }), context, {});
    expect(run).toMatchObject({ hook: 'cutover', how: 'command', ok: true, stderrTail: 'lb-failover gothenburg cutover false' });
    expect(run.detail).toMatch(/^\/bin\/sh: exit 0 after \d+ ms$/);
    expect(run.stdoutTail!.split('\n')).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i + 11}`));
  });

  it('reports a command that fails, times out or cannot start as not ok, without throwing', async () => {
    expect(await runHook(hook({ command: ['/bin/sh', '-c', 'exit 4'] }), context, {})).toMatchObject({ ok: false, detail: expect.stringMatching(/exit 4/) });
    expect(await runHook(hook({ command: ['/bin/sleep', '5'], timeout: '1s' }), context, {})).toMatchObject({ ok: false, detail: expect.stringContaining('timed out after 1s') });
    expect(await runHook(hook({ command: ['/nonexistent/fence'] }), context, {})).toMatchObject({ ok: false, detail: expect.stringContaining('could not start') });
  });

  it('POSTs a signed JSON body to a webhook named by an environment variable, and never names its path', async () => {
    const env = { CUTOVER_URL: `${receiver.url}/secret-token/cutover`, CUTOVER_KEY: 'k3y' };
    const run = await runHook(hook({ urlEnv: 'CUTOVER_URL', secretEnv: 'CUTOVER_KEY' }), context, env);
    expect(run).toMatchObject({ how: 'webhook', ok: true, detail: expect.stringMatching(/^HTTP 200 after \d+ ms$/) });
    const request = receiver.requests.at(-1)!;
    expect(request.path).toBe('/secret-token/cutover');
    expect(JSON.parse(request.body)).toMatchObject({ kind: 'failover-cutover', failoverId: 'lb-failover', runId: 'run-1', targetRegion: 'gothenburg', drill: false });
    expect(verify('k3y', { timestamp: request.headers['x-lifeboat-timestamp'], signature: request.headers['x-lifeboat-signature'] }, request.body, Math.floor(Date.now() / 1000))).toBe(true);

    receiver.answer('/secret-token/cutover', 500);
    const refused = await runHook(hook({ urlEnv: 'CUTOVER_URL' }), context, env);
    expect(refused.ok).toBe(false);
    expect(refused.detail).toContain('HTTP 500');
    expect(refused.detail).not.toContain('secret-token');
  });

  it('throws a Config error when the webhook URL\'s variable is not set', async () => {
    await expect(runHook(hook({ urlEnv: 'NOT_SET_ANYWHERE' }), context, {})).rejects.toSatisfy((error: unknown) => error instanceof LifeboatError && error.type === 'Config' && error.message.includes('NOT_SET_ANYWHERE'));
  });
});
