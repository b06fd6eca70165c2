import type { VerifiedSummary } from '../../activities/verify-catalog';
import { age } from './ages';

/** "41 s", "12 min", "1.5 h": how long a verification's restore took. */
export function restoreDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * The VERIFIED column: "verified 3.0h ago (restore 41 s)", "integrity 2.0h ago", "FAILED 1.0h ago",
 * "never". Only a passed restore says "verified": integrity proves the bytes, not a working restore.
 */
export function verifiedText(verified: VerifiedSummary | null, now: number): string {
  if (!verified) return 'never';
  const ago = `${age(Math.max(0, Math.round((now - Date.parse(verified.at)) / 1000)))} ago`;
  if (verified.outcome === 'failed') return `FAILED ${ago}${verified.level === 'restore' ? ' (restore)' : ' (integrity)'}`;
  if (verified.level === 'integrity') return `integrity ${ago}`;
  return `verified ${ago}${verified.restoreMs === null ? '' : ` (restore ${restoreDuration(verified.restoreMs)})`}`;
}
