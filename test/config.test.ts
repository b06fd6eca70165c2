import { describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config/load';
import { problems } from './support/config';
import { readSecret } from '../lib/config/secrets';
import { parseDuration } from '../lib/config/duration';

const recipient = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const valid = `
temporal: { address: 127.0.0.1:7233, namespace: default }
primaryRegion: stockholm
regions:
  stockholm:
    storage: { type: s3, endpoint: "http://127.0.0.1:8333", bucket: lb-sto, region: eu-north-1, forcePathStyle: true, accessKeyIdEnv: STO_KEY_ID, secretAccessKeyEnv: STO_SECRET }
  malmo:
    storage: { type: local, path: /var/lib/lifeboat/malmo }
encryption: { recipients: [${recipient}], identityFile: /etc/lifeboat/key }
catalog: { trustedKeys: [MCowBQYDK2VwAyEAFG/YD/PCU6ibMaIW4yUreQbD7pURy+K18RbgMe289C4=] }
compression: { level: 3 }
objectives: { rpo: 6h, rto: 4h }
sources:
  app-db:
    kind: postgres
    region: stockholm
    url: postgres://app@127.0.0.1:5432/app
    passwordEnv: APP_DB_PASSWORD
    schedule: { cron: "0 */6 * * *", timezone: Europe/Stockholm }
    retention: { daily: 7, weekly: 4, monthly: 12 }
  cache: { kind: redis, region: stockholm, url: "redis://127.0.0.1:6379" }
  uploads: { kind: files, region: stockholm, path: /srv/uploads }
`;


describe('loading the config', () => {
  it('accepts a full config and fills in defaults', () => {
    const config = parseConfig(valid);
    expect(config.sources['app-db']).toMatchObject({ kind: 'postgres', rowCounts: 'exact', schemaOnly: false });
    expect(config.temporal).toMatchObject({ taskQueuePrefix: 'lifeboat-', heartbeatTimeout: '30s', sourceAttempts: 5 });
    expect(config.compression.threads).toBe(0);
  });

  it('refuses an unknown key, names where it is, and suggests the key that was meant', () => {
    expect(problems(valid.replace('daily: 7', 'daly: 7'))).toContain('sources.app-db.retention: unknown key "daly" (did you mean "daily" for "daly"?)');
    // The member of the union the source's kind picks: a postgres key, not a files one.
    expect(problems(valid.replace('passwordEnv: APP_DB', 'pasword_env: APP_DB'))).toContain('sources.app-db: unknown key "pasword_env" (did you mean "passwordEnv" for "pasword_env"?)');
    expect(problems(valid.replace('compression: { level: 3 }', 'compresion: { level: 3 }'))).toContain('(top level): unknown key "compresion" (did you mean "compression" for "compresion"?)');
    expect(problems(valid.replace('forcePathStyle: true', 'zzz: true'))).toContain('regions.stockholm.storage: unknown key "zzz"');
    expect(problems(valid.replace('forcePathStyle: true', 'zzz: true'))).not.toContain('did you mean');
  });

  it('says what type was expected and what was found', () => {
    expect(problems(valid.replace('forcePathStyle: true', 'forcePathStyle: "yes"'))).toContain('regions.stockholm.storage.forcePathStyle: expected boolean, found "yes"');
    expect(problems(valid.replace('level: 3', 'level: 40'))).toMatch(/compression\.level: expected .*19.*, found 40/);
  });

  it('says when a required key is missing', () => {
    expect(problems(valid.replace('primaryRegion: stockholm\n', ''))).toContain('primaryRegion: expected string, found nothing (the key is required)');
  });

  it('refuses a password inside a URL without echoing it', () => {
    const message = problems(valid.replace('postgres://app@', 'postgres://app:s3cret@'));
    expect(message).toContain('sources.app-db.url: expected a URL without a password');
    expect(message).not.toContain('s3cret');
  });

  it('refuses a region, time zone or recipient that does not exist', () => {
    expect(problems(valid.replace('kind: postgres\n    region: stockholm', 'kind: postgres\n    region: paris'))).toContain('sources.app-db.region: expected one of the regions (stockholm, malmo), found "paris"');
    expect(problems(valid.replace('Europe/Stockholm', 'Mars/Base'))).toContain('expected an IANA time zone');
    expect(problems(valid.replace(recipient, 'age1nope'))).toContain('encryption.recipients.0: expected an age X25519 recipient');
  });

  it('refuses YAML that does not parse, with its line', () => {
    expect(problems('primaryRegion: [\n')).toMatch(/not valid YAML at line \d+, column \d+: Flow sequence/);
  });

  it('lists every problem at once', () => {
    expect(problems(valid.replace('daily: 7', 'daly: 7').replace('level: 3', 'level: 0'))).toMatch(/2 problems/);
  });
});

describe('secrets', () => {
  it('come from the named environment variable, and a missing one says which', () => {
    expect(readSecret({ passwordEnv: 'X_PW' }, 'sources.a', { X_PW: 'pw' })).toBe('pw');
    expect(() => readSecret({ passwordEnv: 'X_PW' }, 'sources.a', {})).toThrow(/X_PW is not set/);
  });

  it('come from a named file, and an unreadable one says which', () => {
    expect(() => readSecret({ passwordFile: '/nonexistent/pw' }, 'sources.a')).toThrow(/cannot read password file \/nonexistent\/pw: ENOENT/);
  });
});

describe('durations', () => {
  it('parse the units the config uses', () => {
    expect([parseDuration('500ms'), parseDuration('30s'), parseDuration('15m'), parseDuration('6h'), parseDuration('7d')])
      .toEqual([500, 30_000, 900_000, 21_600_000, 604_800_000]);
    expect(() => parseDuration('6 hours')).toThrow(/not a duration/);
  });
});
