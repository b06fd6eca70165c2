/**
 * Joins the tar archives of a BASE_BACKUP (one per tablespace, then the data directory's) into one
 * tar, as they stream: each archive's members pass through with their names rewritten (a
 * tablespace's under pg_tblspc/<oid>/), and the headers' checksums recomputed. PostgreSQL sends each
 * archive without tar's two closing zero blocks; finish() appends the backup_manifest member and
 * writes them once, at the very end. Only headers are held in memory, never member data.
 */

const BLOCK = 512;

export interface ArchiveRules {
  /** The member's new name; null drops the member (and its data). `type` is the header's type flag. */
  rename(name: string, type: string): string | null;
  /** Headers written before the archive's first member; `first` is that member's header (owner, time). */
  prologue?(first: Buffer): Buffer[];
}

export class TarJoiner {
  private rules: ArchiveRules | undefined;
  private first = true;
  private header = Buffer.alloc(0);
  /** Bytes of the current member (data and padding) still to pass, or to drop. */
  private remaining = 0;
  private dropping = false;
  /** A pax ('x') or GNU long name ('L') member being read: it applies to the next header. */
  private extended: { type: 'x' | 'L'; size: number; chunks: Buffer[]; left: number } | undefined;
  private longName: string | undefined;
  private paxRecords = new Map<string, string>();
  private ended = false;
  private lastHeader: Buffer | undefined;

  constructor(private readonly push: (chunk: Buffer) => void) {}

  /** Starts the next archive; the previous one must have ended on a member boundary. */
  begin(rules: ArchiveRules): void {
    this.requireBoundary();
    this.rules = rules;
    this.first = true;
    this.ended = false;
  }

  write(chunk: Buffer): void {
    if (!this.rules) throw new Error('tar data before the first archive began');
    let data = chunk;
    while (data.length > 0) {
      if (this.ended) return;
      if (this.extended) {
        const take = Math.min(this.extended.left, data.length);
        this.extended.chunks.push(data.subarray(0, take));
        this.extended.left -= take;
        data = data.subarray(take);
        if (this.extended.left === 0) this.finishExtended();
        continue;
      }
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, data.length);
        if (!this.dropping) this.push(data.subarray(0, take));
        this.remaining -= take;
        data = data.subarray(take);
        continue;
      }
      const need = BLOCK - this.header.length;
      const take = Math.min(need, data.length);
      this.header = this.header.length === 0 ? Buffer.from(data.subarray(0, take)) : Buffer.concat([this.header, data.subarray(0, take)]);
      data = data.subarray(take);
      if (this.header.length === BLOCK) {
        const block = this.header;
        this.header = Buffer.alloc(0);
        this.onHeader(block);
      }
    }
  }

  /** Appends a regular file (the backup_manifest), then tar's end: two zero blocks. */
  finish(files: Array<{ name: string; data: Buffer }>): void {
    this.requireBoundary();
    for (const file of files) {
      const header = regularHeader(file.name, file.data.length, this.lastHeader);
      for (const block of namedHeaders(header, file.name, new Map())) this.push(block);
      this.push(file.data);
      const padding = padOf(file.data.length);
      if (padding > 0) this.push(Buffer.alloc(padding));
    }
    this.push(Buffer.alloc(BLOCK * 2));
  }

  private requireBoundary(): void {
    if (this.header.length > 0 || this.remaining > 0 || this.extended || this.longName !== undefined || this.paxRecords.size > 0) {
      throw new Error('a tar archive of the base backup ended in the middle of a member');
    }
  }

  private onHeader(block: Buffer): void {
    if (block.every((byte) => byte === 0)) {
      // PostgreSQL leaves tar's end to the client; should a server send it, the archive ends here.
      this.ended = true;
      return;
    }
    if (checksumOf(block) !== parseOctal(block.subarray(148, 156))) throw new Error(`a tar header of the base backup has a wrong checksum (${JSON.stringify(text(block, 0, 100))})`);
    const type = String.fromCharCode(block[156]!);
    const size = parseOctal(block.subarray(124, 136));
    if (type === 'x' || type === 'L') {
      this.extended = { type, size, chunks: [], left: size + padOf(size) };
      if (this.extended.left === 0) this.finishExtended();
      return;
    }
    this.lastHeader = block;
    const prefix = text(block, 345, 155);
    const name = this.longName ?? (prefix ? `${prefix}/${text(block, 0, 100)}` : text(block, 0, 100));
    const records = this.paxRecords;
    this.longName = undefined;
    this.paxRecords = new Map();
    const renamed = type === 'g' ? name : this.rules!.rename(name, type);
    const dataBytes = type === '5' || type === '2' || type === '1' ? 0 : size;
    this.remaining = dataBytes + padOf(dataBytes);
    this.dropping = renamed === null;
    if (renamed === null) return;
    if (this.first) {
      this.first = false;
      for (const extra of this.rules!.prologue?.(block) ?? []) this.push(extra);
    }
    for (const out of namedHeaders(block, renamed, records)) this.push(out);
  }

  private finishExtended(): void {
    const { type, size, chunks } = this.extended!;
    this.extended = undefined;
    const content = Buffer.concat(chunks).subarray(0, size);
    if (type === 'L') {
      this.longName = content.toString('utf8').replace(/\0.*$/s, '');
      return;
    }
    for (const [key, value] of parsePax(content)) {
      if (key === 'path') this.longName = value;
      else this.paxRecords.set(key, value);
    }
  }
}

