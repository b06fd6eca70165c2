const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export const durationPattern = /^(\d+)(ms|s|m|h|d)$/;

/** "90s", "6h", "7d" → milliseconds. The schema has already checked the shape. */
export function parseDuration(text: string): number {
  const match = durationPattern.exec(text);
  if (!match) throw new Error(`not a duration: "${text}" (expected e.g. 30s, 15m, 6h, 7d)`);
  return Number(match[1]) * units[match[2] as keyof typeof units];
}
