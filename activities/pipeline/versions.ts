import { execa } from 'execa';
import { LifeboatError } from '../../lib/errors';
import { installHints } from './processes';
import { childEnvOptions } from '../../lib/child-env';

const cache = new Map<string, Promise<string>>();

/** The first line a tool prints for --version, cached per process; recorded in every manifest. */
export function toolVersion(tool: string): Promise<string> {
  let version = cache.get(tool);
  if (!version) {
    version = execa(tool, ['--version'], childEnvOptions()).then(
      (result) => result.stdout.split('\n')[0]!.trim(),
      (error: { code?: string }) => {
        cache.delete(tool);
        if (error.code === 'ENOENT') {
          throw new LifeboatError('MissingTool', `${tool} not found on this worker's PATH`, `install it: ${installHints[tool] ?? tool}`);
        }
        throw error;
      },
    );
    cache.set(tool, version);
  }
  return version;
}
