import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../scripts/pg-major.sh', import.meta.url));
const shims = mkdtempSync(join(tmpdir(), 'lifeboat-pg-major-'));

/** choose_pg with dpkg-query and apt-cache answering as a Debian machine with these packages would. */
async function choose(installed: string[], offered: string[]): Promise<string> {
  writeFileSync(join(shims, 'dpkg-query'), `#!/bin/sh\nfor a; do last=$a; done\nfor p in ${installed.join(' ')} none; do [ "$last" = "postgresql-$p" ] && { printf 'install ok installed'; exit 0; }; done\nexit 1\n`);
  writeFileSync(join(shims, 'apt-cache'), `#!/bin/sh\nfor p in ${offered.join(' ')} none; do [ "$2" = "postgresql-$p" ] && { printf '%s:\\n  Installed: (none)\\n  Candidate: %s.1-1\\n' "$2" "$p"; exit 0; }; done\nprintf '%s:\\n  Installed: (none)\\n  Candidate: (none)\\n' "$2"\n`);
  for (const shim of ['dpkg-query', 'apt-cache']) chmodSync(join(shims, shim), 0o755);
  const result = await execa('bash', ['-c', `source ${script}; choose_pg`], { env: { PATH: `${shims}:${process.env.PATH}` }, reject: false });
  return result.exitCode === 0 ? result.stdout : `none (exit ${result.exitCode})`;
}

describe('the PostgreSQL version setup.sh installs', () => {
  afterAll(() => rmSync(shims, { recursive: true, force: true }));

  it('is 15 on Debian 12, 17 on Debian 13, and an installed one before either', async () => {
    expect(await choose([], ['15'])).toBe('15');
    expect(await choose([], ['17'])).toBe('17');
    expect(await choose(['17'], ['15', '17'])).toBe('17');
    expect(await choose([], [])).toBe('none (exit 1)');
  });
});
