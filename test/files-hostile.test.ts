import { trusted } from './support/signing';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { walkTree } from '../activities/sources/files/walk';
import type { StorageBackend } from '../activities/storage/backend';
import type { Manifest } from '../lib/manifest';
import { plantArchive } from './support/crafted';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup, runRestore } from './support/runs';
import { failureOf, startHarness, type Harness } from './support/workers';

const servers = inject('servers');

describe('a files restore of a crafted chain', () => {
  let fixture: Fixture;
  let harness: Harness;
  let storage: StorageBackend;
  /** A real full backup and a real increment on it: each test plants its own archives into both. */
  let full: Manifest;
  let increment: Manifest;
  let cases = 0;
  const source = mkdtempSync(join(tmpdir(), 'lifeboat-crafted-'));

  beforeAll(async () => {
    fixture = await makeFixture(servers, () => ({ crafted: { kind: 'files', region: 'stockholm', path: source } }));
    harness = await startHarness(fixture.config);
    storage = createDeps(fixture.config).storage('stockholm');
    writeFileSync(join(source, 'a'), 'a');
    await runBackup(harness.client, fixture.config, 'crafted');
    writeFileSync(join(source, 'b'), 'b');
    await runBackup(harness.client, fixture.config, 'crafted');
    [full, increment] = (await listBackups(storage, trusted, 'crafted')).map((entry) => entry.manifest) as [Manifest, Manifest];
    expect(increment.parent).toBe(full.id);
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
    rmSync(source, { recursive: true, force: true });
  });

  /** A fresh case directory: stage/ to build archives in, outside/ that nothing may touch, target/ to restore into. */
  function newCase(): { dir: string; stage: string; outside: string; target: string } {
    const dir = join(fixture.dir, `case-${cases++}`);
    const paths = { dir, stage: join(dir, 'stage'), outside: join(dir, 'outside'), target: join(dir, 'target') };
    mkdirSync(paths.stage, { recursive: true });
    mkdirSync(paths.outside);
    return paths;
  }

  /** A tar of exactly the named members, in order, names kept as given (-P keeps "/" and ".."). */
  async function archive(file: string, directory: string, members: string[], extra: string[] = []): Promise<string> {
    await execa('tar', ['--create', `--file=${file}`, '--no-recursion', '--absolute-names', `--directory=${directory}`, ...extra, '--', ...members]);
    return file;
  }

  /** The restore's failure; what it left outside and in the target is each test's to check, outside first. */
  function refusal(target: string, backupId: string) {
    return failureOf(runRestore(harness.client, fixture.config, { source: 'crafted', target, backupId }));
  }

  it('refuses a symlink in one member and a child below it in the next, and writes nothing anywhere', async () => {
    const { stage, outside, target, dir } = newCase();
    symlinkSync(outside, join(stage, 'd'));
    await plantArchive(storage, full, await archive(join(dir, 'm0.tar'), stage, ['.', './d']), fixture.key.recipient);
    rmSync(join(stage, 'd'));
    mkdirSync(join(stage, 'd'));
    writeFileSync(join(stage, 'd', 'evil'), 'evil');
    await plantArchive(storage, increment, await archive(join(dir, 'm1.tar'), stage, ['./d/evil']), fixture.key.recipient);

    const failure = await refusal(target, increment.id);
    expect(existsSync(join(outside, 'evil'))).toBe(false);
    expect(failure.type).toBe('UnsafeArchive');
    expect(failure.message).toContain(`member "./d/evil" of backup ${increment.id} would write through symlink "d" (made by backup ${full.id}), outside the target; nothing was extracted`);
    expect(existsSync(join(outside, 'evil'))).toBe(false);
    expect(readdirSync(target)).toEqual([]);
  });

  it('refuses a member named with ".." and writes nothing beside the target', async () => {
    const { stage, dir, target } = newCase();
    mkdirSync(join(stage, 'sub'));
    writeFileSync(join(stage, 'escaped'), 'evil');
    await plantArchive(storage, full, await archive(join(dir, 'm0.tar'), join(stage, 'sub'), ['.', '../escaped']), fixture.key.recipient);
    const failure = await refusal(target, full.id);
    expect(failure.type).toBe('UnsafeArchive');
    expect(failure.message).toContain(`member "../escaped" of backup ${full.id} has a ".." in its name`);
    expect(existsSync(join(dir, 'escaped'))).toBe(false);
    expect(readdirSync(target)).toEqual([]);
  });

  it('refuses a member with an absolute name', async () => {
    const { stage, outside, dir, target } = newCase();
    writeFileSync(join(outside, 'planted'), 'evil');
    await plantArchive(storage, full, await archive(join(dir, 'm0.tar'), stage, ['.', join(outside, 'planted')]), fixture.key.recipient);
    rmSync(join(outside, 'planted'));
    const failure = await refusal(target, full.id);
    expect(failure.type).toBe('UnsafeArchive');
    expect(failure.message).toContain(`member "${join(outside, 'planted')}" of backup ${full.id} has an absolute name`);
    expect(existsSync(join(outside, 'planted'))).toBe(false);
    expect(readdirSync(target)).toEqual([]);
  });

  it('refuses a device node', async () => {
    const { stage, dir, target } = newCase();
    await execa('mknod', [join(stage, 'null'), 'c', '1', '3']);
    await plantArchive(storage, full, await archive(join(dir, 'm0.tar'), stage, ['.', './null']), fixture.key.recipient);
    const failure = await refusal(target, full.id);
    expect(failure.type).toBe('UnsafeArchive');
    expect(failure.message).toContain(`member "./null" of backup ${full.id} is a character device node (crw-r--r--)`);
    expect(readdirSync(target)).toEqual([]);
  });

  it('refuses a hard link that reaches outside through a symlink of an earlier member', async () => {
    const { stage, outside, dir, target } = newCase();
    writeFileSync(join(outside, 'secret'), 'secret');
    symlinkSync(outside, join(stage, 'etc'));
    await plantArchive(storage, full, await archive(join(dir, 'm0.tar'), stage, ['.', './etc']), fixture.key.recipient);
    rmSync(join(stage, 'etc'));
    writeFileSync(join(stage, 'file'), 'x');
    await execa('ln', [join(stage, 'file'), join(stage, 'x')]);
    // The second name becomes a hard link; its target is renamed to etc/secret, through the link above.
    await plantArchive(storage, increment, await archive(join(dir, 'm1.tar'), stage, ['./file', './x'], ['--transform=flags=h;s,^\\./file$,./etc/secret,']), fixture.key.recipient);
    const failure = await refusal(target, increment.id);
    expect(statSync(join(outside, 'secret')).nlink).toBe(1);
    expect(failure.type).toBe('UnsafeArchive');
    expect(failure.message).toContain(`member "./x" of backup ${increment.id} would write through its hard link target symlink "etc" (made by backup ${full.id})`);
    expect(statSync(join(outside, 'secret')).nlink).toBe(1);
    expect(readdirSync(target)).toEqual([]);
  });

  it('restores a setuid file and a setgid directory without their special bits or owners, keeps sticky directories, and keeps everything when asked', async () => {
    const { stage, dir } = newCase();
    mkdirSync(join(stage, 'shared'));
    mkdirSync(join(stage, 'tmp'));
    chmodSync(join(stage, 'tmp'), 0o1777);
    writeFileSync(join(stage, 'tool'), '#!/bin/sh\n');
    writeFileSync(join(stage, 'shared', 'group-writable'), 'g');
    // chown first: it clears setuid.
    chownSync(join(stage, 'tool'), 4321, 4321);
    chmodSync(join(stage, 'tool'), 0o4755);
    chmodSync(join(stage, 'shared'), 0o2775);
    chmodSync(join(stage, 'shared', 'group-writable'), 0o664);
    const { files, directories, symlinks, bytes } = await walkTree(stage);
    await plantArchive(storage, full, await archive(join(dir, 'm0.tar'), stage, ['.', './shared', './shared/group-writable', './tmp', './tool']),
      fixture.key.recipient, { files, directories, symlinks, bytes });

    const plain = join(dir, 'plain');
    await runRestore(harness.client, fixture.config, { source: 'crafted', target: plain, backupId: full.id });
    expect((statSync(join(plain, 'tool')).mode & 0o7777).toString(8)).toBe('755');
    expect(statSync(join(plain, 'tool')).uid).toBe(process.getuid!());
    expect((statSync(join(plain, 'shared')).mode & 0o7777).toString(8)).toBe('775');
    // The sticky bit only restricts: a shared directory keeps it.
    expect((statSync(join(plain, 'tmp')).mode & 0o7777).toString(8)).toBe('1777');
    // Ordinary bits are the archive's, not the worker's umask.
    expect((statSync(join(plain, 'shared', 'group-writable')).mode & 0o7777).toString(8)).toBe('664');

    const kept = join(dir, 'kept');
    await runRestore(harness.client, fixture.config, { source: 'crafted', target: kept, backupId: full.id, preserveOwnership: true });
    expect((statSync(join(kept, 'tool')).mode & 0o7777).toString(8)).toBe('4755');
    expect(statSync(join(kept, 'tool')).uid).toBe(4321);
    expect((statSync(join(kept, 'shared')).mode & 0o7777).toString(8)).toBe('2775');
  });

  it('never moves a directory from outside when an increment renames through a symlink the pre-scan cannot see', async () => {
    const { stage, outside, dir, target } = newCase();
    mkdirSync(join(outside, 'x'));
    writeFileSync(join(outside, 'x', 'data'), 'precious');
    symlinkSync(outside, join(stage, 'd'));
    await plantArchive(storage, full, await archive(join(dir, 'm0.tar'), stage, ['.', './d']), fixture.key.recipient);
    // An honest tar records the rename of d/x to y in the increment's directory listing ("R ./d/x", "T ./y").
    const tree = join(dir, 'renaming');
    mkdirSync(join(tree, 'd', 'x'), { recursive: true });
    await execa('tar', ['--create', `--file=${join(dir, 'level0.tar')}`, `--listed-incremental=${join(dir, 'snar')}`, `--directory=${tree}`, '.']);
    renameSync(join(tree, 'd', 'x'), join(tree, 'y'));
    await execa('tar', ['--create', `--file=${join(dir, 'm1.tar')}`, `--listed-incremental=${join(dir, 'snar')}`, `--directory=${tree}`, '.']);
    await plantArchive(storage, increment, join(dir, 'm1.tar'), fixture.key.recipient);

    await failureOf(runRestore(harness.client, fixture.config, { source: 'crafted', target, backupId: increment.id }));
    expect(readdirSync(join(outside, 'x'))).toEqual(['data']);
    expect(existsSync(join(target, 'y', 'data'))).toBe(false);
  });
});

