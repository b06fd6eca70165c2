import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HeldSymlinks } from '../activities/sources/files/held-symlinks';

describe('symlinks held between the members of a files restore', () => {
  const work = mkdtempSync(join(tmpdir(), 'lifeboat-held-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('become files that nothing can be written through, and come back wherever a rename moved them', async () => {
    const root = join(work, 'moved');
    mkdirSync(join(root, 'a'), { recursive: true });
    symlinkSync('/etc', join(root, 'a', 'link'));
    const links = new HeldSymlinks();
    await links.hold(root);
    expect(lstatSync(join(root, 'a', 'link')).isFile()).toBe(true);
    expect(() => writeFileSync(join(root, 'a', 'link', 'evil'), 'x')).toThrow(/ENOTDIR/);
    renameSync(join(root, 'a'), join(root, 'b'));
    await links.release(root, false);
    expect(readlinkSync(join(root, 'b', 'link'))).toBe('/etc');
  });

  it('leave alone a file that took a placeholder\'s inode after tar replaced it', async () => {
    const root = join(work, 'reused');
    mkdirSync(root);
    symlinkSync('sub', join(root, 'd'));
    const links = new HeldSymlinks();
    await links.hold(root);
    // Same inode, other content: what an extracted file given the freed inode looks like.
    writeFileSync(join(root, 'd'), 'honest content');
    await links.release(root, false);
    expect(lstatSync(join(root, 'd')).isFile()).toBe(true);
    expect(readFileSync(join(root, 'd'), 'utf8')).toBe('honest content');
  });
});
