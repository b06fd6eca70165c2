import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { packageRoot } from '../lib/package-root';

// The CLI part: how long an operator waits for `lifeboat --help` and for `lifeboat backups list`
// on a small catalog, beside the floor any Node CLI pays, `node -e 0` on the same Node.

const RUNS = 5;

const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;

/** One run of a command, timed from spawn to exit; throws with its stderr when it fails. */
function timedRun(command: string, args: string[], env: NodeJS.ProcessEnv): number {
  const start = performance.now();
  const result = spawnSync(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const seconds = (performance.now() - start) / 1000;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}: ${(result.stderr || result.stdout).trim().slice(-800)}`);
  return seconds;
}

/** The median of RUNS runs after one untimed run (which fills the page cache for every command alike). */
function medianOf(command: string, args: string[], env: NodeJS.ProcessEnv): { seconds: number; runs: number[] } {
  timedRun(command, args, env);
  const runs = Array.from({ length: RUNS }, () => timedRun(command, args, env));
  return { seconds: median(runs), runs };
}

export interface CliCase {
  label: string;
  seconds: number;
  runs: number[];
}

export interface CliResults {
  help: CliCase;
  list: CliCase;
  /** `node -e 0`: what starting Node itself costs, the floor of any compiled Node CLI. */
  node: CliCase;
}

/**
 * bin/lifeboat as users run it: the compiled build in dist/ that scripts/setup.sh keeps current
 * (bench.sh runs setup first). `backups list` reads the catalog the postgres part left, straight
 * from storage: no Temporal call.
 */
export function cliPart(configFile: string, env: Record<string, string>): CliResults {
  const bin = `${packageRoot()}/bin/lifeboat`;
  // No LIFEBOAT_CLI_BUNDLE from a test run: the user's path, dist/ or tsx when a source is newer.
  const base = { ...process.env };
  delete base.LIFEBOAT_CLI_BUNDLE;
  const withConfig = { ...base, ...env };
  const node = medianOf(process.execPath, ['-e', '0'], base);
  const help = medianOf(bin, ['--help'], base);
  const list = medianOf(bin, ['--config', configFile, 'backups', 'list'], withConfig);
  return {
    node: { label: `node -e 0 (${process.version}), median of ${RUNS}`, ...node },
    help: { label: `lifeboat --help, median of ${RUNS}`, ...help },
    list: { label: `lifeboat backups list (S3 region, the catalog the other parts left), median of ${RUNS}`, ...list },
  };
}
