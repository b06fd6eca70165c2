import { trusted } from './support/signing';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findBackup } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import type { FilesDescription } from '../lib/manifest';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const SOCKETS = 3000;

describe('a files backup of a tree on which tar prints far more than 64 KiB of warnings', () => {
  let fixture: Fixture;
  let harness: Harness;
  let tree: string;

  beforeAll(async () => {
    fixture = await makeFixture(servers, () => ({}));
    tree = join(fixture.dir, 'sockets');
    mkdirSync(tree);
    writeFileSync(join(tree, 'data.txt'), 'kept\n');
    // tar prints "socket ignored" for each: about 120 bytes a line, 350 KiB in all.
    const script = `import os, socket
os.chdir(${JSON.stringify(tree)})
for i in range(${SOCKETS}):
    s = socket.socket(socket.AF_UNIX)
    s.bind('a-socket-left-behind-by-some-daemon-with-a-rather-long-descriptive-name-%05d' % i)
    s.close()`;
    await execa('python3', ['-c', script]);
    fixture = await makeFixture(servers, () => ({ sockets: { kind: 'files', region: 'stockholm', path: tree } }));
    harness = await startHarness(fixture.config);
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
  });

  it('completes, holding the files, with a bounded list of warnings in its manifest', async () => {
    const summary = await runBackup(harness.client, fixture.config, 'sockets');
    const { manifest } = await findBackup(createDeps(fixture.config).storage('stockholm'), trusted, 'sockets', summary.backupId);
    const description = manifest.description as FilesDescription;
    expect(description.files).toBeGreaterThanOrEqual(1);
    expect(description.warnings.length).toBeLessThanOrEqual(201);
    expect(description.warningCount).toBe(description.warnings.length);
    expect(JSON.stringify(manifest).length).toBeLessThan(64 * 1024);
  });
});
