import { log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Alert } from '../lib/alerts';
import { shortCall } from './timeouts';

const channels = proxyActivities<Activities>(shortCall);

// A channel that is down for a quarter of a minute is retried; one down longer loses this alert
// (logged) rather than holding up the backup that raised it.
const delivery = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 5 },
});

/**
 * Sends the alert to every configured channel, one activity per channel, so Temporal retries
 * each on its own and never sends twice to a channel that took it. Never throws: an alert that
 * cannot be delivered is logged, and the workflow that raised it goes on.
 */
export async function raiseAlert(alert: Alert): Promise<void> {
  const full: Alert = { ...alert, workflowId: alert.workflowId ?? workflowInfo().workflowId };
  let refs;
  try {
    refs = await channels.alertChannels();
  } catch (error) {
    log.error('alert not sent: cannot list the alert channels', { kind: full.kind, title: full.title, error: String(error) });
    return;
  }
  await Promise.all(refs.map(async (ref) => {
    try {
      await delivery.sendAlert({ alert: full, channel: ref.index });
    } catch (error) {
      log.error('alert not delivered', { channel: ref.label, kind: full.kind, title: full.title, error: messageOf(error) });
    }
  }));
}

function messageOf(error: unknown): string {
  const cause = (error as { cause?: { message?: string } }).cause;
  return cause?.message ?? String(error);
}

/**
 * Now, for an alert's `at`. Temporal's sandbox makes Date replay-safe (it is the time of the
 * current workflow task), which workflowInfo()'s start times are not: a backup fails hours in.
 */
export function alertTime(): string {
  // eslint-disable-next-line no-restricted-properties -- replay-safe in the workflow sandbox, see above
  return new Date(Date.now()).toISOString();
}
