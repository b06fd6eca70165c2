import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

describe('bin/lifeboat sizes V8 for a short command, not for a worker', () => {
  // Stands in for the CLI's build (bin/lifeboat runs LIFEBOAT_CLI_BUNDLE when set): says what node was started with.
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-heap-'));
  const bundle = join(dir, 'argv.mjs');
  writeFileSync(bundle, 'console.log(JSON.stringify({ node: process.execArgv, args: process.argv.slice(2) }));\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const started = async (args: string[]) => JSON.parse((await execa(lifeboat, args, { env: { LIFEBOAT_CLI_BUNDLE: bundle } })).stdout) as { node: string[]; args: string[] };

  it('caps the young generation of a command that may parse a large catalog, and passes its arguments on untouched', async () => {
    // Left to itself V8 grows it to 64 MiB a half while backups list parses every index: 100 MiB of peak RSS.
    for (const args of [['backups', 'list'], ['--config', 'x.yaml', 'status'], ['retention', 'show', '--source', 'db']]) {
      expect(await started(args)).toEqual({ node: ['--max-semi-space-size=16'], args });
    }
  });

  it('leaves a worker to V8\'s own sizing', async () => {
    expect(await started(['--config', 'x.yaml', 'worker', '--region', 'stockholm'])).toEqual({ node: [], args: ['--config', 'x.yaml', 'worker', '--region', 'stockholm'] });
  });
});
