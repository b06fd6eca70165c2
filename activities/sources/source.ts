import type { SourceDescription } from '../../lib/manifest';
import type { Step } from '../pipeline/processes';

/** A consistent point-in-time view of a source, open while its bytes stream out. */
export interface Snapshot {
  /** The step that produces the raw bytes; Lifeboat appends compression and encryption. */
  producer: Step;
  /** What the source looked like in this very snapshot. */
  describe(): Promise<SourceDescription>;
  /** Ends the snapshot (closes connections); safe to call twice. */
  release(): Promise<void>;
}

export interface Source {
  /** Object name and what it holds, for the manifest. */
  readonly fileName: string;
  readonly content: string;
  snapshot(): Promise<Snapshot>;
  toolVersions(): Promise<Record<string, string>>;
}