describe('a files restore of an honest chain', () => {
  let fixture: Fixture;
  let harness: Harness;
  const tree = mkdtempSync(join(tmpdir(), 'lifeboat-honest-'));

  beforeAll(async () => {
    fixture = await makeFixture(servers, () => ({ honest: { kind: 'files', region: 'stockholm', path: tree } }));
    mkdirSync(join(tree, 'sub'));
    harness = await startHarness(fixture.config);
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
    rmSync(tree, { recursive: true, force: true });
  });

  it('restores absolute symlinks, and a symlink that an increment replaced with a directory', async () => {
    writeFileSync(join(tree, 'sub', 'file'), 'file');
    symlinkSync('/etc', join(tree, 'etc-link'));
    symlinkSync('/usr/share/does-not-exist', join(tree, 'dangling'));
    symlinkSync('sub', join(tree, 'd'));
    await runBackup(harness.client, fixture.config, 'honest');
    rmSync(join(tree, 'd'));
    mkdirSync(join(tree, 'd'));
    writeFileSync(join(tree, 'd', 'inner'), 'inner');
    const summary = await runBackup(harness.client, fixture.config, 'honest');
    expect(summary.parent).not.toBeNull();

    const target = join(fixture.dir, 'restored');
    const result = await runRestore(harness.client, fixture.config, { source: 'honest', target });
    expect(result.checked).toMatch(/^2 backups \(full \+ 1 increments\) restored/);
    expect(readlinkSync(join(target, 'etc-link'))).toBe('/etc');
    expect(readlinkSync(join(target, 'dangling'))).toBe('/usr/share/does-not-exist');
    expect(lstatSync(join(target, 'd')).isDirectory()).toBe(true);
    expect(readdirSync(join(target, 'd'))).toEqual(['inner']);
    expect(readdirSync(target).sort()).toEqual(['d', 'dangling', 'etc-link', 'sub']);
    // The links were held as placeholders between the two members; putting them back kept the directory's time.
    // Within a millisecond: the restored time passes through tar's decimal seconds and a float; "now" would be seconds later.
    expect(Math.abs(lstatSync(target).mtimeMs - lstatSync(tree).mtimeMs)).toBeLessThan(2);
  });
});
