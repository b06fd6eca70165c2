import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBackupLabel } from '../activities/sources/postgres/physical';
import { tarCapture } from '../activities/sources/postgres/tar-capture';
import { readAll } from '../activities/storage/backend';

const label = 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nCHECKPOINT LOCATION: 0/2000060\nSTART TIME: 2026-11-24 16:30:00 UTC\nSTART TIMELINE: 1\n';

describe('reading pg_basebackup\'s tar as it passes', () => {
  let dir: string;
  let tar: Buffer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-tar-'));
    const tree = join(dir, 'tree');
    const deep = join(tree, 'base', 'a'.repeat(60), 'b'.repeat(60));
    mkdirSync(deep, { recursive: true });
    mkdirSync(join(tree, 'pg_wal'));
    writeFileSync(join(deep, 'long-name-file'), Buffer.alloc(70_000, 7));
    writeFileSync(join(tree, 'backup_label'), label);
    writeFileSync(join(tree, 'pg_wal', '000000010000000000000002'), Buffer.alloc(4096, 1));
    writeFileSync(join(tree, 'backup_manifest'), `{ "Files": [ ${'{"Path": "x"}, '.repeat(50_000)} ], "WAL-Ranges": [ { "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" } ] }`);
    // GNU tar writes an ././@LongLink header for the long name, like no pg_basebackup does: the harder case.
    tar = (await execa('tar', ['-c', '--format=gnu', '-C', tree, 'base', 'backup_label', 'pg_wal', 'backup_manifest'], { encoding: 'buffer' })).stdout as unknown as Buffer;
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes every byte through unchanged and finds backup_label, the manifest\'s tail and the WAL, in chunks of any size', async () => {
    for (const size of [1, 511, 512, 513, 4096, 65_536, tar.length]) {
      const { filter, findings } = tarCapture(['backup_label', 'backup_manifest'], 64 * 1024);
      const chunks: Buffer[] = [];
      for (let i = 0; i < tar.length; i += size) chunks.push(tar.subarray(i, i + size));
      const out = await readAll(Readable.from(chunks).pipe(filter));
      expect(out.equals(tar), `chunk size ${size}`).toBe(true);
      expect(findings.files.get('backup_label')?.toString(), `chunk size ${size}`).toBe(label);
      expect(findings.files.has('backup_manifest')).toBe(false);
      expect(findings.tails.get('backup_manifest')!.toString()).toMatch(/"End-LSN": "0\/2000100" \} \] \}$/);
      expect(findings.walFiles).toEqual(['000000010000000000000002']);
      expect(findings.members).toBe(8);
    }
  });

  it('parses backup_label into its fields', () => {
    expect(parseBackupLabel(label)).toMatchObject({ 'START WAL LOCATION': '0/2000028 (file 000000010000000000000002)', 'START TIMELINE': '1', 'START TIME': '2026-11-24 16:30:00 UTC' });
  });
});
