// The task queue every region's worker polls besides its own. Work about every region (the RPO
// check, sync of every source, retention) is scheduled there, so it runs on whichever worker is
// alive: on the primary region's queue it stopped, alerts included, when that region was lost.
// Steps that need one region's storage credentials still go to that region's own queue.

/** `<prefix>any-region`; no region may be named "any-region" (the config refuses it). */
export function anyRegionQueue(prefix: string): string {
  return `${prefix}any-region`;
}

export const ANY_REGION = 'any-region';
