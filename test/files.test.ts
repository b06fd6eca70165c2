import { trusted } from './support/signing';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { readAll, type StorageBackend } from '../activities/storage/backend';
import type { FilesDescription, Manifest } from '../lib/manifest';
import type { BackupSummary } from '../workflows/backup-source';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup, runRestore } from './support/runs';
import { failureOf, startHarness, type Harness } from './support/workers';
import { replaceObject } from './support/tamper';

const servers = inject('servers');

/** Every entry below root: type, mode, content hash or link target, and mtime for files and links. */
function treeOf(root: string): Record<string, string> {
  const result: Record<string, string> = {};
  const visit = (relative: string) => {
    for (const name of readdirSync(join(root, relative)).sort()) {
      const path = relative ? `${relative}/${name}` : name;
      const info = lstatSync(join(root, path));
      const mode = (info.mode & 0o7777).toString(8);
      if (info.isSymbolicLink()) result[path] = `link -> ${readlinkSync(join(root, path))}`;
      else if (info.isDirectory()) {
        result[path] = `dir ${mode}`;
        visit(path);
      } else {
        const hash = createHash('sha256').update(readFileSync(join(root, path))).digest('hex').slice(0, 16);
        result[path] = `file ${mode} ${hash} ${Math.floor(info.mtimeMs / 1000)}`;
      }
    }
  };
  visit('');
  return result;
}

/** What the backup should hold: the tree without what `exclude: ['*.tmp', 'cache/**']` leaves out. */
function included(entries: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).filter(([path]) => !path.endsWith('.tmp') && !path.startsWith('cache/')));
}

function write(root: string, path: string, content: string | Buffer, mode = 0o644, mtime?: number): void {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), content);
  chmodSync(join(root, path), mode);
  if (mtime) utimesSync(join(root, path), mtime, mtime);
}

