import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelSecrets } from '../activities/notify/channel';
import { post } from '../activities/notify/post';
import { LifeboatError } from '../lib/errors';
import { freePorts } from './harness/ports';
import { startReceiver, type Receiver } from './support/receiver';

const secretPath = '/hooks/T0/B0/SECRETTOKEN';

async function failureOf(promise: Promise<unknown>): Promise<LifeboatError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(LifeboatError);
  return error as LifeboatError;
}

describe('posting an alert to a webhook', () => {
  let receiver: Receiver;
  let silent: Server;
  let silentUrl: string;

  beforeAll(async () => {
    receiver = await startReceiver();
    // Accepts the connection and never answers: only the request timeout ends the wait.
    silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}${secretPath}`;
  });

  afterAll(async () => {
    await receiver?.close();
    silent?.closeAllConnections();
    await new Promise((resolve) => silent?.close(resolve));
  });

  const request = (url: string) => ({ url, label: 'alert channel 1 (webhook)', body: '{}', headers: {} });

  it('returns the status of a 2xx answer', async () => {
    receiver.answer(secretPath, 204);
    await expect(post(request(`${receiver.url}${secretPath}`))).resolves.toBe(204);
  });

  it.each([429, 500, 502, 503])('retries HTTP %i and names the host, never the path', async (status) => {
    receiver.answer(secretPath, status);
    const error = await failureOf(post(request(`${receiver.url}${secretPath}`)));
    expect(error).toMatchObject({ type: 'AlertDelivery', retryable: true });
    expect(error.message).toBe(`alert channel 1 (webhook) at ${new URL(receiver.url).host}: HTTP ${status}`);
  });

  it.each([400, 401, 404, 410, 301])('does not retry HTTP %i', async (status) => {
    receiver.answer(secretPath, status);
    const error = await failureOf(post(request(`${receiver.url}${secretPath}`)));
    expect(error).toMatchObject({ type: 'AlertRejected', retryable: false });
    expect(error.message).toContain(`HTTP ${status}`);
    expect(`${error.message} ${error.hint}`).not.toContain('SECRETTOKEN');
  });

  it('retries a refused connection', async () => {
    const [port] = await freePorts(1);
    const error = await failureOf(post(request(`http://127.0.0.1:${port}${secretPath}`)));
    expect(error).toMatchObject({ type: 'AlertDelivery', message: `alert channel 1 (webhook) at 127.0.0.1:${port}: cannot connect (ECONNREFUSED)` });
  });

  it('gives up on a receiver that does not answer within the timeout, and retries later', async () => {
    const started = Date.now();
    const error = await failureOf(post({ ...request(silentUrl), timeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toMatchObject({ type: 'AlertDelivery' });
    expect(error.message).toMatch(/: no answer within 0\.3s$/);
    expect(error.message).not.toContain('SECRETTOKEN');
  });
});

describe('reading a channel\'s secrets', () => {
  it('reads the URL and the signing key from the environment at send time', () => {
    const env = { HOOK: 'https://example.test/x', KEY: 'k1\n' };
    expect(channelSecrets({ type: 'webhook', urlEnv: 'HOOK', secretEnv: 'KEY' }, 'alert channel 1 (webhook)', env)).toEqual({ url: 'https://example.test/x', key: 'k1' });
  });

  it('says which variable is missing', () => {
    expect(() => channelSecrets({ type: 'slack', urlEnv: 'NOT_SET_HERE' }, 'alert channel 2 (slack)', {}))
      .toThrow('alert channel 2 (slack) URL: environment variable NOT_SET_HERE is not set');
  });

  it('refuses a value that is not an http(s) URL without printing it', () => {
    const call = () => channelSecrets({ type: 'slack', urlEnv: 'SLACK' }, 'alert channel 1 (slack)', { SLACK: 'xoxb-secret-token' });
    expect(call).toThrow(/not an http\(s\) URL/);
    expect(call).not.toThrow(/xoxb/);
  });
});
