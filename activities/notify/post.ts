import { LifeboatError } from '../../lib/errors';

/** Every request ends by then: a receiver that hangs must not hold a worker slot. */
export const requestTimeoutMs = 10_000;

export interface PostRequest {
  url: string;
  /** What errors and logs may say instead of the URL, whose path is often the secret. */
  label: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs?: number;
}

/**
 * POSTs once. 429, 5xx, timeouts and network errors are retryable (AlertDelivery); any other
 * non-2xx is the receiver refusing the message for good (AlertRejected). Messages name the host
 * only, never the path or query, where Slack and most webhooks keep their token.
 */
export async function post({ url, label, body, headers, timeoutMs = requestTimeoutMs }: PostRequest): Promise<number> {
  const where = `${label} at ${hostOf(url)}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'lifeboat', ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
  } catch (error) {
    throw new LifeboatError('AlertDelivery', `${where}: ${describeFetchError(error, timeoutMs)}`, 'Temporal retries it; check that the receiver is up');
  }
  // The body is read (and dropped) so the connection can be reused; its text may echo the token.
  await response.arrayBuffer().catch(() => undefined);
  const status = response.status;
  if (status >= 200 && status < 300) return status;
  if (status === 429 || status >= 500) {
    throw new LifeboatError('AlertDelivery', `${where}: HTTP ${status}`, 'Temporal retries it; the receiver is busy or failing');
  }
  throw new LifeboatError('AlertRejected', `${where}: HTTP ${status}, the receiver refused the alert; not retried`,
    status === 404 || status === 403 || status === 401 || status === 410
      ? 'the webhook URL or its signing key is wrong or was revoked: check the channel\'s urlEnv/urlFile/secretEnv/secretFile'
      : 'the receiver does not accept this message: check what it expects');
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an unparsable URL';
  }
}

function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutMs / 1000}s`;
  // undici puts the system error (ECONNREFUSED, ENOTFOUND…) in the cause; its own message may hold the URL.
  const cause = (error as { cause?: { code?: string } }).cause;
  return cause?.code ? `cannot connect (${cause.code})` : 'cannot connect';
}
