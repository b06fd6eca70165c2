import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applySchedules } from '../client/schedules/reconcile';
import type { Alert } from '../lib/alerts';
import { startWorkers, type RunningWorkers } from '../worker/run';
import { dataConverterOf } from '../lib/codec/data-converter';
import { freePorts } from './harness/ports';
import { makeFixture, type Fixture } from './support/fixture';
import { startReceiver, type Receiver } from './support/receiver';
import { extendFixture } from './support/sync';

const servers = inject('servers');

describe('the scheduled RPO check when the primary region is lost', () => {
  let fixture: Fixture;
  let receiver: Receiver;
  let workers: RunningWorkers;
  let connection: Connection;
  let client: Client;

  beforeAll(async () => {
    receiver = await startReceiver();
    const base = await makeFixture(servers, () => ({ ledger: { kind: 'files', region: 'stockholm', path: '/nonexistent' } }), {
      objectives: { rpo: '1h', rto: '4h' },
      alerts: { channels: [{ type: 'webhook', url: `${receiver.url}/pager` }] },
      sync: { afterBackup: false },
    });
    // Stockholm, the primary, is gone: no worker polls its queue and its storage answers no one.
    const [closed] = await freePorts(1);
    fixture = extendFixture(base, { regions: { stockholm: { storage: { ...base.config.regions.stockholm!.storage, endpoint: `http://127.0.0.1:${closed}` } } } });
    workers = await startWorkers(fixture.config, ['gothenburg']);
    connection = await Connection.connect({ address: servers.temporal.address });
    client = new Client({ connection, namespace: servers.temporal.namespace, dataConverter: dataConverterOf(fixture.config) });
  });

  afterAll(async () => {
    await client?.schedule.getHandle(`${fixture.config.temporal.taskQueuePrefix}check-objectives`).delete().catch(() => undefined);
    workers?.shutdown();
    await workers?.done;
    await connection?.close();
    await receiver?.close();
    fixture?.cleanup();
  });

  it('runs on a surviving region\'s worker and still sends the rpo-missed alert', async () => {
    const report = await applySchedules(client, fixture.config, false);
    expect(report.changes.map((c) => [c.id, c.change])).toEqual([[`${fixture.config.temporal.taskQueuePrefix}check-objectives`, 'created']]);
    await client.schedule.getHandle(`${fixture.config.temporal.taskQueuePrefix}check-objectives`).trigger();
    const alerts = () => receiver.requests.map((r) => JSON.parse(r.body) as Alert).filter((a) => a.kind === 'rpo-missed');
    await expect.poll(() => alerts().length, { timeout: 45_000, interval: 250 }).toBeGreaterThan(0);
    expect(alerts()[0]).toMatchObject({
      source: 'ledger', severity: 'critical', title: 'ledger: no backup at all, RPO is 1.0h',
      text: expect.stringContaining('The catalogs of stockholm could not be read'),
    });
  });
});
