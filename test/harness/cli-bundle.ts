import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../../lib/package-root';

/**
 * Bundles client/main.ts into one file for bin/lifeboat to run (LIFEBOAT_CLI_BUNDLE). Through tsx,
 * each CLI call spent about 3 s of CPU loading and compiling; the suite makes hundreds of them.
 * The bundle sits inside the repository so its packages resolve from node_modules.
 */
export async function buildCliBundle(): Promise<{ file: string; remove: () => void }> {
  const root = packageRoot();
  const dir = join(root, '.lifeboat', 'test-cli');
  mkdirSync(dir, { recursive: true });
  // One file per run: worktrees and concurrent runs share nothing.
  const file = join(dir, `lifeboat-${process.pid}.mjs`);
  await execa(join(root, 'node_modules', '.bin', 'esbuild'), [
    join(root, 'client', 'main.ts'), '--bundle', '--platform=node', '--format=esm', '--packages=external', '--log-level=warning', `--outfile=${file}`,
  ], { stdio: 'inherit' });
  return { file, remove: () => rmSync(file, { force: true }) };
}
