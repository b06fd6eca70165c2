import { writeFileSync } from 'node:fs';
import { LifeboatError } from '../../../lib/errors';
import { globMatcher } from './glob';
import type { ListedEntry } from './listing';

/**
 * `lifeboat restore --include PATTERN`: the members of each backup of a chain that a partial
 * restore extracts. Patterns follow the config's files.include rules (one with a slash matches the
 * whole relative path, one without matches the name; ** crosses directories), and a directory that
 * matches brings everything below it. tar is then given exact member names, not the patterns: an
 * increment that holds none of them is skipped instead of failing with "Not found in archive".
 */
export class IncludeSelection {
  private readonly matches: (relative: string) => boolean;
  private readonly chosen = new Map<string, string[]>();
  private files = 0;

  constructor(readonly patterns: string[]) {
    // Listed names are latin1 strings of the raw bytes: patterns are compared in the same form.
    this.matches = globMatcher(patterns.map((pattern) => Buffer.from(pattern.replace(/^\.\//, ''), 'utf8').toString('latin1')));
  }

  /** ChainPolicy's observer: each member that passed its checks, with its path relative to the target. */
  readonly observe = (backupId: string, entry: ListedEntry, path: string): void => {
    if (path === '' || !this.selected(path)) return;
    const names = this.chosen.get(backupId) ?? [];
    names.push(entry.path);
    // A hard link needs its target extracted first, or tar cannot make it.
    if (entry.type === 'h' && entry.target !== undefined && !this.selected(entry.target.replace(/^\.\//, ''))) names.push(entry.target);
    this.chosen.set(backupId, names);
    if (entry.type !== 'd') this.files += 1;
  };

  private selected(path: string): boolean {
    const parts = path.split('/');
    // The path itself, or a directory above it.
    return parts.some((_, depth) => this.matches(parts.slice(0, depth + 1).join('/')));
  }

  /** Refuses, before anything is written, a selection that matched nothing in the whole chain. */
  requireSome(backupId: string): number {
    if (this.files === 0 && this.chosen.size === 0) {
      throw new LifeboatError('BackupNotFound', `nothing in backup ${backupId} (or the backups it builds on) matches --include ${this.patterns.map((p) => JSON.stringify(p)).join(' ')}; nothing was written`,
        'patterns are relative to the source directory: one with a slash matches the whole path (docs/*.pdf), one without a name at any depth (*.pdf); ** crosses directories');
    }
    return this.files;
  }

  /** tar's arguments for one backup of the chain, or undefined when it holds nothing selected. */
  argsFor(backupId: string, listFile: string): string[] | undefined {
    const names = this.chosen.get(backupId);
    if (!names) return undefined;
    writeFileSync(listFile, Buffer.concat(names.map((name) => Buffer.from(`${name}\0`, 'latin1'))), { mode: 0o600 });
    // Exact names, NUL-separated and taken literally; no recursion, since every member below a selected directory is listed itself.
    return ['--no-recursion', '--no-wildcards', '--verbatim-files-from', '--null', `--files-from=${listFile}`];
  }
}
