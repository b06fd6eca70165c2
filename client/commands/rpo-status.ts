// The RPO verdict that `status` gives both the newest backup and the newest verified one (its own file:
// status.ts and status-verified.ts each need it, and importing it from status.ts made a cycle).

export type RpoStatus = 'OK' | 'LATE' | 'NEVER' | 'NO-OBJECTIVE';

/** objectiveSeconds null: no objective configured; ageSeconds null: nothing to measure yet. */
export function rpoStatus(objectiveSeconds: number | null, ageSeconds: number | null): RpoStatus {
  if (objectiveSeconds === null) return 'NO-OBJECTIVE';
  if (ageSeconds === null) return 'NEVER';
  return ageSeconds <= objectiveSeconds ? 'OK' : 'LATE';
}
