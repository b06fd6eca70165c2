// Seeds a large catalog into every region of a config, for trying `backups list`, `status`,
// `retention show` and a failover preflight at scale (issue target 6) against a test bucket:
//   npx tsx scripts/seed-catalog.ts --config FILE [--per-source N] [--sources N]
// The config must declare files sources src-00, src-01, … (as many as --sources) and hold the
// catalog signing key; the storage credentials come from the environment as for the worker.
// Never point it at a bucket with real backups: it adds hundreds of back-dated ones per source.
import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config/load';
import { seedCatalog, seedSourceNames } from '../bench/seed-catalog';

function count(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} must be a whole number ≥ 1, got ${JSON.stringify(text)}`);
  return value;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string' }, 'per-source': { type: 'string', default: '500' }, sources: { type: 'string', default: '20' } },
    strict: true,
  });
  const { path, config } = loadConfig(values.config);
  const sources = seedSourceNames(count(values.sources, '--sources'));
  const perSource = count(values['per-source'], '--per-source');
  const log = (line: string) => console.error(line);
  log(`seeding ${perSource} backups of each of ${sources.length} sources into ${Object.keys(config.regions).join(', ')} (${path})…`);
  const result = await seedCatalog(config, { sources, perSource, onProgress: log });
  log(`wrote ${result.manifests} manifests and ${result.verifyRecords} verify records in ${result.seconds.toFixed(0)} s`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
