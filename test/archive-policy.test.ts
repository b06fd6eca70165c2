import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { LifeboatError } from '../lib/errors';
import { ChainPolicy } from '../activities/sources/files/archive-policy';
import { listingArgs, listingEnv, parseListingLine, type ListedEntry } from '../activities/sources/files/listing';

const entry = (type: string, path: string, target?: string): ListedEntry => ({ type, mode: `${type}rw-r--r--`, path, ...(target === undefined ? {} : { target }) });

/** Runs members (backup id, entries) through one policy; returns the refusal, if any. */
function judge(...members: Array<[string, ListedEntry[]]>): LifeboatError | undefined {
  const policy = new ChainPolicy('B2');
  try {
    for (const [id, entries] of members) for (const e of entries) policy.check(id, e);
  } catch (error) {
    return error as LifeboatError;
  }
  return undefined;
}

describe('the chain policy of a files restore', () => {
  it('refuses a member that writes below a symlink an earlier member made', () => {
    const refusal = judge(['B1', [entry('d', './'), entry('l', './d', '/outside')]], ['B2', [entry('-', './d/evil')]]);
    expect(refusal).toBeInstanceOf(LifeboatError);
    expect(refusal!.type).toBe('UnsafeArchive');
    expect(refusal!.retryable).toBe(false);
    expect(refusal!.message).toBe('refusing to restore backup B2: member "./d/evil" of backup B2 would write through symlink "d" (made by backup B1), outside the target; nothing was extracted');
  });

  it('refuses a write below a symlink made earlier in the same member, at any depth', () => {
    expect(judge(['B1', [entry('l', 'a/b', '../x'), entry('d', 'a/b/c/'), entry('-', 'a/b/c/f')]])?.message).toMatch(/member "a\/b\/c\/" of backup B1 would write through symlink "a\/b"/);
  });

  it('accepts a symlink that a later directory entry replaced, as an honest increment does', () => {
    expect(judge(['B1', [entry('l', './d', '/etc'), entry('l', './abs', '/usr/share')]], ['B2', [entry('d', './d/'), entry('-', './d/file')]])).toBeUndefined();
  });

  it('accepts a symlink replaced by a file, and symlinks pointing anywhere', () => {
    expect(judge(['B1', [entry('l', 'up', '../../..'), entry('l', 'root', '/')]], ['B2', [entry('-', 'up'), entry('-', 'other')]])).toBeUndefined();
  });

  it('refuses absolute names, ".." components and empty names', () => {
    expect(judge(['B1', [entry('-', '/etc/cron.d/evil')]])?.message).toMatch(/member "\/etc\/cron.d\/evil" of backup B1 has an absolute name/);
    expect(judge(['B1', [entry('-', 'a/../../evil')]])?.message).toMatch(/has a "\.\." in its name/);
    expect(judge(['B1', [entry('-', '..')]])?.message).toMatch(/has a "\.\." in its name/);
    expect(judge(['B1', [entry('-', '')]])?.message).toMatch(/has an empty name/);
    expect(judge(['B1', [entry('-', './')]])?.message).toMatch(/has an empty name/);
  });

  it('refuses hard links whose target is absolute, climbs out, or passes through a symlink', () => {
    expect(judge(['B1', [entry('h', 'x', '/etc/shadow')]])?.message).toMatch(/member "x" of backup B1 has an absolute hard link target/);
    expect(judge(['B1', [entry('h', 'x', '../etc/shadow')]])?.message).toMatch(/has a "\.\." in its hard link target/);
    expect(judge(['B1', [entry('l', 'etc', '/etc')]], ['B2', [entry('h', 'x', 'etc/shadow')]])?.message)
      .toMatch(/member "x" of backup B2 would write through its hard link target symlink "etc" \(made by backup B1\)/);
    expect(judge(['B1', [entry('-', 'a'), entry('h', 'b', './a')]])).toBeUndefined();
  });

  it('treats a hard link to a symlink as that symlink', () => {
    expect(judge(['B1', [entry('l', 'l', '/'), entry('h', 'm', 'l'), entry('-', 'm/x')]])?.message).toMatch(/through symlink "m"/);
  });

  it('lists the sticky directories of the last member, where every directory of an incremental chain is listed', () => {
    const policy = new ChainPolicy('B2');
    policy.check('B1', { type: 'd', mode: 'drwxrwxrwt', path: './old-tmp/' });
    policy.check('B2', { type: 'd', mode: 'drwxrwxrwt', path: './' });
    policy.check('B2', { type: 'd', mode: 'drwxr-xr-x', path: './plain/' });
    policy.check('B2', { type: 'd', mode: 'drwxrwx--T', path: './tmp/' });
    expect(policy.stickyDirectories()).toEqual(['', 'tmp']);
  });

  it('refuses device nodes and member types a files backup never holds, and keeps FIFOs', () => {
    expect(judge(['B1', [entry('c', 'null')]])?.message).toMatch(/member "null" of backup B1 is a character device node/);
    expect(judge(['B1', [entry('b', 'disk')]])?.message).toMatch(/is a block device node/);
    expect(judge(['B1', [entry('V', 'label')]])?.message).toMatch(/has a member type a files backup never holds/);
    expect(judge(['B1', [entry('p', 'fifo'), entry('S', 'sparse'), entry('C', 'contiguous')]])).toBeUndefined();
  });
});

