// One way to make a URL safe to print, log, put in an error or in a child's argv: the password
// after "user:" and the value of every query parameter that can carry a secret are masked.

/** Query parameters that libpq, Redis clients and webhooks read secrets from. */
const secretQueryKey = /^(password|passwd|pass|pwd|sslpassword|secret|token|auth|access_?token|api_?key|key|sig|signature)$/i;

export const mask = '***';

export function isSecretQueryKey(key: string): boolean {
  return secretQueryKey.test(key);
}

/** The query parameters of `url` that carry a secret (empty when it has none or is not a URL). */
export function secretQueryKeys(url: string): string[] {
  if (!URL.canParse(url)) return [];
  return [...new Set([...new URL(url).searchParams.keys()].filter(isSecretQueryKey))];
}

/** `url` with its password and secret query values masked; text that is not a URL is returned as it is. */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) return url;
  const parsed = new URL(url);
  if (parsed.password) parsed.password = mask;
  for (const key of secretQueryKeys(url)) {
    const count = parsed.searchParams.getAll(key).length;
    parsed.searchParams.delete(key);
    for (let i = 0; i < count; i += 1) parsed.searchParams.append(key, mask);
  }
  return parsed.toString().replaceAll(encodeURIComponent(mask), mask);
}

/** Every URL inside free text (an error message, a tool's stderr, a JSON document) passed through redactUrl. */
export function redactUrls(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi, (url) => redactUrl(url));
}
