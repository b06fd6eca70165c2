import { parseConfig } from '../../lib/config/load';

/** The message a config is refused with; fails the test when the config loads. */
export function problems(text: string): string {
  try {
    parseConfig(text, 'lifeboat.yaml');
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the config to be refused');
}