describe('the tar listing parser', () => {
  const work = mkdtempSync(join(tmpdir(), 'lifeboat-listing-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('reads back every name tar lists, with spaces, quotes, newlines, arrows and bytes that are not UTF-8', async () => {
    const tree = join(work, 'tree');
    const names = ['plain', 'with space', 'new\nline', 'quote"back\\slash', 'tab\there', 'x -> y', 'a link to b', 'ünï', Buffer.from([0x62, 0xff, 0x61]).toString('latin1')];
    mkdirSync(join(tree, 'dir'), { recursive: true });
    for (const name of names) writeFileSync(Buffer.from(join(tree, 'dir', name), 'latin1'), 'x');
    symlinkSync('/far -> away', join(tree, 'arrow -> link'));
    await execa('ln', [join(tree, 'dir', 'with space'), join(tree, 'hard link')]);
    const archive = join(work, 'a.tar');
    await execa('tar', ['--create', `--listed-incremental=${join(work, 'snar')}`, `--file=${archive}`, `--directory=${tree}`, '.']);
    const { stdout } = await execa('tar', [...listingArgs, `--file=${archive}`], { env: listingEnv, encoding: 'latin1' });
    const entries = stdout.split('\n').map((line) => parseListingLine(line));
    expect(entries.every(Boolean)).toBe(true);
    const byPath = new Map(entries.map((e) => [e!.path, e!]));
    for (const name of names) expect(['-', 'h']).toContain(byPath.get(`./dir/${name}`)?.type);
    expect(byPath.get('./arrow -> link')).toMatchObject({ type: 'l', target: '/far -> away' });
    const hard = [...byPath.values()].find((e) => e.type === 'h')!;
    expect([hard.path, hard.target].sort()).toEqual(['./dir/with space', './hard link']);
  });

  it('does not take a line that is not a member line for one', () => {
    expect(parseListingLine('Y name')).toBeUndefined();
    expect(parseListingLine('')).toBeUndefined();
    expect(parseListingLine('-rw-r--r-- 0/0 1 2026-11-28 06:49:44 "./a" -> "b"')).toBeUndefined();
    expect(parseListingLine('lrwxrwxrwx 0/0 0 2026-11-28 06:49:44 "./a"')).toBeUndefined();
    expect(parseListingLine('-rw-r--r-- 0/0 1 2026-11-28 06:49:44 "./a"b"')).toBeUndefined();
    expect(parseListingLine('-rwxr-xr-x 0/0              19 2020-09-13 12:30:00           "./bin/run.sh"')).toMatchObject({ type: '-', path: './bin/run.sh' });
    expect(parseListingLine('crw-r--r-- 0/0 1,3 2026-11-28 06:53:55.612008373 "./cdev"')).toMatchObject({ type: 'c', path: './cdev' });
  });
});
