import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config/load';

const guide = readFileSync(fileURLToPath(new URL('../docs/configuration-guide.md', import.meta.url)), 'utf8');
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');

describe('the configs the documentation shows', () => {
  it('loads the annotated example of docs/configuration-guide.md', () => {
    const yaml = /^```yaml\n([\s\S]*?)^```$/m.exec(guide)?.[1];
    expect(yaml).toBeDefined();
    const config = parseConfig(yaml!, 'docs/configuration-guide.md');
    expect(Object.keys(config.sources).length).toBeGreaterThan(2);
  });

  it('loads the README\'s quick-start config as written', () => {
    const yaml = /^```yaml quickstart\n([\s\S]*?)^```$/m.exec(readme)?.[1];
    expect(parseConfig(yaml!, 'README quick start').sources['app-db']).toMatchObject({ kind: 'postgres', region: 'stockholm' });
    expect(yaml!.split('\n').filter((line) => line.trim() && !line.startsWith('#')).length).toBeLessThanOrEqual(20);
  });
});

describe('the CLI reference', () => {
  it('lists every error type with its exit code', async () => {
    const { errorTypes } = await import('../lib/errors');
    const cli = readFileSync(fileURLToPath(new URL('../docs/cli.md', import.meta.url)), 'utf8');
    const missing = Object.entries(errorTypes).filter(([type, { exitCode }]) => !new RegExp(`^\\| ${exitCode} \\|[^|]*\`${type}\``, 'm').test(cli)).map(([type]) => type);
    expect(missing).toEqual([]);
  });
});
