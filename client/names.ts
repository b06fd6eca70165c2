import type { Config } from '../lib/config/schema';
import { LifeboatError } from '../lib/errors';
import { didYouMean } from '../lib/suggest';

/** The names a command was given, checked against the config before anything connects. */
export interface Names {
  source?: string;
  sources?: string[];
  region?: string;
  regions?: string[];
  backupId?: string;
}

// The shape backupIdFor (lib/manifest.ts) makes: the start second, then a piece of the run id. The
// tail is not held to hex: an id that storage holds under another tail (planted, say) must still
// reach the worker, which says why it is not restored.
const BACKUP_ID = /^\d{8}T\d{6}Z-[0-9A-Za-z]+$/;

/** Usage errors with "did you mean …" for a source, region or backup id that cannot be right. */
export function checkNames(config: Config, names: Names): void {
  const sources = Object.keys(config.sources);
  const regions = Object.keys(config.regions);
  for (const source of [...(names.source === undefined ? [] : [names.source]), ...(names.sources ?? [])]) {
    if (!Object.hasOwn(config.sources, source)) throw new LifeboatError('Usage', `no source "${source}" in the config`, didYouMean(source, sources, 'sources'));
  }
  for (const region of [...(names.region === undefined || names.region === 'all' ? [] : [names.region]), ...(names.regions ?? [])]) {
    if (!Object.hasOwn(config.regions, region)) throw new LifeboatError('Usage', `no region "${region}" in the config`, didYouMean(region, regions, 'regions'));
  }
  if (names.backupId !== undefined && !BACKUP_ID.test(names.backupId)) {
    throw new LifeboatError('Usage', `"${names.backupId}" is not a backup id (they look like 20261129T130150Z-fec6a53842b5)`, 'copy one from "lifeboat backups list --source SOURCE"');
  }
}
