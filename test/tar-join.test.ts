import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumOf, directoryHeader, parsePax, splitName, TarJoiner, type ArchiveRules } from '../activities/sources/postgres/tar-join';

/** A tar as PostgreSQL sends one archive: without the closing zero blocks (and GNU tar's record padding). */
function withoutTrailer(tar: Buffer): Buffer {
  let end = tar.length;
  while (end >= 512 && tar.subarray(end - 512, end).every((byte) => byte === 0)) end -= 512;
  return tar.subarray(0, end);
}

async function tarOf(dir: string, format: string, members: string[]): Promise<Buffer> {
  return (await execa('tar', ['-c', `--format=${format}`, '--owner=0', '--group=0', '-C', dir, ...members], { encoding: 'buffer' })).stdout as unknown as Buffer;
}

function join2(archives: Array<{ tar: Buffer; rules: ArchiveRules }>, chunkSize: number, files: Array<{ name: string; data: Buffer }>): Buffer {
  const out: Buffer[] = [];
  const joiner = new TarJoiner((chunk) => out.push(Buffer.from(chunk)));
  for (const { tar, rules } of archives) {
    joiner.begin(rules);
    for (let at = 0; at < tar.length; at += chunkSize) joiner.write(tar.subarray(at, at + chunkSize));
  }
  joiner.finish(files);
  return Buffer.concat(out);
}

