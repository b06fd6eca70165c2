import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPipeline } from '../activities/pipeline/processes';
import { decideLevel } from '../activities/sources/files/chain';
import { globMatcher } from '../activities/sources/files/glob';
import { walkTree } from '../activities/sources/files/walk';

const root = mkdtempSync(join(tmpdir(), 'lifeboat-walk-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
for (const [path, content] of Object.entries({ 'a.txt': 'aa', 'a.tmp': 't', 'docs/x.md': 'xxx', 'docs/deep/y.tmp': 'y', 'cache/c1': 'c', 'empty/.keep': '' })) {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), content);
}
symlinkSync('a.txt', join(root, 'link'));

describe('exclude and include globs', () => {
  it('match a name at any depth without a slash, and from the top with one', () => {
    const match = globMatcher(['*.tmp', 'cache/**']);
    expect(['a.tmp', 'docs/deep/y.tmp', 'cache/c1', 'cache/x/y'].map(match)).toEqual([true, true, true, true]);
    expect(['a.txt', 'cache', 'docs/cache/c1', 'tmp'].map(match)).toEqual([false, false, false, false]);
  });

  it('count what is kept and list the top-most of what is left out', async () => {
    const tree = await walkTree(root, { isExcluded: globMatcher(['*.tmp', 'cache/**']), isIncluded: () => true });
    expect(tree).toEqual({ files: 3, directories: 4, symlinks: 1, bytes: 5, excluded: ['a.tmp', 'cache/c1', 'docs/deep/y.tmp'] });
  });

  it('keep only what an include glob names, and the directories that lead to it', async () => {
    const include = globMatcher(['docs/**', '*.txt']);
    const tree = await walkTree(root, { isExcluded: globMatcher(['*.tmp']), isIncluded: include });
    expect(tree).toMatchObject({ files: 2, directories: 2, symlinks: 0, bytes: 5 });
    expect(tree.excluded).toEqual(['a.tmp', 'cache', 'docs/deep/y.tmp', 'empty', 'link']);
  });
});

describe('the full-or-increment policy', () => {
  const day = 86_400_000;
  const now = new Date('2026-11-22T12:00:00Z');
  const at = (daysAgo: number) => new Date(now.getTime() - daysAgo * day).toISOString();

  it('takes a full backup first, then increments on the newest backup', () => {
    expect(decideLevel([], now, { fullEvery: '7d' })).toMatchObject({ parent: null, level: 0 });
    expect(decideLevel([{ id: 'f', parent: null, finishedAt: at(2) }, { id: 'i1', parent: 'f', finishedAt: at(1) }], now, { fullEvery: '7d' }))
      .toMatchObject({ parent: 'i1', level: 2 });
  });

  it('takes a new full backup when the last one is older than fullEvery, or after maxIncrements', () => {
    expect(decideLevel([{ id: 'f', parent: null, finishedAt: at(8) }], now, { fullEvery: '7d' })).toMatchObject({ parent: null, level: 0 });
    const chain = [{ id: 'f', parent: null, finishedAt: at(3) }, { id: 'i1', parent: 'f', finishedAt: at(2) }, { id: 'i2', parent: 'i1', finishedAt: at(1) }];
    expect(decideLevel(chain, now, { fullEvery: '7d', maxIncrements: 2 })).toMatchObject({ parent: null, level: 0, reason: '2 increments already follow the last full backup' });
  });

  it('starts a new chain rather than build on a broken one', () => {
    expect(decideLevel([{ id: 'i5', parent: 'gone', finishedAt: at(1) }], now, { fullEvery: '7d' })).toMatchObject({ parent: null, reason: expect.stringContaining('broken') });
  });
});

describe('a tool that succeeds with warnings', () => {
  it('reports them (tar exit 1: a file changed as we read it) instead of failing or hiding them', async () => {
    const running = startPipeline([{
      tool: 'sh', args: ['-c', 'printf data; echo "tar: ./log.txt: file changed as we read it" >&2; exit 1'], what: 'tar of test', acceptExitCodes: [1],
    }]);
    running.output.resume();
    await expect(running.finished).resolves.toEqual(['sh: tar: ./log.txt: file changed as we read it']);
  });

  it('still fails on an exit code it does not accept', async () => {
    const running = startPipeline([{ tool: 'sh', args: ['-c', 'echo "tar: fatal" >&2; exit 2'], what: 'tar of test', acceptExitCodes: [1] }]);
    running.output.resume();
    await expect(running.finished).rejects.toMatchObject({ type: 'ToolFailed', message: expect.stringContaining('tar: fatal') });
  });
});
