import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { backupWorkflowId } from '../lib/workflow-ids';
import type { BackupSummary } from '../workflows/backup-source';
import { createSampleDatabase } from '../scripts/sample-db';
import { configVariant, makeFixture, type Fixture } from './support/fixture';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

describe('the CLI habits an operator brings from restic and the Temporal CLI', () => {
  let fixture: Fixture;
  let harness: Harness;
  let scratch: string;
  let tree: string;
  const cli = (args: string[], env: Record<string, string> = {}, configFile = fixture.configFile) =>
    execa(lifeboat, ['--config', configFile, ...args], { env: { ...fixture.env, ...env }, reject: false });
  const unreachable = { TEMPORAL_ADDRESS: '127.0.0.1:1' };
  const put = (path: string, text: string) => {
    mkdirSync(join(tree, path, '..'), { recursive: true });
    writeFileSync(join(tree, path), text);
  };
  /** Every file under a directory, relative, sorted. */
  const filesIn = (dir: string): string[] => readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1)).sort();

  beforeAll(async () => {
    await createSampleDatabase(pg, 'habits_src');
    scratch = mkdtempSync(join(tmpdir(), 'lifeboat-habits-'));
    tree = join(scratch, 'uploads');
    put('docs/a.txt', 'a\n');
    put('docs/b.pdf', 'b\n');
    put('img/c.png', 'c\n');
    put('nested/deep/d.txt', 'd\n');
    fixture = await makeFixture(servers, (ctx) => ({
      'app-db': ctx.postgres('habits_src'),
      uploads: { kind: 'files', region: 'stockholm', path: tree },
    }), { sync: { afterBackup: false } });
    harness = await startHarness(fixture.config);
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('checks source, region and backup id against the config before connecting, and suggests the near miss', async () => {
    // Temporal is unreachable: had the command connected first, it would exit 9, not 2.
    const source = await cli(['backup', 'app-bd'], unreachable);
    expect(source.exitCode, source.stderr).toBe(2);
    expect(source.stderr).toContain('lifeboat: no source "app-bd" in the config\nhint: did you mean "app-db"?');
    const region = await cli(['backups', 'list', '--region', 'stokholm'], unreachable);
    expect(region.exitCode).toBe(2);
    expect(region.stderr).toContain('did you mean "stockholm"?');
    const far = await cli(['verify', 'warehouse'], unreachable);
    expect(far.stderr).toContain('sources are: app-db, uploads');
    const id = await cli(['restore', 'app-db', '--backup', 'yesterday', '--to', 'postgres://postgres@127.0.0.1:5432/x'], unreachable);
    expect(id.exitCode).toBe(2);
    expect(id.stderr).toContain('"yesterday" is not a backup id');
    const include = await cli(['restore', 'app-db', '--latest', '--include', '*.txt', '--to', 'postgres://postgres@127.0.0.1:5432/x'], unreachable);
    expect(include.exitCode).toBe(2);
    expect(include.stderr).toContain('--include is for files sources');
  });

  it('takes --namespace over TEMPORAL_NAMESPACE and the config, and --address over TEMPORAL_ADDRESS', async () => {
    const namespace = await cli(['--namespace', 'lifeboat-no-such-namespace', 'backup', 'app-db'], { TEMPORAL_NAMESPACE: 'also-not-this-one' });
    expect(namespace.exitCode).not.toBe(0);
    expect(namespace.stderr).toContain('lifeboat-no-such-namespace');
    expect(namespace.stderr).not.toContain('also-not-this-one');
    const address = await cli(['--address', '127.0.0.1:2', 'backup', 'app-db'], { TEMPORAL_ADDRESS: servers.temporal.address });
    expect(address.exitCode).toBe(9);
    expect(address.stderr).toContain('cannot connect to Temporal at 127.0.0.1:2');
  });

  it('takes a full backup of a files source with --full where its chain would take an increment', async () => {
    const summary = async (args: string[]) => {
      const result = await cli(['--json', 'backup', 'uploads', '--wait', ...args]);
      expect(result.exitCode, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as BackupSummary;
    };
    const first = await summary([]);
    expect(first.parent).toBeNull();
    put('docs/e.txt', 'added after the full backup\n');
    const increment = await summary([]);
    expect(increment.parent).toBe(first.backupId);
    const full = await summary(['--full']);
    expect(full.parent).toBeNull();
    expect(full.contents).not.toMatch(/increment/);
  });

  it('restores only what --include selects, from every backup of the chain, and refuses a pattern that selects nothing', async () => {
    const list = await cli(['--json', 'backups', 'list', '--source', 'uploads', '--region', 'stockholm']);
    const increment = (JSON.parse(list.stdout) as Array<{ id: string; parent: string | null }>).find((b) => b.parent !== null)!;
    const target = join(scratch, 'partial');
    const restored = await cli(['restore', 'uploads', '--backup', increment.id, '--to', target, '--include', 'docs/*.txt', '--include', '*.png']);
    expect(restored.exitCode, restored.stderr).toBe(0);
    // a.txt from the full backup, e.txt from the increment; b.pdf and nested/deep/d.txt left out.
    expect(filesIn(target)).toEqual(['docs/a.txt', 'docs/e.txt', 'img/c.png']);
    expect(restored.stdout).toContain('3 files');

    const directory = join(scratch, 'directory');
    const whole = await cli(['restore', 'uploads', '--backup', increment.id, '--to', directory, '--include', 'nested']);
    expect(whole.exitCode, whole.stderr).toBe(0);
    expect(filesIn(directory)).toEqual(['nested/deep/d.txt']);

    const none = join(scratch, 'none');
    const nothing = await cli(['restore', 'uploads', '--latest', '--to', none, '--include', '*.docx']);
    expect(nothing.exitCode).toBe(8);
    expect(nothing.stderr).toContain('matches --include "*.docx"; nothing was written');
    expect(existsSync(none) ? readdirSync(none) : []).toEqual([]);
  });

  it('says when no worker polls the source\'s queue, instead of waiting in silence', async () => {
    const idle = configVariant(fixture, 'idle', { temporal: { taskQueuePrefix: `idle-${fixture.prefix.replace(/\W/g, '')}-` } });
    const waiting = execa(lifeboat, ['--config', idle.file, 'backup', 'app-db', '--wait'], { env: fixture.env, reject: false, timeout: 15_000 });
    try {
      const result = await waiting;
      expect(result.stderr).toContain(`waiting: no worker polls ${idle.config.temporal.taskQueuePrefix}stockholm`);
      expect(result.stderr).toContain('lifeboat worker --region stockholm');
    } finally {
      await harness.client.workflow.getHandle(backupWorkflowId(idle.config.temporal.taskQueuePrefix, 'app-db')).terminate('test over').catch(() => undefined);
    }
  });

  it('exits doctor with the class of its first failure: 9 when Temporal is unreachable', async () => {
    const result = await cli(['doctor'], unreachable);
    expect(result.exitCode, result.stdout).toBe(9);
    expect(result.stdout).toMatch(/temporal 127\.0\.0\.1:1 +FAIL/);
    expect(result.stdout).toMatch(/storage stockholm +ok/);
  });
});
