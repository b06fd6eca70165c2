import { mkdtempSync, rmSync } from 'node:fs';
import { chmod, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LifeboatError } from '../../../lib/errors';
import type { FilesDescription, Manifest } from '../../../lib/manifest';
import { findBackup } from '../../catalog';
import type { TrustedKey } from '../../../lib/signing';
import { removeTree } from '../../remove-tree';
import { requireEmptyDirectory, restoreObject } from '../../restore-stream';
import type { StorageBackend } from '../../storage/backend';
import { ChainPolicy } from './archive-policy';
import { HeldSymlinks } from './held-symlinks';
import { IncludeSelection } from './include';
import { scanMember } from './scan';
import { walkTree } from './walk';

/** The chain that ends in `manifest`, full backup first. A missing member is named. */
export async function chainOf(storage: StorageBackend, trusted: TrustedKey[], manifest: Manifest): Promise<Manifest[]> {
  const chain = [manifest];
  while (chain[0]!.parent) {
    const child = chain[0]!;
    try {
      chain.unshift((await findBackup(storage, trusted, manifest.source, child.parent!)).manifest);
    } catch (error) {
      if (error instanceof LifeboatError && error.type === 'BackupNotFound') {
        throw new LifeboatError('ChecksumMismatch', `the chain of backup ${manifest.id} is broken: ${child.parent} (parent of ${child.id}) is missing from ${storage.location}`,
          'restore an older full backup, or one from another region');
      }
      throw error;
    }
  }
  return chain;
}

export interface FilesRestoreOptions {
  /** Keep owners, setuid/setgid/sticky bits and every xattr as archived (needs root); default: the worker's user owns the tree. */
  preserveOwnership?: boolean;
  /** Only these paths (`lifeboat restore --include`), by the config's files.include pattern rules. */
  include?: string[];
}

/** How tar extracts one member: always as owner-neutral as the operator allows. */
export function extractArgs(directory: string, options: FilesRestoreOptions): string[] {
  return [
    '--extract', '--file=-',
    // /dev/null: apply each increment's deletions without keeping state of our own.
    '--listed-incremental=/dev/null', `--directory=${directory}`, '--acls', '--xattrs',
    ...(options.preserveOwnership
      ? ['--same-owner', '--same-permissions', '--xattrs-include=*']
      // With umask 0 (see extractStep), --no-same-permissions keeps each rwx bit as archived and drops setuid, setgid and sticky (put back after).
      : ['--no-same-owner', '--no-same-permissions', '--xattrs-include=user.*']),
  ];
}

function extractStep(member: Manifest, directory: string, options: FilesRestoreOptions, selected: string[] = []) {
  const args = [...extractArgs(directory, options), ...selected];
  return options.preserveOwnership
    ? { tool: 'tar', args, what: `extracting backup ${member.id} into ${directory}` }
    : { tool: 'sh', args: ['-c', 'umask 0 && exec tar "$@"', 'tar', ...args], what: `extracting backup ${member.id} into ${directory}` };
}

/**
 * Proves and lists every member first (nothing is written if one is damaged or would write outside
 * the directory), then extracts the full and each increment in order into an empty directory.
 */
export async function restoreFiles(storage: StorageBackend, trusted: TrustedKey[], manifest: Manifest, identity: string, directory: string, options: FilesRestoreOptions = {}): Promise<string> {
  requireEmptyDirectory(directory, false, 'restore into an empty or new directory');
  const chain = await chainOf(storage, trusted, manifest);
  const selection = options.include && options.include.length > 0 ? new IncludeSelection(options.include) : undefined;
  const policy = new ChainPolicy(manifest.id, selection?.observe);
  for (const member of chain) {
    try {
      await scanMember(storage, member, identity, policy);
    } catch (error) {
      if (error instanceof LifeboatError && (error.type === 'ChecksumMismatch' || error.type === 'BackupNotFound')) {
        throw new LifeboatError('ChecksumMismatch', `the chain of backup ${manifest.id} is broken at ${member.id} (${chain.indexOf(member) === 0 ? 'the full backup' : `increment ${chain.indexOf(member)}`}): ${error.message}`,
          'nothing was written: restore an older backup, or the same one from another region', { cause: error });
      }
      throw error;
    }
  }
  const files = selection?.requireSome(manifest.id);
  const work = selection ? mkdtempSync(join(tmpdir(), 'lifeboat-include-')) : undefined;
  const links = new HeldSymlinks();
  try {
    for (const [index, member] of chain.entries()) {
      const selected = selection?.argsFor(member.id, join(work!, `${member.id}.names`));
      // A backup of the chain that holds nothing selected has nothing to extract.
      if (selection && !selected) continue;
      await restoreObject(storage, member.objects[0]!, identity, `backup ${member.id}`, extractStep(member, directory, options, selected));
      if (index < chain.length - 1) await links.hold(directory);
    }
  } catch (error) {
    // The directory was empty when this attempt began, so all it holds is this attempt's half-written
    // tree: emptied, a retry meets the same cause again instead of TargetNotEmpty hiding it.
    await emptyDirectory(directory);
    throw error;
  } finally {
    if (work) rmSync(work, { recursive: true, force: true });
  }
  await links.release(directory, Boolean(options.preserveOwnership));
  // A shared 1777 directory without its sticky bit would let anyone delete anyone's files.
  if (!options.preserveOwnership) await restoreSticky(directory, policy.stickyDirectories());
  const actual = await walkTree(directory);
  if (selection) {
    // The manifest counts the whole tree: a partial restore is held to the listing it was chosen from.
    if (actual.files < files!) {
      throw new LifeboatError('VerificationFailed', `restored ${actual.files} files into ${directory}, but the backup's listing selected ${files} for --include ${selection.patterns.join(' ')}`, 'do not use it: report this');
    }
    return `${actual.files} files (${actual.bytes} bytes) matching ${selection.patterns.join(' ')} restored from ${chain.length} backup${chain.length > 1 ? 's' : ''} into ${directory}`;
  }
  const expected = manifest.description as FilesDescription;
  const differs = (['files', 'directories', 'symlinks', 'bytes'] as const).filter((field) => actual[field] !== expected[field]);
  if (differs.length > 0) {
    throw new LifeboatError('VerificationFailed', `restored tree in ${directory} differs from backup ${manifest.id}: ${differs.map((f) => `${f} ${actual[f]}, manifest says ${expected[f]}`).join('; ')}`,
      'do not use it: report this');
  }
  return `${chain.length} backup${chain.length > 1 ? 's' : ''} (full${chain.length > 1 ? ` + ${chain.length - 1} increments` : ''}) restored into ${directory}: ${actual.files} files, ${actual.bytes} bytes, as the manifest says`;
}

async function emptyDirectory(directory: string): Promise<void> {
  await removeTree(directory, { keepRoot: true });
}

async function restoreSticky(directory: string, paths: string[]): Promise<void> {
  for (const path of paths) {
    const full = path ? Buffer.concat([Buffer.from(`${directory}/`), Buffer.from(path, 'latin1')]) : Buffer.from(directory);
    const info = await lstat(full).catch(() => undefined);
    if (info?.isDirectory()) await chmod(full, (info.mode & 0o7777) | 0o1000);
  }
}
