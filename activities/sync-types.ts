import type { StoredObject } from '../lib/manifest';

// What a comparison of two regions' catalogs names: used by sync.ts and sync-compare.ts alike.

export interface BackupRef {
  id: string;
  finishedAt: string;
}

export interface BackupToCopy extends BackupRef {
  /** Hash of the home region's manifest bytes: the copy written at the destination must be these bytes. */
  manifestSha256: string;
  objects: StoredObject[];
  /** The destination holds this very manifest but not every object whole: only absent objects are copied. */
  repair: boolean;
}

/** A backup whose manifest at the destination is not the home region's: never overwritten, reported. */
export interface DivergentCopy extends BackupRef {
  homeManifestSha256: string;
  /** SHA-256 of the manifest bytes the destination holds. */
  manifestSha256: string;
  /** Why it differs: other bytes (signed by which trusted key), or why it is not trusted. */
  reason: string;
  /** Whether a trusted key signed the destination's manifest (then that copy can be verified too). */
  trusted: boolean;
}
