import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { removeTree } from '../activities/remove-tree';

/** A restored tree: 20,000 files in 40 directories, a symlink pointing out of it, and a file outside. */
async function restoredTree(): Promise<{ root: string; tree: string; outside: string }> {
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-remove-tree-'));
  const tree = join(root, 'tree');
  for (let d = 0; d < 40; d += 1) {
    const directory = join(tree, `d${d}`, 'deeper');
    mkdirSync(directory, { recursive: true });
    await execa('sh', ['-c', 'seq -f f%g 1 500 | xargs touch'], { cwd: directory });
  }
  const outside = join(root, 'outside.txt');
  writeFileSync(outside, 'keep me');
  symlinkSync(outside, join(tree, 'link'));
  return { root, tree, outside };
}

/** How often a 5 ms timer fired while `work` ran: 0 means the event loop (and every heartbeat) was blocked throughout. */
async function ticksDuring(work: () => Promise<unknown> | unknown): Promise<number> {
  let ticks = 0;
  const timer = setInterval(() => { ticks += 1; }, 5);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return ticks;
}

describe('removeTree', () => {
  const roots: string[] = [];
  afterEach(() => {
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  it('removes a large restored tree while the event loop keeps running, and never follows a symlink out of it', async () => {
    const { root, tree, outside } = await restoredTree();
    roots.push(root);
    let removed = 0;
    const ticks = await ticksDuring(async () => { removed = await removeTree(tree); });
    expect(existsSync(tree)).toBe(false);
    expect(existsSync(outside)).toBe(true);
    expect(removed).toBe(20_000 + 40 + 40 + 1 + 1);
    // rmSync, as the cleanups used before, lets no timer fire until the whole tree is gone: no heartbeat either.
    expect(ticks).toBeGreaterThan(5);
  }, 60_000);

  it('empties a directory that existed before when asked to keep it, and is fine with a path that is gone', async () => {
    const { root, tree } = await restoredTree();
    roots.push(root);
    await removeTree(tree, { keepRoot: true });
    expect(readdirSync(tree)).toEqual([]);
    expect(await removeTree(join(root, 'never-there'))).toBe(0);
  }, 60_000);
});
