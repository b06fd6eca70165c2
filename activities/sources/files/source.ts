import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FilesSourceConfig } from '../../../lib/config/schema';
import { LifeboatError } from '../../../lib/errors';
import type { FilesDescription } from '../../../lib/manifest';
import { warningCount } from '../../pipeline/stderr';
import { toolVersion } from '../../pipeline/versions';
import type { Snapshot, SnapshotContext, Source } from '../source';
import { decideLevel } from './chain';
import { globMatcher } from './glob';
import { sampleTree } from './sample';
import { walkTree } from './walk';

export const STATE_NAME = 'tar-snapshot';

export function filesSource(name: string, config: FilesSourceConfig): Source {
  return {
    fileName: 'files.tar.zst.age',
    content: 'GNU tar (--listed-incremental), zstd, age',
    toolVersions: async () => ({ tar: await toolVersion('tar') }),
    restoreWith: (file) => `for each backup of the chain, full first: age -d -i IDENTITY ${file} | zstd -d | tar --extract --listed-incremental=/dev/null --directory=TARGET`,
    async snapshot(context: SnapshotContext): Promise<Snapshot> {
      try {
        if (!statSync(config.path).isDirectory()) throw new Error('not a directory');
      } catch (error) {
        throw new LifeboatError('SourceUnreachable', `source ${name}: cannot read directory ${config.path}: ${(error as Error).message}`, 'check the path and that the worker may read it');
      }
      let decision = context.full
        ? { parent: null, level: 0, reason: 'a full backup was asked for (lifeboat backup --full)' }
        : decideLevel(await context.earlier(), new Date(), config);
      let note: string | undefined;
      const work = mkdtempSync(join(tmpdir(), 'lifeboat-tar-'));
      const state = join(work, 'snapshot.snar');
      if (decision.parent) {
        // tar's state of the parent holds file names: it is stored encrypted, so an increment
        // needs the identity on this worker; without it, a full backup is the safe answer.
        const parentState = await context.loadState(decision.parent, STATE_NAME);
        if ('data' in parentState) writeFileSync(state, parentState.data);
        else {
          note = `${parentState.unavailable}: took a full backup`;
          decision = { parent: null, level: 0, reason: note };
        }
      }
      // The walk decides what is excluded, and tar is told exactly those paths: both then agree
      // on what the backup holds, which is what the restore is checked against.
      const include = globMatcher(config.include);
      const selection = {
        isExcluded: globMatcher(config.exclude),
        isIncluded: (relative: string) => config.include.length === 0 || include(relative),
      };
      const tree = await walkTree(config.path, selection);
      const excludeFile = join(work, 'exclude');
      writeFileSync(excludeFile, tree.excluded.map((path) => `./${path}\n`).join(''));
      return {
        producer: {
          tool: 'tar',
          args: ['--create', '--file=-', `--listed-incremental=${state}`, `--directory=${config.path}`,
            '--anchored', '--no-wildcards', `--exclude-from=${excludeFile}`, '--sparse', '--acls', '--xattrs', '.'],
          what: `tar of ${name}`,
          // 1: some files changed or vanished while being read. The backup holds what tar saw and
          // the manifest lists the warnings: silence here would hide an inconsistent copy.
          acceptExitCodes: [1],
          // One line per socket: expected, and never worth a warning in the manifest.
          ignoreStderr: /Removing leading|socket ignored/,
        },
        parent: decision.parent,
        async extras() {
          return [{ name: STATE_NAME, content: 'GNU tar listed-incremental snapshot file', data: readFileSync(state) }];
        },
        async describe({ warnings }): Promise<FilesDescription> {
          return {
            kind: 'files',
            root: config.path,
            level: decision.level,
            include: config.include,
            exclude: config.exclude,
            files: tree.files,
            directories: tree.directories,
            symlinks: tree.symlinks,
            bytes: tree.bytes,
            // Bounded (the first lines and one counting the rest): a tree of changing files must not grow the manifest without end.
            warnings,
            warningCount: warningCount(warnings),
            ...(note ? { incrementalNote: note } : {}),
            sample: await sampleTree(config.path, selection),
          };
        },
        release: async () => rmSync(work, { recursive: true, force: true }),
      };
    },
  };
}
