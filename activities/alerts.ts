import { Context } from '@temporalio/activity';
import type { Alert } from '../lib/alerts';
import { LifeboatError } from '../lib/errors';
import { countAlert } from './metrics';
import type { Deps } from './deps';
import { channelLabel, channelSecrets } from './notify/channel';
import { post } from './notify/post';
import { deliveryHeader, sign, signatureHeader, timestampHeader } from './notify/signature';
import { slackMessage } from './notify/slack';

/** What a workflow may know of a channel: where it is in the list and what it is, no secret. */
export interface AlertChannelRef {
  index: number;
  label: string;
}

export interface SendAlertInput {
  alert: Alert;
  channel: number;
}

export function alertActivities(deps: Deps) {
  /** The configured channels, so the workflow can send to each in its own activity. */
  async function alertChannels(): Promise<AlertChannelRef[]> {
    return deps.config.alerts.channels.map((channel, index) => ({ index, label: channelLabel(channel, index) }));
  }

  /** One POST to one channel; Temporal retries it on its own, apart from the other channels. */
  async function sendAlert({ alert, channel: index }: SendAlertInput): Promise<void> {
    const channel = deps.config.alerts.channels[index];
    if (!channel) {
      throw new LifeboatError('Config', `no alert channel ${index + 1} in the worker's config (it has ${deps.config.alerts.channels.length})`,
        'give every worker the same config file');
    }
    const label = channelLabel(channel, index);
    const { url, key } = channelSecrets(channel, label, deps.env);
    const info = Context.current().info;
    // The same id on every attempt: a receiver that saw it already can drop the repeat.
    const run = info.workflowExecution;
    const delivery = run ? `${run.workflowId}/${run.runId}/${info.activityId}` : info.activityId;
    const headers: Record<string, string> = { [deliveryHeader]: delivery };
    let body: string;
    if (channel.type === 'slack') {
      body = JSON.stringify(slackMessage(alert));
    } else {
      body = JSON.stringify(alert);
      if (key) {
        const timestamp = Math.floor(Date.now() / 1000);
        headers[timestampHeader] = String(timestamp);
        headers[signatureHeader] = sign(key, timestamp, body);
      }
    }
    const metricLabel = `${index + 1}-${channel.type}`;
    try {
      await post({ url, label, body, headers });
      countAlert(alert.kind, metricLabel, 'sent');
    } catch (error) {
      const lastAttempt = info.attempt >= (info.retryPolicy?.maximumAttempts ?? Infinity);
      countAlert(alert.kind, metricLabel, (error instanceof LifeboatError && !error.retryable) || lastAttempt ? 'failed' : 'retry');
      throw error;
    }
  }

  return { alertChannels, sendAlert };
}
