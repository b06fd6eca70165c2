import type { Readable, Transform } from 'node:stream';
import type { SourceDescription } from '../../lib/manifest';
import type { Step } from '../pipeline/processes';
import type { TarScanner } from './postgres/tar-capture';

/** A small object stored beside the data, encrypted like it (tar's incremental state). */
export interface ExtraObject {
  name: string;
  content: string;
  data: Buffer;
}

/** A producer that runs in the worker itself (a replication-protocol base backup) rather than as a tool. */
export interface StreamProducer {
  /** Names it in errors: "base backup of app-db". */
  what: string;
  /** Starts it: the raw bytes, whether it succeeded (with warnings), and how to stop it. */
  start(): { output: Readable; finished: Promise<string[]>; kill(): void };
}

/** A consistent point-in-time view of a source, open while its bytes stream out. */
export interface Snapshot {
  /** The step that produces the raw bytes; Lifeboat appends compression and encryption. */
  producer: Step | StreamProducer;
  /** What the data object holds, when this snapshot's differs from the source's usual (Source.content). */
  content?: string;
  /** Fixes the raw bytes on their way to compression (Redis: drops redis-cli's trailing EOF mark). */
  filter?: Transform;
  /**
   * Reads the raw bytes, a tar, as they pass, without changing them. Unlike a filter it lets a tool's
   * bytes stay off the worker's main thread: a worker thread copies them from the tool to the
   * encoder and scans them on the way (pipeline/scan-copy.ts).
   */
  tarScan?: TarScanner;
  /** Steps that read a copy of the raw bytes on stdin and must succeed for the backup to count. */
  validators?: Step[];
  /** The backup this one builds on (incremental file backups), or null. */
  parent: string | null;
  /** What the source looked like in this very snapshot; called once the producer has finished. */
  describe(result: { raw: { size: number } | undefined; warnings: string[]; checks: string[] }): Promise<SourceDescription>;
  /** Objects to store beside the data, once the producer has finished. */
  extras?(): Promise<ExtraObject[]>;
  /** Ends the snapshot (connections, temp files); safe to call twice. */
  release(): Promise<void>;
}

export interface SnapshotContext {
  backupId: string;
  /** Loads an encrypted object of an earlier backup of this source, decrypted and checked against its manifest; or why it cannot. */
  loadState(backupId: string, name: string): Promise<{ data: Buffer } | { unavailable: string }>;
  /** The earlier backups of this source in its region, oldest first: read on demand, since only a chain (files) needs them. */
  /** The operator asked for a full backup (`lifeboat backup --full`): a chain starts again here. */
  full?: boolean;
  earlier(): Promise<Array<{ id: string; parent: string | null; finishedAt: string }>>;
}

export interface Source {
  /** Object name and what it holds, for the manifest. */
  readonly fileName: string;
  readonly content: string;
  snapshot(context: SnapshotContext): Promise<Snapshot>;
  toolVersions(): Promise<Record<string, string>>;
  /** The break-glass command for one data object, recorded in the manifest. */
  restoreWith(objectName: string): string;
}
