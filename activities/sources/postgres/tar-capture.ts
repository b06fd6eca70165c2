/** What a pass-through reading of pg_basebackup's tar found, without a second read of the bytes. */
export interface TarFindings {
  /** Whole contents of the wanted small files, by member name. */
  files: Map<string, Buffer>;
  /** Sizes of the wanted files that were too large to keep whole: only their tail is kept. */
  tails: Map<string, Buffer>;
  /** Every member name under pg_wal/ that is a WAL segment (what -X fetch put in). */
  walFiles: string[];
  members: number;
}

/** Reads a tar stream in pieces, as they arrive, without keeping or changing them. */
export interface TarScanner {
  /**
   * Reads bytes[start, end). The caller may overwrite `bytes` as soon as this returns (one buffer
   * reused for a whole base backup): only the wanted members' bytes are copied.
   */
  push(bytes: Buffer, start?: number, end?: number): void;
  readonly findings: TarFindings;
  /** What it was made with, so a worker thread can make its own (pipeline/scan-copy.ts). */
  readonly options: { wanted: string[]; keepBytes: number };
}

/**
 * Reads a tar stream's headers as it passes: keeps the named members whole (up to `keepBytes`,
 * after that only the last `keepBytes`), and lists the WAL in pg_wal/. pg_basebackup writes plain
 * ustar headers; pax and GNU long-name headers are honoured too. Allocates per member kept and per
 * header, never per piece pushed: a gigabyte of member data costs nothing but arithmetic, so the
 * worker's heap sees no garbage from it (docs/benchmark.md, Physical). Self-contained (no imports,
 * no outer names): pipeline/scan-copy.ts runs its source text in a worker thread.
 */
export function tarScanner(wanted: string[], keepBytes = 1024 * 1024): TarScanner {
  const BLOCK = 512;
  const findings: TarFindings = { files: new Map(), tails: new Map(), walFiles: [], members: 0 };
  // A header split across pieces is gathered here; most arrive whole and are read in place.
  const partial = Buffer.alloc(BLOCK);
  let partialLength = 0;
  // Bytes of the current member's data (plus padding) still to pass before the next header.
  let remaining = 0;
  let padding = 0;
  let current: { name: string; chunks: Buffer[]; kept: number; whole: boolean } | undefined;
  let longName: string | undefined;
  let longNameChunks: Buffer[] | undefined;
  let ended = false;

  const keep = (bytes: Buffer, start: number, end: number) => {
    if (!current && !longNameChunks) return;
    // Copied: the caller reuses `bytes`.
    const data = Buffer.from(bytes.subarray(start, end));
    if (current) {
      current.chunks.push(data);
      current.kept += data.length;
      if (current.kept > keepBytes * 2) {
        const joined = Buffer.concat(current.chunks);
        current.chunks = [joined.subarray(joined.length - keepBytes)];
        current.kept = keepBytes;
        current.whole = false;
      }
    }
    longNameChunks?.push(data);
  };
  const finishMember = () => {
    if (current) {
      const data = Buffer.concat(current.chunks);
      if (current.whole && data.length <= keepBytes) findings.files.set(current.name, data);
      else findings.tails.set(current.name, data.subarray(Math.max(0, data.length - keepBytes)));
      current = undefined;
    }
    if (longNameChunks) {
      longName = Buffer.concat(longNameChunks).toString('utf8').replace(/\0.*$/s, '');
      longNameChunks = undefined;
    }
  };

  const header = (block: Buffer, at: number) => {
    let zero = true;
    for (let i = at; i < at + BLOCK; i += 1) {
      if (block[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) {
      ended = true;
      return;
    }
    const field = (start: number, length: number) => block.toString('utf8', at + start, at + start + length).replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(block[at + 156]!);
    const prefix = field(345, 155);
    let name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    name = name.replace(/^\.\//, '');
    remaining = size;
    padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (type === 'L') {
      longNameChunks = [];
      return;
    }
    if (type === 'x' || type === 'g') return;
    findings.members += 1;
    if ((type === '0' || type === '\0') && wanted.includes(name)) current = { name, chunks: [], kept: 0, whole: true };
    const wal = /^pg_wal\/([0-9A-F]{24})$/.exec(name);
    if (wal) findings.walFiles.push(wal[1]!);
    if (size === 0) finishMember();
  };

  const push = (bytes: Buffer, start = 0, end = bytes.length) => {
    let at = start;
    while (at < end && !ended) {
      if (remaining > 0) {
        const take = Math.min(remaining, end - at);
        keep(bytes, at, at + take);
        remaining -= take;
        at += take;
        if (remaining === 0) finishMember();
        continue;
      }
      if (padding > 0) {
        const skip = Math.min(padding, end - at);
        padding -= skip;
        at += skip;
        continue;
      }
      if (partialLength === 0 && end - at >= BLOCK) {
        header(bytes, at);
        at += BLOCK;
        continue;
      }
      const take = Math.min(BLOCK - partialLength, end - at);
      bytes.copy(partial, partialLength, at, at + take);
      partialLength += take;
      at += take;
      if (partialLength === BLOCK) {
        partialLength = 0;
        header(partial, 0);
      }
    }
  };

  return { push, findings, options: { wanted, keepBytes } };
}

/** Takes what a worker thread's scanner found (its Buffers arrive as Uint8Arrays) into `target`. */
export function adoptFindings(target: TarFindings, found: TarFindings): void {
  const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const [name, bytes] of found.files) target.files.set(name, asBuffer(bytes));
  for (const [name, bytes] of found.tails) target.tails.set(name, asBuffer(bytes));
  target.walFiles.push(...found.walFiles);
  target.members += found.members;
}
