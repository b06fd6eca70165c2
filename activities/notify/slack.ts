import type { Alert, AlertSeverity } from '../../lib/alerts';

const marks: Record<AlertSeverity, string> = { critical: ':rotating_light:', warning: ':warning:', info: ':white_check_mark:' };

/** A Slack incoming-webhook message: `text` alone is enough for Slack, Mattermost and Rocket.Chat. */
export function slackMessage(alert: Alert): { text: string; blocks: unknown[] } {
  const facts = [alert.source && `source: ${alert.source}`, alert.region && `region: ${alert.region}`, alert.workflowId && `workflow: ${alert.workflowId}`]
    .filter(Boolean).join(' · ');
  const text = `${marks[alert.severity]} *${alert.title}*\n${alert.text}`;
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `${alert.kind} · ${alert.severity}${facts ? ` · ${facts}` : ''} · ${alert.at}` }] },
    ],
  };
}
