import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listSpool } from '../activities/wal/spool';
import { archiveCommand } from '../lib/wal';

const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
const local = fileURLToPath(new URL('../activities/storage/local.ts', import.meta.url));
const processes = fileURLToPath(new URL('../activities/pipeline/processes.ts', import.meta.url));

/** The fsyncs and renames (and hard links, which the local driver puts objects in place with) a command makes under `dir`, in order, as strace sees them. */
async function syncsAndRenames(dir: string, command: string, args: string[]): Promise<string[]> {
  const out = join(dir, 'strace.txt');
  await execa('strace', ['-f', '-y', '-qq', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2,link,linkat', '-o', out, command, ...args]);
  const events: string[] = [];
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const sync = /(?:fsync|fdatasync)\(\d+<([^>]+)>\)\s+= 0/.exec(line);
    if (sync && sync[1]!.startsWith(dir)) events.push(`fsync ${sync[1]!.slice(dir.length) || '/'}`);
    const rename = /(?:rename(?:at2?)?|\blink(?:at)?)\(.*?"([^"]+)".*?"([^"]+)".*= 0/.exec(line);
    if (rename && rename[2]!.startsWith(dir)) events.push(`rename ${rename[1]!.slice(rename[1]!.lastIndexOf('/') + 1)} -> ${rename[2]!.slice(dir.length)}`);
  }
  return events;
}

describe('what reaches the disk before Lifeboat or PostgreSQL counts it as stored', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-fsync-'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the local storage driver fsyncs an object before linking it into place (streamed, or written by a tool through a descriptor), then the directory that holds it, and every directory it created', async () => {
    const root = join(dir, 'region');
    mkdirSync(root);
    const script = join(dir, 'put.mts');
    writeFileSync(script, `import { Readable } from 'node:stream';
import { LocalStorage } from ${JSON.stringify(local)};
import { startPipeline } from ${JSON.stringify(processes)};
const storage = new LocalStorage(${JSON.stringify(root)});
await storage.put('src/b-1/manifest.json', Buffer.from('{}'));
await storage.putStream('src/b-1/data.zst.age', Readable.from([Buffer.alloc(1000)]));
const direct = await storage.openDescriptorWrite('src/b-1/direct.zst.age');
const running = startPipeline([{ tool: 'head', args: ['-c', '1000', '/dev/zero'], what: 'head' }], 'ignore', direct.input);
await direct.commit(running.finished);
`);
    const events = await syncsAndRenames(root, tsx, [script]);
    const renamed = (name: string) => events.findIndex((e) => e.startsWith('rename ') && e.endsWith(`-> /src/b-1/${name}`));
    // The last written by a tool through a descriptor: the worker thread that copied it fsyncs it.
    for (const name of ['manifest.json', 'data.zst.age', 'direct.zst.age']) {
      const at = renamed(name);
      expect(at, events.join('\n')).toBeGreaterThan(0);
      expect(events[at - 1], events.join('\n')).toMatch(new RegExp(`^fsync /src/b-1/${name.replace('.', '\\.')}\\.partial-`));
      expect(events[at + 1], events.join('\n')).toBe('fsync /src/b-1');
    }
    // The new directories src/ and src/b-1/ are named in their parents: synced before the first object counts.
    expect(events.indexOf('fsync /')).toBeGreaterThanOrEqual(0);
    expect(events.indexOf('fsync /src')).toBeGreaterThanOrEqual(0);
    expect(events.indexOf('fsync /src')).toBeLessThan(renamed('manifest.json'));
  });

  it('the recommended archive_command fsyncs the spooled copy before its rename and the spool after it', async () => {
    const spool = join(dir, 'spool');
    mkdirSync(spool);
    const segment = join(dir, 'pg_wal-000000010000000000000007');
    writeFileSync(segment, Buffer.alloc(1 << 20, 7));
    const command = archiveCommand(spool).replaceAll('%p', segment).replaceAll('%f', '000000010000000000000007');
    const events = await syncsAndRenames(spool, 'sh', ['-c', command]);
    expect(events).toEqual([
      'fsync /.000000010000000000000007.tmp',
      'rename .000000010000000000000007.tmp -> /000000010000000000000007',
      'fsync /',
    ]);
    // Run again for the same file (PostgreSQL retrying after a crash), it refuses rather than overwrite.
    await expect(execa('sh', ['-c', command])).rejects.toMatchObject({ exitCode: 1 });
  });

  it('the shipper never takes the archive command\'s temp copy, only the file renamed into place', async () => {
    const spool = join(dir, 'spool-listing');
    mkdirSync(spool);
    const old = (Date.now() - 10_000) / 1000;
    for (const name of ['.000000010000000000000008.tmp', '000000010000000000000009']) {
      writeFileSync(join(spool, name), Buffer.alloc(1 << 20));
      utimesSync(join(spool, name), old, old);
    }
    const listing = await listSpool(spool, 'db');
    expect(listing.ready.map((f) => f.name)).toEqual(['000000010000000000000009']);
    expect(listing.settling).toEqual([]);
  });
});
