import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory of Lifeboat's package.json. Paths to source files are taken from here, not from
 * this module's own location, because the test run loads the CLI from a bundle elsewhere in the tree.
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'lifeboat') return dir;
    if (dirname(dir) === dir) throw new Error(`no lifeboat package.json above ${from}`);
  }
}