describe('a file-tree source with incremental backups', () => {
  let fixture: Fixture;
  let harness: Harness;
  let storage: StorageBackend;
  let tree: string;
  const backups: BackupSummary[] = [];
  const states: Array<Record<string, string>> = [];

  beforeAll(async () => {
    fixture = await makeFixture(servers, () => ({}));
    tree = join(fixture.dir, 'uploads');
    mkdirSync(tree);
    fixture = await makeFixture(servers, () => ({ uploads: { kind: 'files', region: 'stockholm', path: tree, exclude: ['*.tmp', 'cache/**'] } }));
    harness = await startHarness(fixture.config);
    storage = createDeps(fixture.config).storage('stockholm');

    // Full: a few directories, a large file, modes and mtimes worth keeping, things to exclude.
    write(tree, 'docs/readme.txt', 'hello\n', 0o644, 1_600_000_000);
    write(tree, 'docs/secret.txt', 'only me\n', 0o600, 1_600_000_100);
    write(tree, 'bin/run.sh', '#!/bin/sh\necho run\n', 0o755, 1_600_000_200);
    write(tree, 'images/big.bin', randomBytes(2_500_000), 0o644, 1_600_000_300);
    write(tree, 'scratch.tmp', 'excluded', 0o644);
    write(tree, 'cache/x/y.dat', 'excluded too', 0o644);
    symlinkSync('docs/readme.txt', join(tree, 'readme-link'));
    backups.push(await runBackup(harness.client, fixture.config, 'uploads'));
    states.push(included(treeOf(tree)));

    // Increment 1: an addition, a change, a deletion.
    write(tree, 'docs/new.txt', 'new file\n', 0o644, 1_600_001_000);
    write(tree, 'docs/readme.txt', 'hello, changed\n', 0o644, 1_600_001_100);
    rmSync(join(tree, 'bin/run.sh'));
    backups.push(await runBackup(harness.client, fixture.config, 'uploads'));
    states.push(included(treeOf(tree)));

    // Increment 2: a rename, a new directory with a symlink into it.
    renameSync(join(tree, 'docs/new.txt'), join(tree, 'docs/renamed.txt'));
    write(tree, 'more/deep/file.txt', 'deep\n', 0o640, 1_600_002_000);
    symlinkSync('../more/deep/file.txt', join(tree, 'docs/deep-link'));
    backups.push(await runBackup(harness.client, fixture.config, 'uploads'));
    states.push(included(treeOf(tree)));

    // Increment 3: a directory removed whole, a mode change.
    rmSync(join(tree, 'images'), { recursive: true });
    chmodSync(join(tree, 'docs/secret.txt'), 0o400);
    backups.push(await runBackup(harness.client, fixture.config, 'uploads'));
    states.push(included(treeOf(tree)));
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
  });

  it('takes a full backup and then increments, each naming its parent', async () => {
    const manifests = (await listBackups(storage, trusted, 'uploads')).map((e) => e.manifest);
    expect(manifests.map((m) => [(m.description as FilesDescription).level, m.parent])).toEqual([
      [0, null], [1, backups[0]!.backupId], [2, backups[1]!.backupId], [3, backups[2]!.backupId],
    ]);
    expect(manifests.every((m) => m.objects.some((o) => o.role === 'state' && o.key.endsWith('tar-snapshot.zst.age')))).toBe(true);
    // An increment holds only what changed: far smaller than the full with its 2.5 MB file.
    expect(manifests[1]!.objects[0]!.size).toBeLessThan(manifests[0]!.objects[0]!.size / 10);
  });

  it('records the whole tree at each backup, without the excluded paths', async () => {
    const manifests = (await listBackups(storage, trusted, 'uploads')).map((e) => e.manifest.description as FilesDescription);
    expect(manifests[0]).toMatchObject({ files: 4, symlinks: 1, exclude: ['*.tmp', 'cache/**'] });
    expect(manifests[3]).toMatchObject({ files: 4, symlinks: 2, warnings: [] });
  });

  it('restores the chain of a full and three increments to a tree equal to the source', async () => {
    const target = join(fixture.dir, 'restored-latest');
    const result = await runRestore(harness.client, fixture.config, { source: 'uploads', target });
    expect(result.checked).toMatch(/^4 backups \(full \+ 3 increments\) restored/);
    expect(treeOf(target)).toEqual(states[3]);
    expect(Object.keys(treeOf(target))).not.toContain('scratch.tmp');
    expect(Object.keys(treeOf(target))).not.toContain('cache/x/y.dat');
    expect(treeOf(target)['cache']).toBe('dir 755');
  });

  it('restores an earlier point of the chain to the tree as it was then', async () => {
    const target = join(fixture.dir, 'restored-second');
    await runRestore(harness.client, fixture.config, { source: 'uploads', target, backupId: backups[1]!.backupId });
    expect(treeOf(target)).toEqual(states[1]);
  });

  it('refuses a chain with a corrupted increment in the middle, names it, and writes nothing', async () => {
    const manifests = (await listBackups(storage, trusted, 'uploads')).map((e) => e.manifest);
    const middle = manifests[2]!.objects[0]!;
    const original = await readAll(await storage.get(middle.key));
    const damaged = Buffer.from(original);
    damaged[100]! ^= 0xff;
    await replaceObject(storage, middle.key, damaged);
    const target = join(fixture.dir, 'restored-broken');
    try {
      const failure = await failureOf(runRestore(harness.client, fixture.config, { source: 'uploads', target }));
      expect(failure.type).toBe('ChecksumMismatch');
      expect(failure.message).toContain(`broken at ${manifests[2]!.id} (increment 2)`);
      expect(readdirSync(target)).toEqual([]);
    } finally {
      await replaceObject(storage, middle.key, original);
    }
  });

  it('restores with age, zstd and tar alone: the break-glass path', async () => {
    const target = join(fixture.dir, 'restored-by-hand');
    mkdirSync(target);
    const chain: Manifest[] = (await listBackups(storage, trusted, 'uploads')).map((e) => e.manifest);
    for (const manifest of chain) {
      const file = join(fixture.dir, `${manifest.id}.tar.zst.age`);
      writeFileSync(file, await readAll(await storage.get(manifest.objects[0]!.key)));
      await execa('bash', ['-o', 'pipefail', '-c',
        `age -d -i "${fixture.key.identityFile}" "${file}" | zstd -d | tar --extract --listed-incremental=/dev/null --directory="${target}"`]);
    }
    expect(treeOf(target)).toEqual(states[3]);
  });

  it('takes a full backup, and says why, when the backup worker cannot read the previous state', async () => {
    const config = structuredClone(fixture.config);
    config.encryption.identityFile = undefined;
    config.temporal.taskQueuePrefix = `${fixture.config.temporal.taskQueuePrefix}noid-`;
    const other = await startHarness(config);
    try {
      const summary = await runBackup(other.client, config, 'uploads');
      expect(summary.parent).toBeNull();
      const entry = (await listBackups(storage, trusted, 'uploads')).find((e) => e.manifest.id === summary.backupId)!;
      expect((entry.manifest.description as FilesDescription).incrementalNote).toMatch(/identity file is not readable/);
    } finally {
      await other.close();
    }
  });
});
