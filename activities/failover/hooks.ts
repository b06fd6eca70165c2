import { execa } from 'execa';
import { parseDuration } from '../../lib/config/duration';
import type { FailoverHookConfig } from '../../lib/config/schema';
import { readSecretRef } from '../../lib/config/secrets';
import { LifeboatError } from '../../lib/errors';
import type { HookRun } from '../../lib/failover';
import { post } from '../notify/post';
import { sign, signatureHeader, timestampHeader } from '../notify/signature';
import { childEnvOptions } from '../../lib/child-env';

export interface HookContext {
  hook: HookRun['hook'];
  workflowId: string;
  runId: string;
  targetRegion: string;
  drill: boolean;
}

/** Lines kept of a command's output: enough to see why it failed, short enough for history. */
const tailLines = 20;

/**
 * Runs a fence / cut-over / undo hook once. A hook that fails (exit code, timeout, HTTP error) is
 * a result with ok: false, so the workflow decides what it means; only a hook that cannot even be
 * started for want of config throws.
 */
export async function runHook(config: FailoverHookConfig, context: HookContext, env: NodeJS.ProcessEnv): Promise<HookRun> {
  const timeoutMs = parseDuration(config.timeout);
  const started = Date.now();
  if (config.command) {
    const [file, ...args] = config.command;
    const result = await execa(file!, args, {
      reject: false,
      timeout: timeoutMs,
      stdin: 'ignore',
      // Only the failover's context: a hook that needs a credential reads it from its own file.
      ...childEnvOptions({ LIFEBOAT_FAILOVER_ID: context.workflowId, LIFEBOAT_TARGET_REGION: context.targetRegion, LIFEBOAT_STEP: context.hook, LIFEBOAT_DRILL: String(context.drill) }),
    });
    const ms = Date.now() - started;
    const ok = result.exitCode === 0 && !result.timedOut;
    const ended = result.timedOut ? `timed out after ${config.timeout}` : result.exitCode === undefined ? `could not start: ${result.shortMessage}` : `exit ${result.exitCode}`;
    return { hook: context.hook, how: 'command', ok, detail: `${file}: ${ended} after ${ms} ms`, stdoutTail: tail(`${result.stdout ?? ''}`), stderrTail: tail(`${result.stderr ?? ''}`), ms };
  }
  const label = `failover ${context.hook} hook`;
  const url = config.url ?? readSecretRef(config.urlEnv, config.urlFile, `${label} URL`, env);
  if (!url || !URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) {
    throw new LifeboatError('Config', `${label}: no http(s) URL in url/urlEnv/urlFile`, `check failover.hooks.${context.hook}`);
  }
  const key = readSecretRef(config.secretEnv, config.secretFile, `${label} signing key`, env);
  const body = JSON.stringify({ kind: `failover-${context.hook}`, failoverId: context.workflowId, runId: context.runId, targetRegion: context.targetRegion, drill: context.drill, at: new Date().toISOString() });
  const headers: Record<string, string> = {};
  if (key) {
    const timestamp = Math.floor(Date.now() / 1000);
    headers[timestampHeader] = String(timestamp);
    headers[signatureHeader] = sign(key, timestamp, body);
  }
  try {
    const status = await post({ url, label, body, headers, timeoutMs });
    return { hook: context.hook, how: 'webhook', ok: true, detail: `HTTP ${status} after ${Date.now() - started} ms`, ms: Date.now() - started };
  } catch (error) {
    // post() names the host only, never the path or query that may hold a token.
    return { hook: context.hook, how: 'webhook', ok: false, detail: (error as Error).message, ms: Date.now() - started };
  }
}

function tail(text: string): string {
  return text.trimEnd().split('\n').slice(-tailLines).join('\n');
}

