import { createHmac, timingSafeEqual } from 'node:crypto';

// The generic webhook's signature, as receivers must check it (README "Signature"):
//   X-Lifeboat-Timestamp: <unix seconds when this attempt was sent>
//   X-Lifeboat-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<raw body>")>
// The timestamp is inside the signed text, so a receiver that refuses old timestamps (say,
// older than 5 minutes) and remembers X-Lifeboat-Delivery ids refuses replays.

export const timestampHeader = 'x-lifeboat-timestamp';
export const signatureHeader = 'x-lifeboat-signature';
export const deliveryHeader = 'x-lifeboat-delivery';

export function sign(key: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', key).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a receiver written in TypeScript would run; the tests use it too. */
export function verify(key: string, headers: { timestamp: string | undefined; signature: string | undefined }, body: string, nowSeconds: number, toleranceSeconds = 300): boolean {
  if (!headers.timestamp || !headers.signature || !/^\d+$/.test(headers.timestamp)) return false;
  const timestamp = Number(headers.timestamp);
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(sign(key, timestamp, body));
  const given = Buffer.from(headers.signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
