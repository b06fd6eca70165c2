import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { registry } from '../activities/metrics';
import type { StorageBackend } from '../activities/storage/backend';
import { parseConfig } from '../lib/config/load';
import { catalogGauges } from '../worker/metrics/catalog';

const rulesDir = fileURLToPath(new URL('../deploy/prometheus/', import.meta.url));
const dashboardFile = fileURLToPath(new URL('../deploy/grafana/lifeboat-dashboard.json', import.meta.url));
/** The minute-scale tests, and the day-scale ones evaluated every 10 minutes so they take seconds, not a minute. */
const testFiles = ['lifeboat-rules.test.yml', 'lifeboat-rules.days.test.yml'];
const install = 'sudo apt-get install -y prometheus   (or: bash scripts/setup.sh)';

async function promtool(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const result = await execa('promtool', args, { cwd, env, extendEnv: false, reject: false, all: true });
  // No exit code: it never ran (ENOENT), which is a missing package, not a failing rule.
  if (result.exitCode === undefined) throw new Error(`promtool is not installed (${result.code ?? result.message}); install it: ${install}`);
  return result;
}

/** Every metric name Lifeboat's worker exports, from the same registries /metrics serves. */
function exportedNames(): Set<string> {
  const config = parseConfig(`
primaryRegion: a
regions: { a: { storage: { type: local, path: /nonexistent } } }
encryption: { recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p] }
catalog: { trustedKeys: [MCowBQYDK2VwAyEAFG/YD/PCU6ibMaIW4yUreQbD7pURy+K18RbgMe289C4=] }
objectives: { rpo: 6h, rto: 4h }
sources: {}
`, 'inline');
  const catalog = new Registry();
  catalogGauges(config, () => ({}) as StorageBackend, catalog);
  return new Set([...registry.getMetricsAsArray(), ...catalog.getMetricsAsArray()].map((metric) => metric.name));
}

/** lifeboat_* names in PromQL, without the suffixes Prometheus adds to histograms. */
const lifeboatNames = (text: string) => new Set([...text.matchAll(/\blifeboat_[a-z_]+/g)].map((m) => m[0]));

describe('the Prometheus alerting rules', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'lifeboat-rules-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('ask for the prometheus package when promtool is missing', async () => {
    await expect(promtool(['--version'], rulesDir, { PATH: scratch })).rejects.toThrow(/promtool is not installed .*apt-get install -y prometheus/);
  });

  it('pass promtool check rules', async () => {
    const result = await promtool(['check', 'rules', 'lifeboat-rules.yml'], rulesDir);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toContain('SUCCESS: 10 rules found');
  });

  it('pass their unit tests under promtool test rules', async () => {
    const result = await promtool(['test', 'rules', ...testFiles], rulesDir);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all.match(/SUCCESS/g)).toHaveLength(testFiles.length);
  });

  it('fail those unit tests when a rule stops firing, so the tests are worth something', async () => {
    for (const file of testFiles) copyFileSync(join(rulesDir, file), join(scratch, file));
    const rules = readFileSync(join(rulesDir, 'lifeboat-rules.yml'), 'utf8');
    const broken = rules
      .replace('max by (region) (lifeboat_catalog_up) == 0', 'max by (region) (lifeboat_catalog_up) == 2')
      .replace(') > 8 * 86400', ') > 10 * 86400');
    expect(broken.length).toBe(rules.length + 1);
    writeFileSync(join(scratch, 'lifeboat-rules.yml'), broken);
    const result = await promtool(['test', 'rules', ...testFiles], scratch);
    expect(result.exitCode).not.toBe(0);
    expect(result.all).toContain('alertname: LifeboatCatalogUnreadable');
    expect(result.all).toContain('alertname: LifeboatNoVerifiedBackup');
  });

  it('use only metrics the worker exports', () => {
    const exported = exportedNames();
    const used = lifeboatNames(readFileSync(join(rulesDir, 'lifeboat-rules.yml'), 'utf8'));
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });
});

describe('the Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as {
    title: string; uid: string; schemaVersion: number;
    panels: Array<{ id: number; type: string; gridPos: { x: number; y: number; w: number; h: number }; targets?: Array<{ expr: string }> }>;
  };

  it('is a dashboard with unique panel ids that fit the 24-column grid', () => {
    expect(dashboard).toMatchObject({ title: 'Lifeboat', uid: 'lifeboat-overview' });
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
  });

  it('charts every Lifeboat metric and no metric the worker does not export', () => {
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr).join('\n');
    const used = lifeboatNames(exprs);
    const exported = exportedNames();
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
    expect([...exported].filter((name) => !used.has(name))).toEqual([]);
  });
});
