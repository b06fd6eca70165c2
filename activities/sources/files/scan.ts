import { closeSync, constants, createReadStream, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { LifeboatError } from '../../../lib/errors';
import type { Manifest } from '../../../lib/manifest';
import { restoreObject } from '../../restore-stream';
import type { StorageBackend } from '../../storage/backend';
import type { ChainPolicy } from './archive-policy';
import { listingArgs, listingEnv, parseListingLine, shown } from './listing';

/**
 * Proves one chain member whole (SHA-256, age, zstd) and lists it with tar in the same read, every
 * member through the chain's policy. The listing goes through a FIFO, so nothing is staged on disk
 * however many files the backup holds. Writes nothing anywhere else.
 */
export async function scanMember(storage: StorageBackend, member: Manifest, identity: string, policy: ChainPolicy): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'lifeboat-scan-'));
  const fifo = join(work, 'listing');
  try {
    await execa('mkfifo', ['-m', '600', fifo]);
    const reader = createReadStream(fifo, { encoding: 'latin1' });
    let opened = false;
    reader.once('open', () => { opened = true; });
    const judging = judge(reader, member.id, policy);
    const listing = restoreObject(storage, member.objects[0]!, identity, `backup ${member.id}`, {
      tool: 'tar',
      args: [...listingArgs, '--file=-', `--index-file=${fifo}`],
      env: listingEnv,
      what: `listing of backup ${member.id}`,
      classify: (stderr) => new LifeboatError('UnsafeArchive', `backup ${member.id}: tar cannot read its archive: ${stderr.split('\n').find(Boolean) ?? 'no reason given'}`,
        'the archive was written damaged or crafted: restore another backup or region'),
    }).finally(() => (opened ? undefined : unblock(fifo, () => opened)));
    const [listed, judged] = await Promise.allSettled([listing, judging]);
    // A damaged object explains whatever its listing said; the listing's verdict counts only for intact bytes.
    if (listed.status === 'rejected') throw listed.reason;
    if (judged.status === 'rejected') throw judged.reason;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Feeds each listed member to the policy; after a refusal it drains the rest so tar is never left blocked on the FIFO. */
async function judge(reader: AsyncIterable<string>, backupId: string, policy: ChainPolicy): Promise<void> {
  let refusal: unknown;
  let pending = '';
  let number = 0;
  const take = (text: string) => {
    number += 1;
    if (refusal) return;
    const entry = parseListingLine(text);
    try {
      if (!entry) {
        throw new LifeboatError('UnsafeArchive', `backup ${backupId}: line ${number} of its tar listing is not a member tar lists: ${shown(text.slice(0, 200))}`,
          'the archive was crafted or damaged: restore another backup or region');
      }
      policy.check(backupId, entry);
    } catch (error) {
      refusal = error;
    }
  };
  for await (const chunk of reader) {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop()!;
    for (const text of lines) take(text);
  }
  if (pending) take(pending);
  if (refusal) throw refusal;
}

/** tar never opened the FIFO (it failed to start): open its writing end once so the reader sees the end. */
async function unblock(fifo: string, opened: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 100 && !opened(); attempt += 1) {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      return;
    } catch {
      // ENXIO: the reader has not reached open() yet.
      await sleep(20);
    }
  }
}
