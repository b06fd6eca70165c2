import { parseDuration } from '../../../lib/config/duration';
import type { SnapshotContext } from '../source';

export interface ChainDecision {
  parent: string | null;
  level: number;
  reason: string;
}

/** Full or increment? A full when there is none, when it is older than fullEvery, or after maxIncrements. */
export function decideLevel(earlier: Awaited<ReturnType<SnapshotContext['earlier']>>, now: Date, policy: { fullEvery: string; maxIncrements?: number }): ChainDecision {
  const tip = earlier.at(-1);
  if (!tip) return { parent: null, level: 0, reason: 'first backup' };
  const byId = new Map(earlier.map((entry) => [entry.id, entry]));
  let level = 0;
  let full = tip;
  while (full.parent) {
    const parent = byId.get(full.parent);
    if (!parent) return { parent: null, level: 0, reason: `the chain of ${tip.id} is broken (${full.parent} is gone)` };
    full = parent;
    level += 1;
  }
  if (now.getTime() - Date.parse(full.finishedAt) >= parseDuration(policy.fullEvery)) {
    return { parent: null, level: 0, reason: `the last full backup is older than ${policy.fullEvery}` };
  }
  if (policy.maxIncrements !== undefined && level + 1 > policy.maxIncrements) {
    return { parent: null, level: 0, reason: `${level} increments already follow the last full backup` };
  }
  return { parent: tip.id, level: level + 1, reason: `increment ${level + 1} on ${tip.id}` };
}
