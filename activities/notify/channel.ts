import type { AlertChannelConfig } from '../../lib/config/schema';
import { readSecretRef } from '../../lib/config/secrets';
import { LifeboatError } from '../../lib/errors';

/** How logs, errors and workflow history name a channel: its place and type, never its URL. */
export function channelLabel(channel: AlertChannelConfig, index: number): string {
  return `alert channel ${index + 1} (${channel.type})`;
}

/** The channel's URL and signing key, read now, in the worker, so they never reach history. */
export function channelSecrets(channel: AlertChannelConfig, label: string, env: NodeJS.ProcessEnv): { url: string; key?: string } {
  const url = channel.type === 'webhook' && channel.url ? channel.url : readSecretRef(channel.urlEnv, channel.urlFile, `${label} URL`, env);
  if (!url) throw new LifeboatError('Config', `${label}: no URL`, 'set urlEnv or urlFile');
  // Said without the value: it may be a token pasted into the wrong variable.
  if (!URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) {
    throw new LifeboatError('Config', `${label}: the URL it names is not an http(s) URL`, 'check the channel\'s urlEnv/urlFile content');
  }
  const key = channel.type === 'webhook' ? readSecretRef(channel.secretEnv, channel.secretFile, `${label} signing key`, env) : undefined;
  return { url, key };
}