/** The header blocks that name a member `name`: the header itself, after a pax header when the name does not fit. */
export function namedHeaders(original: Buffer, name: string, records: Map<string, string>): Buffer[] {
  const header = Buffer.from(original);
  const split = splitName(name);
  const pax = new Map(records);
  header.fill(0, 0, 100);
  header.fill(0, 345, 500);
  if (split) {
    header.write(split.name, 0, 100, 'utf8');
    header.write(split.prefix, 345, 155, 'utf8');
  } else {
    pax.set('path', name);
    header.write(truncateBytes(name.replace(/\/+$/, '').split('/').at(-1)!, 99), 0, 100, 'utf8');
  }
  // POSIX ustar, whose prefix field readers join to the name.
  header.write('ustar\x0000', 257, 8, 'latin1');
  setChecksum(header);
  if (pax.size === 0) return [header];
  return [...paxHeader(header, pax), header];
}

/** name in the 100-byte field, or prefix/name split at a slash (155 + 100 bytes); undefined when neither fits. */
export function splitName(name: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(name) <= 100) return { name, prefix: '' };
  // The prefix is joined with a slash: split at one, the name part as long as fits.
  for (let index = name.indexOf('/'); index > 0; index = name.indexOf('/', index + 1)) {
    const prefix = name.slice(0, index);
    const rest = name.slice(index + 1);
    if (Buffer.byteLength(prefix) > 155) return undefined;
    if (rest.length > 0 && Buffer.byteLength(rest) <= 100) return { name: rest, prefix };
  }
  return undefined;
}

function paxHeader(member: Buffer, records: Map<string, string>): Buffer[] {
  const body = Buffer.concat([...records].map(([key, value]) => paxRecord(key, value)));
  const header = Buffer.alloc(BLOCK);
  header.write(truncateBytes(`PaxHeader/${text(member, 0, 100).replace(/\/+$/, '')}`, 99), 0, 100, 'utf8');
  member.copy(header, 100, 100, 124); // mode, uid, gid
  writeOctal(header, 124, 12, body.length);
  member.copy(header, 136, 136, 148); // mtime
  header[156] = 'x'.charCodeAt(0);
  header.write('ustar\x0000', 257, 8, 'latin1');
  member.copy(header, 265, 265, 329); // uname, gname
  setChecksum(header);
  const padding = padOf(body.length);
  return [header, body, ...(padding > 0 ? [Buffer.alloc(padding)] : [])];
}

/** "LEN key=value\n", LEN counting its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const rest = ` ${key}=${value}\n`;
  const restBytes = Buffer.byteLength(rest);
  let digits = String(restBytes).length;
  while (String(restBytes + digits).length !== digits) digits += 1;
  return Buffer.from(`${restBytes + digits}${rest}`, 'utf8');
}

export function parsePax(content: Buffer): Array<[string, string]> {
  const records: Array<[string, string]> = [];
  let at = 0;
  while (at < content.length) {
    const space = content.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(content.subarray(at, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= 0) break;
    const record = content.subarray(space + 1, at + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records.push([record.slice(0, equals), record.slice(equals + 1)]);
    at += length;
  }
  return records;
}

/** A directory member's header, owned like `template` (another member of the same archive). */
export function directoryHeader(name: string, template: Buffer | undefined): Buffer[] {
  const header = baseHeader(template, 0o700);
  header[156] = '5'.charCodeAt(0);
  return namedHeaders(header, name.endsWith('/') ? name : `${name}/`, new Map());
}

function regularHeader(name: string, size: number, template: Buffer | undefined): Buffer {
  const header = baseHeader(template, 0o600);
  header[156] = '0'.charCodeAt(0);
  writeOctal(header, 124, 12, size);
  header.write(name, 0, 100, 'utf8');
  return header;
}

function baseHeader(template: Buffer | undefined, mode: number): Buffer {
  const header = Buffer.alloc(BLOCK);
  writeOctal(header, 100, 8, mode);
  writeOctal(header, 124, 12, 0);
  if (template) {
    // Owner and time of a member the server sent: the same bytes whatever the moment they pass.
    template.copy(header, 108, 108, 124); // uid, gid
    template.copy(header, 136, 136, 148); // mtime
    template.copy(header, 265, 265, 329); // uname, gname
  } else {
    writeOctal(header, 108, 8, 0);
    writeOctal(header, 116, 8, 0);
    writeOctal(header, 136, 12, Math.floor(Date.now() / 1000));
  }
  return header;
}

function text(block: Buffer, start: number, length: number): string {
  return block.subarray(start, start + length).toString('utf8').replace(/\0.*$/s, '');
}

function parseOctal(field: Buffer): number {
  // GNU base-256 for large values: the high bit of the first byte.
  if ((field[0]! & 0x80) !== 0) {
    let value = 0;
    for (let index = 1; index < field.length; index += 1) value = value * 256 + field[index]!;
    return value;
  }
  const digits = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return digits === '' ? 0 : parseInt(digits, 8);
}

function writeOctal(block: Buffer, start: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, start, length, 'latin1');
}

export function checksumOf(block: Buffer): number {
  let sum = 0;
  for (let index = 0; index < BLOCK; index += 1) sum += index >= 148 && index < 156 ? 0x20 : block[index]!;
  return sum;
}

function setChecksum(block: Buffer): void {
  block.write(`${checksumOf(block).toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
}

function padOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function truncateBytes(value: string, bytes: number): string {
  let out = value;
  while (Buffer.byteLength(out) > bytes) out = out.slice(1);
  return out;
}
