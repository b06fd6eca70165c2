// A pin keeps one backup from retention while a failover that planned to restore it runs. It lives
// in the region the failover restores from, beside the catalog (outside `<source>/`, so it is never
// taken for backup data): retention reads storage anyway, and a region that lost Temporal's history
// still knows what it must not delete. A pin only ever keeps: a forged one can make retention keep
// a backup longer (until it expires, named in the report), never delete or restore anything.

export const PIN_FORMAT = 'lifeboat-pin/1';

export interface Pin {
  format: typeof PIN_FORMAT;
  source: string;
  region: string;
  backupId: string;
  workflowId: string;
  runId: string;
  drill: boolean;
  planHash: string;
  pinnedAt: string;
  /** A run that dies without unpinning holds the backup no longer than this. */
  until: string;
}

export const pinKeys = {
  prefix: (source: string) => `_pins/${source}/`,
  /** `_pins/<source>/<backup id>/<run id>.json`: one per run and backup, so a pin is never overwritten. */
  pin: (source: string, backupId: string, runId: string) => `_pins/${source}/${backupId}/${runId}.json`,
};

/** What retention reports as the reason a pinned backup stays. */
export function pinReason(pin: Pin): string {
  return `pinned by ${pin.drill ? 'failover drill' : 'failover'} ${pin.workflowId} (plan ${pin.planHash}) until ${pin.until}`;
}

/** A pin as read from storage, or undefined when the object is not one (never an error: pins only keep). */
export function parsePin(text: string): Pin | undefined {
  try {
    const value = JSON.parse(text) as Partial<Pin>;
    const strings = [value.source, value.region, value.backupId, value.workflowId, value.runId, value.planHash, value.pinnedAt, value.until];
    if (value.format !== PIN_FORMAT || strings.some((s) => typeof s !== 'string') || Number.isNaN(Date.parse(value.until!))) return undefined;
    return value as Pin;
  } catch {
    return undefined;
  }
}
