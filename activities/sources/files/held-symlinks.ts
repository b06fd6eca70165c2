import { randomBytes } from 'node:crypto';
import { lchown, lstat, lutimes, open, readdir, readFile, readlink, symlink, unlink, utimes } from 'node:fs/promises';

interface Held {
  target: string;
  atime: Date;
  mtime: Date;
  uid: number;
  gid: number;
}

/**
 * The second line of defence against a chain that writes through a symlink: between two members,
 * every symlink in the target becomes a placeholder file, and the links come back after the
 * last member. tar cannot follow what is not a link, so whatever the pre-scan could not foresee
 * (a directory renamed in an increment's listing, a name it read wrong) fails inside the target
 * instead of writing outside it. This is what tar itself does for dangerous links within one archive.
 */
export class HeldSymlinks {
  /** By the placeholder's inode: tar may rename a directory that holds one, or hard-link to it. */
  private readonly held = new Map<string, Held>();
  /**
   * What each placeholder holds. An inode tar freed (by replacing a placeholder) is soon given to a
   * file it extracts, so the inode alone would turn an honest file into a symlink.
   */
  private readonly mark = Buffer.from(`lifeboat placeholder ${randomBytes(16).toString('hex')}\n`);

  async hold(root: string): Promise<void> {
    for await (const path of entries(root)) {
      const info = await lstat(path, { bigint: true });
      if (!info.isSymbolicLink()) continue;
      const target = await readlink(path, { encoding: 'buffer' });
      await unlink(path);
      const placeholder = await open(path, 'wx', 0o600);
      await placeholder.writeFile(this.mark);
      const made = await placeholder.stat({ bigint: true });
      await placeholder.close();
      this.held.set(`${made.dev}:${made.ino}`, {
        target: target.toString('latin1'), atime: info.atime, mtime: info.mtime, uid: Number(info.uid), gid: Number(info.gid),
      });
    }
  }

  /** Turns each placeholder still in the tree, wherever it is now, back into its symlink. */
  async release(root: string, keepOwners: boolean): Promise<void> {
    if (this.held.size === 0) return;
    // Replacing an entry touches its directory's times, which tar had set as archived: put them back.
    const parents = new Map<string, { path: Buffer; atime: Date; mtime: Date }>();
    for await (const path of entries(root)) {
      const info = await lstat(path, { bigint: true });
      const held = info.isFile() && info.size === BigInt(this.mark.length) ? this.held.get(`${info.dev}:${info.ino}`) : undefined;
      if (!held || !(await readFile(path)).equals(this.mark)) continue;
      const parent = path.subarray(0, path.lastIndexOf('/'));
      if (!parents.has(parent.toString('latin1'))) {
        const times = await lstat(parent);
        parents.set(parent.toString('latin1'), { path: parent, atime: times.atime, mtime: times.mtime });
      }
      await unlink(path);
      await symlink(Buffer.from(held.target, 'latin1'), path);
      if (keepOwners) await lchown(path, held.uid, held.gid);
      await lutimes(path, held.atime, held.mtime);
    }
    for (const { path, atime, mtime } of parents.values()) await utimes(path, atime, mtime);
  }
}

/** Every path below root, parents before children, never following a symlink; as bytes, so any name survives. */
async function* entries(root: Buffer | string): AsyncGenerator<Buffer> {
  const base = Buffer.isBuffer(root) ? root : Buffer.from(root);
  for (const entry of await readdir(base, { withFileTypes: true, encoding: 'buffer' })) {
    const path = Buffer.concat([base, Buffer.from('/'), entry.name]);
    yield path;
    if (entry.isDirectory()) yield* entries(path);
  }
}
