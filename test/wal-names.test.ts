import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listSpool } from '../activities/wal/spool';
import { LifeboatError } from '../lib/errors';
import { continuity, parseWalName, segmentName, segmentOfLsn, walKeys } from '../lib/wal';

describe('WAL file names', () => {
  it('reads segments, timeline history and backup history files, and nothing else', () => {
    expect(parseWalName('000000010000000200000003')).toEqual({ name: '000000010000000200000003', kind: 'segment', timeline: 1, segment: 2 * 256 + 3 });
    expect(parseWalName('00000002.history')).toMatchObject({ kind: 'history', timeline: 2, segment: 0 });
    expect(parseWalName('000000010000000000000003.00000028.backup')).toMatchObject({ kind: 'backup', timeline: 1, segment: 3 });
    for (const other of ['.000000010000000000000003.tmp', '000000010000000000000003.partial', '00000001000000000000000', 'archive_status', '0000000100000000000000zz']) {
      expect(parseWalName(other), other).toBeUndefined();
    }
  });

  it('names a segment back from its timeline and position, also across a log boundary', () => {
    expect(segmentName(1, 255)).toBe('0000000100000000000000FF');
    expect(segmentName(1, 256)).toBe('000000010000000100000000');
    expect(segmentName(3, parseWalName('00000003000000AB000000CD')!.segment)).toBe('00000003000000AB000000CD');
  });

  it('finds the segment holding an LSN', () => {
    expect(segmentOfLsn('0/3000028')).toBe(3);
    expect(segmentOfLsn('1/FF000000')).toBe(256 + 255);
    expect(segmentName(1, segmentOfLsn('0/2FFFFFF'))).toBe('000000010000000000000002');
  });

  it('keys archived files under _wal/<source>/ and reads only WAL names back', () => {
    expect(walKeys.object('app-db', '000000010000000000000003')).toBe('_wal/app-db/000000010000000000000003.zst.age');
    expect(walKeys.fileName('app-db', '_wal/app-db/00000002.history.zst.age')).toBe('00000002.history');
    expect(walKeys.fileName('app-db', '_wal/app-db/notes.txt.zst.age')).toBeUndefined();
    expect(walKeys.fileName('app-db', '_wal/other/000000010000000000000003.zst.age')).toBeUndefined();
  });
});

describe('WAL continuity', () => {
  const run = (...segments: number[]) => segments.map((s) => segmentName(1, s));

  it('is unbroken from the base backup through the newest segment when nothing is missing', () => {
    expect(continuity([...run(2, 3, 4, 5), '00000001.history', segmentName(2, 9)], segmentName(1, 3))).toEqual({
      from: segmentName(1, 3), contiguousThrough: segmentName(1, 5), gaps: [],
    });
  });

  it('names every gap after the start, with the segment where the WAL resumes', () => {
    const result = continuity(run(3, 4, 7, 8, 10), segmentName(1, 3));
    expect(result.contiguousThrough).toBe(segmentName(1, 4));
    expect(result.gaps).toEqual([
      { firstMissing: segmentName(1, 5), lastMissing: segmentName(1, 6), missing: 2, resumesAt: segmentName(1, 7) },
      { firstMissing: segmentName(1, 9), lastMissing: segmentName(1, 9), missing: 1, resumesAt: segmentName(1, 10) },
    ]);
  });

  it('reaches nothing when the base backup\'s own start segment is missing', () => {
    expect(continuity(run(4, 5), segmentName(1, 3))).toEqual({
      from: segmentName(1, 3), contiguousThrough: null, gaps: [{ firstMissing: segmentName(1, 3), lastMissing: segmentName(1, 3), missing: 1, resumesAt: segmentName(1, 4) }],
    });
  });
});

describe('the WAL spool', () => {
  it('takes only whole, settled WAL files, in WAL order, and leaves temp files, short and fresh segments alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lifeboat-spool-'));
    try {
      const segment = Buffer.alloc(16 * 1024 * 1024);
      const old = (Date.now() - 10_000) / 1000;
      const write = (name: string, data: Buffer, settled = true) => {
        writeFileSync(join(dir, name), data);
        if (settled) utimesSync(join(dir, name), old, old);
      };
      write('000000020000000000000005', segment);
      write('00000002.history', Buffer.from('1\t0/5000000\tno recovery target specified\n'));
      write('000000010000000000000004', segment);
      write('000000010000000000000004.00000028.backup', Buffer.from('START WAL LOCATION'));
      write('.000000010000000000000006.tmp', segment);
      write('000000010000000000000007', segment.subarray(0, 1024 * 1024 + 7));
      write('000000010000000000000008', segment, false);
      mkdirSync(join(dir, 'archive_status'));
      const listing = await listSpool(dir, 'app-db');
      expect(listing.ready.map((f) => f.name)).toEqual(['000000010000000000000004', '000000010000000000000004.00000028.backup', '00000002.history', '000000020000000000000005']);
      expect(listing.settling).toEqual(['000000010000000000000007', '000000010000000000000008']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is a Config error with a hint when the spool does not exist', async () => {
    const error = await listSpool('/nonexistent/lifeboat-spool', 'app-db').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LifeboatError);
    expect(error).toMatchObject({ type: 'Config', message: 'WAL spool /nonexistent/lifeboat-spool of app-db does not exist' });
    expect((error as LifeboatError).hint).toContain('wal.spool');
  });
});
