// S3 allows 10,000 parts per upload. A fixed part size large enough for 1 TiB (105 MiB) would hold
// hundreds of MiB in memory for every backup; growing the part size with the part number keeps
// ordinary backups at 8 MiB parts and still fits objects beyond 1 TiB.
const MiB = 1024 * 1024;

export const MAX_PARTS = 10_000;

const tiers: Array<{ untilPart: number; size: number }> = [
  { untilPart: 1_000, size: 8 * MiB },
  { untilPart: 3_000, size: 32 * MiB },
  { untilPart: MAX_PARTS, size: 144 * MiB },
];

/** The size of 1-based part number `part`. */
export function partSize(part: number): number {
  for (const tier of tiers) if (part <= tier.untilPart) return tier.size;
  throw new Error(`part ${part} exceeds the S3 limit of ${MAX_PARTS} parts`);
}

/** The largest object the schedule can hold. */
export function maxObjectSize(): number {
  let total = 0;
  let previous = 0;
  for (const tier of tiers) {
    total += (tier.untilPart - previous) * tier.size;
    previous = tier.untilPart;
  }
  return total;
}
