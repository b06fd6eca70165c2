// PostgreSQL WAL as Lifeboat stores it: one object per archived file, in every region, under a
// prefix of its own. Not under `<source>/`: everything there is a backup id, and a `wal/` that
// retention took for data without a manifest would be removed as an orphan. Source names cannot
// start with "_", so `_wal/` never collides with a source.

export const WAL_SEGMENT_BYTES = 16 * 1024 * 1024;

export const walKeys = {
  prefix: (source: string) => `_wal/${source}/`,
  /** `_wal/<source>/000000010000000000000003.zst.age`, also for .history and .backup files. */
  object: (source: string, fileName: string) => `_wal/${source}/${fileName}.zst.age`,
  /**
   * `_wal/<source>/<file>.sha256.json`: size and SHA-256 of the raw file, written before its object.
   * The object is encrypted to recipients only, so this is how a shipper that holds no identity
   * tells whether an object already stored holds the very bytes it has in its spool.
   */
  record: (source: string, fileName: string) => `_wal/${source}/${fileName}.sha256.json`,
  /** The archived file's name back from its key; undefined for anything else under the prefix. */
  fileName(source: string, key: string): string | undefined {
    const prefix = `_wal/${source}/`;
    if (!key.startsWith(prefix) || !key.endsWith('.zst.age')) return undefined;
    const name = key.slice(prefix.length, -'.zst.age'.length);
    return parseWalName(name) ? name : undefined;
  },
};

export interface WalName {
  name: string;
  kind: 'segment' | 'history' | 'backup';
  timeline: number;
  /** Position of the segment in the WAL stream (log * segments-per-log + seg); history files: 0. */
  segment: number;
}

const segmentPattern = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const backupPattern = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.[0-9A-F]{8}\.backup$/;
const historyPattern = /^([0-9A-F]{8})\.history$/;

/** What archive_command hands over: segments, timeline history and backup history files; anything else is not WAL. */
export function parseWalName(name: string, segmentBytes = WAL_SEGMENT_BYTES): WalName | undefined {
  const perLog = 0x100000000 / segmentBytes;
  let match = segmentPattern.exec(name);
  if (match) return { name, kind: 'segment', timeline: parseInt(match[1]!, 16), segment: parseInt(match[2]!, 16) * perLog + parseInt(match[3]!, 16) };
  match = backupPattern.exec(name);
  if (match) return { name, kind: 'backup', timeline: parseInt(match[1]!, 16), segment: parseInt(match[2]!, 16) * perLog + parseInt(match[3]!, 16) };
  match = historyPattern.exec(name);
  if (match) return { name, kind: 'history', timeline: parseInt(match[1]!, 16), segment: 0 };
  return undefined;
}

/** The segment file name for a timeline and a segment position. */
export function segmentName(timeline: number, segment: number, segmentBytes = WAL_SEGMENT_BYTES): string {
  const perLog = 0x100000000 / segmentBytes;
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(Math.floor(segment / perLog))}${hex(segment % perLog)}`;
}

/** The segment holding an LSN such as "0/3000028". */
export function segmentOfLsn(lsn: string, segmentBytes = WAL_SEGMENT_BYTES): number {
  const [high, low] = lsn.split('/');
  return Math.floor((parseInt(high!, 16) * 0x100000000 + parseInt(low!, 16)) / segmentBytes);
}

export interface Continuity {
  /** The first segment needed (the base backup's start segment). */
  from: string;
  /** The last segment of the unbroken run from `from` on; null when even `from` is missing. */
  contiguousThrough: string | null;
  /** Runs of missing segments after `from`, each with the segments that are present again after it. */
  gaps: Array<{ firstMissing: string; lastMissing: string; missing: number; resumesAt: string }>;
}

/**
 * Which segments of one timeline are present without a hole from `from` on. Recovery replays WAL
 * in order, so nothing after the first gap is reachable from a base backup before it.
 */
export function continuity(present: Iterable<string>, from: string, segmentBytes = WAL_SEGMENT_BYTES): Continuity {
  const start = parseWalName(from, segmentBytes);
  if (!start || start.kind !== 'segment') throw new Error(`not a WAL segment name: ${from}`);
  const numbers = [...new Set([...present].map((n) => parseWalName(n, segmentBytes))
    .filter((n): n is WalName => n?.kind === 'segment' && n.timeline === start.timeline && n.segment >= start.segment)
    .map((n) => n.segment))].sort((a, b) => a - b);
  const name = (segment: number) => segmentName(start.timeline, segment, segmentBytes);
  const result: Continuity = { from, contiguousThrough: null, gaps: [] };
  let expected = start.segment;
  for (const segment of numbers) {
    if (segment !== expected) {
      result.gaps.push({ firstMissing: name(expected), lastMissing: name(segment - 1), missing: segment - expected, resumesAt: name(segment) });
    } else if (result.gaps.length === 0) {
      result.contiguousThrough = name(segment);
    }
    expected = segment + 1;
  }
  return result;
}

/**
 * The archive_command Lifeboat recommends for a spool: copy under a dot name (which the shipper
 * never takes), fsync the copy, rename it into place, fsync the directory. PostgreSQL recycles the
 * segment as soon as the command returns 0, so the spool copy must be on disk by then: without the
 * fsyncs a power cut can leave an empty or missing file for a segment PostgreSQL already dropped.
 */
export function archiveCommand(spool: string): string {
  const dir = spool.replace(/\/+$/, '');
  if (!/^\/[A-Za-z0-9._/-]*$/.test(dir)) throw new Error(`spool path ${spool} needs quoting in a shell command: choose one of letters, digits and ._/-`);
  return `test ! -f ${dir}/%f && cp %p ${dir}/.%f.tmp && sync ${dir}/.%f.tmp && mv ${dir}/.%f.tmp ${dir}/%f && sync ${dir}`;
}
