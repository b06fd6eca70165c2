import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../../lib/package-root';

/**
 * Compiles the CLI once for the whole run, with the build users run (scripts/build-cli.sh), for
 * bin/lifeboat to run (LIFEBOAT_CLI_BUNDLE): the suite makes hundreds of CLI calls. Its own
 * directory per run, so worktrees and concurrent runs share nothing; inside the repository, so
 * its packages resolve from node_modules.
 */
export async function buildCliBundle(): Promise<{ file: string; remove: () => void }> {
  const root = packageRoot();
  const dir = join(root, '.lifeboat', 'test-cli', `run-${process.pid}`);
  await execa('bash', [join(root, 'scripts', 'build-cli.sh'), dir], { stdio: 'inherit' });
  return { file: join(dir, 'lifeboat.mjs'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
