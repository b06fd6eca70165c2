import { execFileSync, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { startServers } from '/work/main/test/harness/servers';
import { makeFixture } from '/work/main/test/support/fixture';
import { startHarness } from '/work/main/test/support/workers';
import { runBackup } from '/work/main/test/support/runs';
import { writeFileSync } from 'node:fs';

const { servers, stop } = await startServers();
try {
  const fixture = await makeFixture(servers, (ctx) => ({ db: ctx.postgres('postgres'), cache: { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${servers.redis.port}` } }));
  const harness = await startHarness(fixture.config);
  for (let i = 0; i < 3; i++) { await runBackup(harness.client, fixture.config, 'db'); await runBackup(harness.client, fixture.config, 'cache'); }
  await harness.close();
  writeFileSync('/tmp/probe/env.json', JSON.stringify({ config: fixture.configFile, env: fixture.env }));
  const env = { ...process.env, ...fixture.env };
  delete env.LIFEBOAT_CLI_BUNDLE;
  const runs: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t = performance.now();
    const r = spawnSync('/work/main/bin/lifeboat', ['--config', fixture.configFile, 'backups', 'list'], { env, encoding: 'utf8' });
    runs.push((performance.now() - t) / 1000);
    if (i === 0) console.log(r.stdout, r.stderr);
  }
  console.log('runs', runs.map((x) => x.toFixed(3)).join(' '));
  if (process.env.HOLD) await new Promise((r) => setTimeout(r, Number(process.env.HOLD) * 1000));
} finally {
  await stop();
}
