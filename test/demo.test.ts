import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the demo (the README\'s first command)', () => {
  it('backs up a database, a Redis and a directory into three regions, restores each equal to its source, verifies each in every region, runs an approved failover drill with a physical PostgreSQL, and ends with status', async () => {
    const result = await execa('npx', ['tsx', 'scripts/demo.ts'], { cwd: root, reject: false, stdin: 'ignore', env: { CI: 'true' } });
    expect(result.stderr).not.toMatch(/demo failed/);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/backup \S+ of app-db \(postgres\) stored in stockholm/);
    expect(result.stdout).toMatch(/ID +SOURCE +KIND +REGION/);
    expect(result.stdout).toMatch(/equal +public\.orders +20000 rows/);
    expect(result.stdout).toContain('all tables equal');
    expect(result.stdout).toMatch(/holds +3001 keys/);
    expect(result.stdout).toMatch(/equal: 3001 keys restored, 3001 in the live server/);
    expect(result.stdout).toMatch(/holds +202 files \(increment 1\), on top of \S+/);
    expect(result.stdout).toMatch(/equal: contents, modes and mtimes of every file/);
    // Three regions: every backup reaches the second S3 region and the local directory.
    expect(result.stdout).toMatch(/app-db +malmo +\d+ +\d+ +0 +\S+/);
    expect(result.stdout.match(/^\S+ +uploads +files +malmo /gm) ?? []).toHaveLength(2);
    expect(result.stdout).toMatch(/app-db +postgres +stockholm +\S+ ago +OK +stockholm 1, gothenburg 1, malmo 1 /);
    expect(result.stdout).toMatch(/uploads +files +gothenburg +\S+ ago +OK +stockholm 2, gothenburg 2, malmo 2 /);
    expect(result.stdout).toMatch(/metrics: +http:\/\/127\.0\.0\.1:\d+\/metrics/);
    // It ends with a backup of every source proven restorable in every region.
    for (const region of ['stockholm', 'gothenburg', 'malmo']) {
      expect(result.stdout.match(new RegExp(`^${region} +\\S+ +restore +PASSED +[\\d.]+ s +(\\d+)/\\1 ok$`, 'gm')) ?? []).toHaveLength(4);
      expect(result.stdout).toMatch(new RegExp(`app-db +postgres +${region} +.* verified \\S+ ago \\(restore \\d+ s\\)`));
    }
    expect(result.stdout).not.toMatch(/restore +FAILED|^FAILED /m);
    expect(result.stdout).toMatch(/Temporal UI: +http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows/);
    // A physical source archives WAL to every region, and a drill brings all four sources back in gothenburg.
    expect(result.stdout).toMatch(/holds +base backup of 1 database$/m);
    expect(result.stdout).toMatch(/ledger +stockholm \S+ ago \([0-9A-F]{24}\), gothenburg \S+ ago \([0-9A-F]{24}\), malmo /);
    expect(result.stdout).toMatch(/restore ledger: done base backup \S+ \+ [1-9]\d* archived WAL file\(s\) replayed to /);
    expect(result.stdout).toMatch(/failover drill lifeboat-failover-drill to gothenburg: SUCCEEDED/);
    for (const source of ['app-db', 'cache', 'ledger', 'uploads']) expect(result.stdout).toMatch(new RegExp(`^ {2}teardown ${source}: done `, 'm'));
    expect(result.stdout).toMatch(/^ledger +\S+ +\S+ +\d.* +RPO met, RTO met +(\d+)\/\1$/m);
    expect(result.stdout).toMatch(/psql: +PGPASSFILE=\S+ psql postgres:\/\/postgres@/);
    expect(result.stdout).not.toMatch(/PGPASSWORD=/);
  }, 480_000);
});
