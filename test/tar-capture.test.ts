import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBackupLabel } from '../activities/sources/postgres/physical';
import { tarScanner } from '../activities/sources/postgres/tar-capture';
import { scannedPipeline } from '../activities/pipeline/scan-copy';
import { LifeboatError } from '../lib/errors';
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
    // execa gives a Uint8Array.
    tar = Buffer.from((await execa('tar', ['-c', '--format=gnu', '-C', tree, 'base', 'backup_label', 'pg_wal', 'backup_manifest'], { encoding: 'buffer' })).stdout);
    writeFileSync(join(dir, 'test.tar'), tar);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds backup_label, the manifest\'s tail and the WAL in pieces of any size, from one buffer overwritten after each piece', () => {
    for (const size of [1, 511, 512, 513, 4096, 65_536, tar.length]) {
      const scanner = tarScanner(['backup_label', 'backup_manifest'], 64 * 1024);
      // Pieces placed at an offset in a reused buffer, then scribbled over: what the scanner keeps must be its own copy.
      const reused = Buffer.alloc(size + 7);
      for (let i = 0; i < tar.length; i += size) {
        const piece = tar.subarray(i, i + size);
        piece.copy(reused, 3);
        scanner.push(reused, 3, 3 + piece.length);
        reused.fill(0x41);
      }
      const { findings } = scanner;
      expect(findings.files.get('backup_label')?.toString(), `piece size ${size}`).toBe(label);
      expect(findings.files.has('backup_manifest')).toBe(false);
      expect(findings.tails.get('backup_manifest')!.toString()).toMatch(/^\{"Path": "x"\}, .*"End-LSN": "0\/2000100" \} \] \}$/s);
      expect(findings.tails.get('backup_manifest')!.length).toBe(64 * 1024);
      expect(findings.walFiles).toEqual(['000000010000000000000002']);
      expect(findings.members).toBe(8);
    }
  });

  it('scans the tar in a worker thread while it passes unchanged from the producer to the encoder', async () => {
    const scanner = tarScanner(['backup_label', 'backup_manifest'], 64 * 1024);
    const scanned = await scannedPipeline({ tool: 'cat', args: [join(dir, 'test.tar')], what: 'cat of the tar' }, [{ tool: 'cat', args: [], what: 'encode' }], scanner);
    const out = await readAll(scanned.output);
    await scanned.finished;
    expect(out.equals(tar)).toBe(true);
    expect(scanned.rawSize()).toBe(tar.length);
    expect(scanner.findings.files.get('backup_label')?.toString()).toBe(label);
    expect(scanner.findings.tails.get('backup_manifest')!.toString()).toMatch(/"End-LSN": "0\/2000100" \} \] \}$/);
    expect(scanner.findings.walFiles).toEqual(['000000010000000000000002']);
    expect(scanner.findings.members).toBe(8);
  });

  it('reports the producer\'s failure, classified, and the copy ends rather than waiting on the FIFO', async () => {
    const scanned = await scannedPipeline({
      tool: 'sh', args: ['-c', 'printf partial; echo "the real reason" >&2; exit 3'], what: 'a failing producer',
      classify: (stderr) => (stderr.includes('real reason') ? new LifeboatError('Config', `classified: ${stderr}`) : undefined),
    }, [{ tool: 'cat', args: [], what: 'encode' }], tarScanner([], 1024));
    scanned.output.resume();
    await expect(scanned.finished).rejects.toMatchObject({ type: 'Config', message: 'classified: the real reason' });
  });

  it('reports a producer that is not installed', async () => {
    const scanned = await scannedPipeline({ tool: 'no-such-producer-tool', args: [], what: 'a missing producer' }, [{ tool: 'cat', args: [], what: 'encode' }], tarScanner([], 1024));
    scanned.output.resume();
    await expect(scanned.finished).rejects.toMatchObject({ type: 'MissingTool' });
  });

  it('reports an encoder that fails, or is missing, and stops the endless producer', async () => {
    const failing = await scannedPipeline({ tool: 'cat', args: ['/dev/zero'], what: 'endless' },
      [{ tool: 'sh', args: ['-c', 'head -c 100000 "$1" >/dev/null; echo "encoder gave up" >&2; exit 4', 'sh'], what: 'encode' }], tarScanner([], 1024));
    failing.output.resume();
    await expect(failing.finished).rejects.toMatchObject({ type: 'ToolFailed', message: expect.stringMatching(/encode: sh exited with code 4: encoder gave up/) });
    const missing = await scannedPipeline({ tool: 'cat', args: ['/dev/zero'], what: 'endless' }, [{ tool: 'no-such-encoder-tool', args: [], what: 'encode' }], tarScanner([], 1024));
    missing.output.resume();
    await expect(missing.finished).rejects.toMatchObject({ type: 'MissingTool' });
  });

  it('ends when killed, the copy included', async () => {
    const killed = await scannedPipeline({ tool: 'cat', args: ['/dev/zero'], what: 'endless' }, [{ tool: 'cat', args: [], what: 'encode' }], tarScanner([], 1024));
    killed.output.resume();
    setTimeout(() => killed.kill(), 200);
    await expect(killed.finished).rejects.toMatchObject({ type: 'ToolFailed', message: expect.stringMatching(/killed by SIGTERM/) });
  });

  it('parses backup_label into its fields', () => {
    expect(parseBackupLabel(label)).toMatchObject({ 'START WAL LOCATION': '0/2000028 (file 000000010000000000000002)', 'START TIMELINE': '1', 'START TIME': '2026-11-24 16:30:00 UTC' });
  });
});
