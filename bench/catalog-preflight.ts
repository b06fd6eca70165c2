// The failover preflight of the catalog part, in a process of its own so that its time and peak RSS
// are its own: what the failoverPreflight activity does on the target region's worker — the plan
// from that region's catalog, for every source with a target there, keeping the catalog index
// current as a worker that signs does — without the workflow and the pin it writes afterwards.
// Prints one JSON line: the plan's own time (no process start-up), its sources and its hash.
//   npx tsx bench/catalog-preflight.ts CONFIG_FILE TARGET_REGION
import { performance } from 'node:perf_hooks';
import { refreshing } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { preparePlan } from '../activities/failover/plan';
import { loadConfig } from '../lib/config/load';

async function main(): Promise<void> {
  const [configFile, targetRegion] = process.argv.slice(2);
  if (!configFile || !targetRegion) throw new Error('usage: tsx bench/catalog-preflight.ts CONFIG_FILE TARGET_REGION');
  const { config } = loadConfig(configFile);
  const deps = createDeps(config);
  const sources = Object.keys(config.regions[targetRegion]?.failover?.targets ?? {}).sort();
  if (sources.length === 0) throw new Error(`regions.${targetRegion}.failover.targets names no source`);
  const start = performance.now();
  const input = { targetRegion, recoveryPoint: 'latest', sources, drill: true };
  const plan = await preparePlan(config, deps.storage(targetRegion), deps.trusted, input, new Date(), refreshing(deps));
  const seconds = (performance.now() - start) / 1000;
  console.log(JSON.stringify({ seconds, sources: plan.sources.length, planHash: plan.planHash, warnings: plan.sources.reduce((sum, s) => sum + s.warnings.length, 0) }));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : String(error));
  process.exitCode = 1;
});
