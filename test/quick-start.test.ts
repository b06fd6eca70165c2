import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSampleDatabase, tableFingerprints } from '../scripts/sample-db';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const root = fileURLToPath(new URL('..', import.meta.url));

/** The README's fenced blocks marked "quickstart", in order, by language. */
export function quickStartBlocks(readme: string): Array<{ language: string; text: string }> {
  return [...readme.matchAll(/^```(\w+) quickstart\n([\s\S]*?)^```$/gm)].map((m) => ({ language: m[1]!, text: m[2]! }));
}

describe('the README\'s quick start, followed literally', () => {
  let work: string;
  const tag = randomBytes(3).toString('hex');
  const database = `quickstart_${tag}`;
  let worker: number | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lifeboat-quickstart-'));
    await createSampleDatabase(pg, database);
  });

  afterAll(() => {
    // The block starts `lifeboat worker &`: its process group goes with the test.
    if (worker) {
      try {
        process.kill(-worker, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('keys, config, doctor, worker, backup, list and restore work as written, and the restore equals the source', async () => {
    const blocks = quickStartBlocks(readFileSync(join(root, 'README.md'), 'utf8'));
    expect(blocks.map((b) => b.language)).toEqual(['sh', 'yaml', 'sh']);
    const [keys, config, run] = blocks as unknown as [{ text: string }, { text: string }, { text: string }];
    const s3 = servers.s3.stockholm!;
    // Only addresses and credentials change: this machine's servers stand in for the README's.
    const local = (text: string) => text
      .replaceAll('/etc/lifeboat', work)
      .replaceAll('temporal.internal:7233', servers.temporal.address)
      .replaceAll('namespace: default }', `namespace: ${servers.temporal.namespace}, taskQueuePrefix: quickstart-${tag}- }\nmetrics: { port: 0 }`)
      .replaceAll('endpoint: https://s3.eu-north-1.amazonaws.com', `endpoint: ${s3.endpoint}`)
      .replaceAll('region: eu-north-1', `region: ${s3.region}`)
      // SeaweedFS wants path-style requests; the prefix keeps this test's objects apart from the others'.
      .replaceAll('bucket: acme-lifeboat-stockholm', `bucket: ${s3.bucket}\n      forcePathStyle: true\n      prefix: quickstart-${tag}/`)
      .replaceAll('lifeboat@db.internal:5432/app', `${pg.user}@127.0.0.1:${pg.port}/${database}`)
      .replaceAll('LIFEBOAT_S3_KEY_ID=AKIA…', `LIFEBOAT_S3_KEY_ID=${s3.accessKeyId}`)
      .replaceAll('LIFEBOAT_S3_SECRET=…', `LIFEBOAT_S3_SECRET=${s3.secretAccessKey}`)
      .replaceAll('APP_DB_PASSWORD=…', `APP_DB_PASSWORD=${pg.password}`);
    const env = { ...process.env, PATH: `${join(root, 'bin')}:${process.env.PATH}` };
    const started = Date.now();

    const made = await execa('bash', ['-euo', 'pipefail', '-c', local(keys.text)], { env, cwd: work });
    const recipient = /^age1[0-9a-z]{58}$/m.exec(made.stdout)?.[0];
    const trustedKey = /trustedKeys: \[(\S+)\]/.exec(made.stdout)?.[1];
    expect(recipient, made.stdout).toBeDefined();
    expect(trustedKey, made.stdout).toBeDefined();
    // The config with this run's keys in place of the README's examples.
    const yaml = local(config.text)
      .replace(/age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p/, recipient!)
      .replace(/MCowBQYDK2VwAyEAFG\/YD\/PCU6ibMaIW4yUreQbD7pURy\+K18RbgMe289C4=/, trustedKey!);
    writeFileSync(join(work, 'lifeboat.yaml'), yaml);

    const script = execa('bash', ['-euo', 'pipefail', '-c', local(run.text)], { env, cwd: work, detached: true, reject: false, timeout: 240_000 });
    worker = script.pid;
    const result = await script;
    const seconds = (Date.now() - started) / 1000;
    console.log(`quick start: ${seconds.toFixed(1)} s\n${result.stdout}`);
    expect(result.exitCode, `${result.stderr}\n${readFileSync(join(work, 'worker.log'), 'utf8').slice(-3000)}`).toBe(0);
    expect(result.stdout).toMatch(/^doctor|CHECK +OK +DETAIL/m);
    expect(result.stdout).toMatch(/^backup \S+ of app-db \(postgres\) stored in stockholm$/m);
    expect(result.stdout).toMatch(/^restored backup \S+ of app-db into /m);
    expect(await tableFingerprints(pg, `${database}_restored`)).toEqual(await tableFingerprints(pg, database));
  }, 300_000);
});
