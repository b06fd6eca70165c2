import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const doc = read('docs/alerts-and-metrics.md');
const quoted = (name: string) => doc.includes(`\`${name}\``);

describe('docs/alerts-and-metrics.md', () => {
  it('documents every alert kind lib/alerts.ts can send', () => {
    const union = /export type AlertKind =([\s\S]*?');\n/.exec(read('lib/alerts.ts'))![1]!;
    const kinds = [...union.matchAll(/\| '([a-z-]+)'/g)].map((m) => m[1]!);
    expect(kinds.length).toBeGreaterThan(10);
    expect(kinds.filter((kind) => !quoted(kind))).toEqual([]);
  });

  it('documents every metric the worker exports and every Prometheus alert rule', () => {
    const sources = ['worker/metrics', 'activities'].flatMap((dir) => readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts')).map((file) => read(join(dir, file))));
    // Metric names are whole quoted strings; prefixes of scratch database names end in "_" and are not metrics.
    const metrics = [...new Set(sources.flatMap((text) => [...text.matchAll(/'(lifeboat_[a-z_]*[a-z])'/g)].map((m) => m[1]!)))];
    expect(metrics.length).toBeGreaterThan(15);
    const rules = [...read('deploy/prometheus/lifeboat-rules.yml').matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    expect(rules.length).toBeGreaterThan(5);
    expect([...metrics, ...rules].filter((name) => !quoted(name))).toEqual([]);
  });
});
