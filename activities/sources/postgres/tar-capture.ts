import { Transform, type TransformCallback } from 'node:stream';

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

const BLOCK = 512;

/**
 * Passes a tar stream through unchanged while reading its headers: keeps the named members whole
 * (up to `keepBytes`, after that only the last `keepBytes`), and lists the WAL in pg_wal/.
 * pg_basebackup writes plain ustar headers; pax and GNU long-name headers are honoured too.
 */
export function tarCapture(wanted: string[], keepBytes = 1024 * 1024): { filter: Transform; findings: TarFindings } {
  const findings: TarFindings = { files: new Map(), tails: new Map(), walFiles: [], members: 0 };
  let pending = Buffer.alloc(0);
  // Bytes of the current member's data (plus padding) still to pass before the next header.
  let remaining = 0;
  let padding = 0;
  let current: { name: string; chunks: Buffer[]; kept: number; whole: boolean } | undefined;
  let longName: string | undefined;
  let longNameChunks: Buffer[] | undefined;
  let ended = false;

  const keep = (data: Buffer) => {
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

  const header = (block: Buffer) => {
    if (block.every((byte) => byte === 0)) {
      ended = true;
      return;
    }
    const field = (start: number, length: number) => block.subarray(start, start + length).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(block[156]!);
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

  const consume = (chunk: Buffer) => {
    let data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    pending = Buffer.alloc(0);
    while (data.length > 0 && !ended) {
      if (remaining > 0) {
        const take = Math.min(remaining, data.length);
        keep(data.subarray(0, take));
        remaining -= take;
        data = data.subarray(take);
        if (remaining === 0) finishMember();
        continue;
      }
      if (padding > 0) {
        const skip = Math.min(padding, data.length);
        padding -= skip;
        data = data.subarray(skip);
        continue;
      }
      if (data.length < BLOCK) {
        pending = Buffer.from(data);
        return;
      }
      header(data.subarray(0, BLOCK));
      data = data.subarray(BLOCK);
    }
  };

  const filter = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      consume(chunk);
      callback(null, chunk);
    },
  });
  return { filter, findings };
}
