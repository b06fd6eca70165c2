import { createDeps } from '../../activities/deps';
import { setBackupHold } from '../../activities/locks';
import type { Config } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { keys } from '../../lib/manifest';
import { type Output, usage } from '../output';

export interface HoldOptions {
  source?: string;
  /** A region name, or "all" (the default): every region holding the backup. */
  region?: string;
  release?: boolean;
}

export interface HoldRow {
  region: string;
  source: string;
  objects: number;
}

/**
 * Sets (or with --release clears) an S3 Object Lock legal hold on every object of a backup, straight
 * on storage like "backups list": it must work with Temporal down. A copy in a region without
 * Object Lock cannot be held: the others are, then the command fails naming it.
 */
export async function backupsHoldCommand(config: Config, id: string, options: HoldOptions, out: Output): Promise<void> {
  if (options.source && !(options.source in config.sources)) throw usage(`no source "${options.source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ')}`);
  const region = options.region ?? 'all';
  if (region !== 'all' && !(region in config.regions)) throw usage(`no region "${region}" in the config`, `regions are: ${Object.keys(config.regions).join(', ')}, or all`);
  const deps = createDeps(config);
  const sources = options.source ? [options.source] : Object.keys(config.sources);
  const rows: HoldRow[] = [];
  const unlockable: string[] = [];
  for (const name of region === 'all' ? Object.keys(config.regions) : [region]) {
    const storage = deps.storage(name);
    for (const source of sources) {
      if (!(await storage.stat(keys.manifest(source, id)))) continue;
      if (!(await storage.features()).objectLock) {
        unlockable.push(`${name} (${storage.location})`);
        continue;
      }
      rows.push({ region: name, source, objects: await setBackupHold(storage, source, id, !options.release) });
    }
  }
  const verb = options.release ? 'released the legal hold of' : 'put a legal hold on';
  if (rows.length === 0 && unlockable.length === 0) {
    throw new LifeboatError('BackupNotFound', `no backup ${id}${options.source ? ` of ${options.source}` : ''} in ${region === 'all' ? 'any region' : region}`, 'run "lifeboat backups list" to see what is stored');
  }
  for (const row of rows) out.note(`${verb} ${row.objects} object(s) of ${row.source}/${id} in ${row.region}`);
  if (unlockable.length > 0) {
    throw new LifeboatError('Unsupported', `backup ${id} cannot be held in ${unlockable.join(', ')}: that storage has no S3 Object Lock${rows.length > 0 ? ` (held in ${rows.map((r) => r.region).join(', ')})` : ''}`,
      'legal holds need an S3 bucket created with Object Lock and regions.<region>.storage.objectLock; until then, copy the backup somewhere safe by hand');
  }
  out.result(rows, rows.map((row) => `${row.region}: ${row.source}/${id}, ${row.objects} object(s) ${options.release ? 'released' : 'held'}`).join('\n'));
}