/** The header blocks of a tar, with their type flags, read the simple way (every member's size from its header). */
function headers(tar: Buffer): Array<{ type: string; name: string; prefix: string; checksumOk: boolean }> {
  const found = [];
  let at = 0;
  while (at + 512 <= tar.length) {
    const block = tar.subarray(at, at + 512);
    if (block.every((byte) => byte === 0)) break;
    const size = parseInt(block.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    const field = (start: number, length: number) => block.subarray(start, start + length).toString('utf8').replace(/\0.*$/s, '');
    found.push({ type: String.fromCharCode(block[156]!), name: field(0, 100), prefix: field(345, 155), checksumOk: parseInt(field(148, 8).trim(), 8) === checksumOf(block) });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return found;
}

describe('joining the archives of a BASE_BACKUP into one tar', () => {
  let dir: string;
  // 196 bytes, 212 once renamed: too long for the name field (and for the input's own ustar), split after the e's.
  const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'g'.repeat(70)}.dat`;
  const hopeless = `${'f'.repeat(120)}.dat`; // one component longer than the name field: only pax can name it

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-tar-join-'));
    const ts = join(dir, 'ts');
    mkdirSync(join(ts, 'PG_15_202209061', '16384'), { recursive: true });
    writeFileSync(join(ts, 'PG_15_202209061', '16384', '16390'), Buffer.alloc(20_000, 3));
    writeFileSync(join(ts, 'PG_15_202209061', '16384', '16390_fsm'), 'fsm');
    const longTs = join(dir, 'long');
    mkdirSync(join(longTs, long, '..'), { recursive: true });
    writeFileSync(join(longTs, long), 'long');
    writeFileSync(join(longTs, hopeless), 'hopeless');
    const base = join(dir, 'base');
    mkdirSync(join(base, 'pg_tblspc'), { recursive: true });
    mkdirSync(join(base, 'global'));
    writeFileSync(join(base, 'backup_label'), 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n');
    writeFileSync(join(base, 'tablespace_map'), '16400 /srv/ts\n');
    writeFileSync(join(base, 'global', 'pg_control'), Buffer.alloc(8192, 9));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('renames each tablespace\'s members under pg_tblspc/<oid>/, keeps the data directory\'s, appends backup_manifest and ends the tar, in chunks of any size', async () => {
    const tablespace = withoutTrailer(await tarOf(join(dir, 'ts'), 'ustar', ['PG_15_202209061']));
    const base = withoutTrailer(await tarOf(join(dir, 'base'), 'ustar', ['backup_label', 'tablespace_map', 'pg_tblspc', 'global']));
    const manifest = Buffer.from('{ "PostgreSQL-Backup-Manifest-Version": 1 }\n');
    let first: Buffer | undefined;
    for (const size of [1, 100, 511, 512, 513, 8192, 1 << 20]) {
      const joined = join2([
        { tar: tablespace, rules: { rename: (name) => `pg_tblspc/16400/${name}`, prologue: (header) => directoryHeader('pg_tblspc/16400', header) } },
        { tar: base, rules: { rename: (name) => (name === 'tablespace_map' ? 'tablespace_map.lifeboat' : name) } },
      ], size, [{ name: 'backup_manifest', data: manifest }]);
      first ??= joined;
      expect(joined.equals(first), `chunk size ${size}`).toBe(true);
    }
    const joined = first!;
    // Two zero blocks close it, and every header's checksum is right.
    expect(joined.length % 512).toBe(0);
    expect(joined.subarray(joined.length - 1024).every((byte) => byte === 0)).toBe(true);
    expect(headers(joined).every((h) => h.checksumOk)).toBe(true);
    const listed = await execa('tar', ['-t'], { input: joined });
    expect(listed.stderr).toBe('');
    expect(listed.stdout.split('\n')).toEqual([
      'pg_tblspc/16400/', 'pg_tblspc/16400/PG_15_202209061/', 'pg_tblspc/16400/PG_15_202209061/16384/',
      ...listed.stdout.split('\n').filter((n) => /16384\/16390/.test(n)),
      'backup_label', 'tablespace_map.lifeboat', 'pg_tblspc/', 'global/', 'global/pg_control', 'backup_manifest',
    ]);
    const out = join(dir, 'out');
    mkdirSync(out);
    await execa('tar', ['-x', '-C', out], { input: joined });
    expect(readFileSync(join(out, 'pg_tblspc/16400/PG_15_202209061/16384/16390')).equals(Buffer.alloc(20_000, 3))).toBe(true);
    expect(readFileSync(join(out, 'pg_tblspc/16400/PG_15_202209061/16384/16390_fsm'), 'utf8')).toBe('fsm');
    expect(readFileSync(join(out, 'tablespace_map.lifeboat'), 'utf8')).toBe('16400 /srv/ts\n');
    expect(readFileSync(join(out, 'backup_manifest')).equals(manifest)).toBe(true);
    expect(readdirSync(out).sort()).toEqual(['backup_label', 'backup_manifest', 'global', 'pg_tblspc', 'tablespace_map.lifeboat']);
  });

  it('names a member too long for the name field with the ustar prefix, and one no split fits with a pax header', async () => {
    // GNU tar's own long names (././@LongLink) and pax input are read too, and renamed like any.
    for (const format of ['gnu', 'pax']) {
      const input = withoutTrailer(await tarOf(join(dir, 'long'), format, [long, hopeless]));
      const joined = join2([{ tar: input, rules: { rename: (name) => `pg_tblspc/16401/${name}` } }], 777, []);
      const listed = await execa('tar', ['-t'], { input: joined });
      expect(listed.stderr, format).toBe('');
      expect(listed.stdout.split('\n'), format).toEqual([`pg_tblspc/16401/${long}`, `pg_tblspc/16401/${hopeless}`]);
      const blocks = headers(joined);
      expect(blocks.every((h) => h.checksumOk)).toBe(true);
      // The first fits split at a slash (no GNU long link, no pax path); the second needs a pax header.
      // GNU tar's pax input carries more records (times): they are kept, in a pax header of their own.
      expect(blocks.map((h) => h.type), format).toEqual(format === 'gnu' ? ['0', 'x', '0'] : ['x', '0', 'x', '0']);
      const member = blocks.find((h) => h.type === '0')!;
      expect(`${member.prefix}/${member.name}`).toBe(`pg_tblspc/16401/${long}`);
      const out = join(dir, `out-${format}`);
      mkdirSync(out);
      await execa('tar', ['-x', '-C', out], { input: joined });
      expect(readFileSync(join(out, 'pg_tblspc/16401', long), 'utf8')).toBe('long');
      expect(readFileSync(join(out, 'pg_tblspc/16401', hopeless), 'utf8')).toBe('hopeless');
    }
  });

  it('splits names at a slash only where both parts fit, and writes pax records whose length counts itself', () => {
    expect(splitName('short')).toEqual({ name: 'short', prefix: '' });
    expect(splitName(`${'a'.repeat(150)}/${'b'.repeat(100)}`)).toEqual({ name: 'b'.repeat(100), prefix: 'a'.repeat(150) });
    expect(splitName(`${'a'.repeat(156)}/b`)).toBeUndefined();
    expect(splitName(`a/${'b'.repeat(101)}`)).toBeUndefined();
    const value = 'x'.repeat(95);
    const joined = join2([{ tar: Buffer.alloc(0), rules: { rename: (name) => name } }], 512, [{ name: `${'p'.repeat(120)}/${value}/${'q'.repeat(101)}`, data: Buffer.from('z') }]);
    const size = parseInt(joined.subarray(124, 136).toString('latin1').replace(/\0.*$/s, ''), 8);
    const records = parsePax(joined.subarray(512, 512 + size));
    expect(records).toEqual([['path', `${'p'.repeat(120)}/${value}/${'q'.repeat(101)}`]]);
    expect(Number(joined.subarray(512, 512 + size).toString('latin1').split(' ')[0])).toBe(size);
  });

  it('refuses a header whose checksum is wrong, and an archive that ends inside a member', async () => {
    const input = withoutTrailer(await tarOf(join(dir, 'base'), 'ustar', ['backup_label']));
    const damaged = Buffer.from(input);
    damaged[10] = damaged[10]! ^ 1;
    expect(() => join2([{ tar: damaged, rules: { rename: (name) => name } }], 512, [])).toThrow(/wrong checksum/);
    expect(() => join2([{ tar: input.subarray(0, 600), rules: { rename: (name) => name } }, { tar: input, rules: { rename: (name) => name } }], 512, []))
      .toThrow(/ended in the middle of a member/);
  });
});
