import { LifeboatError } from '../../../lib/errors';
import { shown, type ListedEntry } from './listing';

/** Member types a restore creates: regular (also sparse and contiguous), directory, symlink, hard link, FIFO. */
const plainTypes = new Set(['-', 'S', 'C', 'p']);

/**
 * Walks a chain's members in extraction order, full backup first, and refuses the first member that
 * would write outside the target. tar defers links only within one archive, so the chain is what
 * must be simulated: a symlink extracted by one member is still on disk when the next one writes
 * below it. Symlinks themselves may point anywhere (honest trees hold absolute ones); writing
 * through one is what is refused. Device nodes are refused; FIFOs are kept, they reach nothing.
 */
export class ChainPolicy {
  /** Paths that are symlinks on disk at this point of the chain, with the backup that made each. */
  private readonly symlinks = new Map<string, string>();

  /** Directories with the sticky bit in the member checked last (an incremental member lists every directory). */
  private readonly sticky = new Set<string>();
  private member = '';

  /** `restoring` is the backup the operator asked for; it names the chain in errors. `observe` sees each member that passed. */
  constructor(private readonly restoring: string, private readonly observe?: (backupId: string, entry: ListedEntry, path: string) => void) {}

  /** Sticky directories as the last member lists them: an owner-neutral extraction puts the bit back (it only restricts). */
  stickyDirectories(): string[] {
    return [...this.sticky];
  }

  check(backupId: string, entry: ListedEntry): void {
    if (backupId !== this.member) {
      this.member = backupId;
      this.sticky.clear();
    }
    const refuse = (reason: string): never => {
      throw new LifeboatError('UnsafeArchive',
        `refusing to restore backup ${this.restoring}: member ${shown(entry.path)} of backup ${backupId} ${reason}; nothing was extracted`,
        'the archive was crafted or damaged: restore another backup or region, or inspect this one by hand (lifeboat backups list shows its break-glass command) before trusting it');
    };
    const path = inside(entry.path, refuse, 'name');
    if (path === '' && entry.type !== 'd') refuse('has an empty name');
    this.noSymlinkAbove(path, refuse);
    switch (true) {
      case entry.type === 'd':
        // tar removes a symlink it finds where a directory entry goes, and makes the directory.
        this.symlinks.delete(path);
        if (/[tT]$/.test(entry.mode)) this.sticky.add(path);
        break;
      case entry.type === 'l':
        this.symlinks.set(path, backupId);
        break;
      case entry.type === 'h': {
        const target = inside(entry.target ?? '', refuse, 'hard link target');
        if (target === '') refuse('is a hard link with an empty target');
        this.noSymlinkAbove(target, refuse, 'its hard link target ');
        // A hard link to a symlink is that symlink under a second name.
        if (this.symlinks.has(target)) this.symlinks.set(path, backupId);
        else this.symlinks.delete(path);
        break;
      }
      case entry.type === 'c' || entry.type === 'b':
        refuse(`is a ${entry.type === 'c' ? 'character' : 'block'} device node (${entry.mode}): a files restore never creates devices`);
        break;
      case plainTypes.has(entry.type):
        this.symlinks.delete(path);
        break;
      default:
        refuse(`has a member type a files backup never holds (${entry.mode})`);
    }
    this.observe?.(backupId, entry, path);
  }

  private noSymlinkAbove(path: string, refuse: (reason: string) => never, what = ''): void {
    const parts = path.split('/');
    for (let depth = 1; depth < parts.length; depth += 1) {
      const above = parts.slice(0, depth).join('/');
      const madeBy = this.symlinks.get(above);
      if (madeBy !== undefined) refuse(`would write through ${what}symlink ${shown(above)} (made by backup ${madeBy}), outside the target`);
    }
  }
}

/** The path relative to the target, "" for the target itself; absolute names and ".." are refused. */
function inside(name: string, refuse: (reason: string) => never, what: string): string {
  if (name === '') refuse(`has an empty ${what}`);
  if (name.startsWith('/')) refuse(`has an absolute ${what}`);
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) refuse(`has a ".." in its ${what}`);
  return parts.join('/');
}
