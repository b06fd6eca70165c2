import { describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config/load';
import { targetPasswordEnvs } from '../lib/restore-target';
import { problems } from './support/config';

const recipient = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const base = `
primaryRegion: stockholm
regions:
  stockholm:
    storage: { type: s3, bucket: lb-sto, accessKeyIdEnv: STO_KEY_ID, secretAccessKeyEnv: STO_SECRET }
    verify: { target: { postgres: { url: "postgres://verify@127.0.0.1:5432/postgres", passwordEnv: VERIFY_PG_PASSWORD } } }
  gothenburg:
    storage: { type: local, path: /var/lib/lifeboat/gothenburg }
    failover:
      targets:
        app-db: { dataDir: /srv/pg-dr, port: 5433 }
        orders: { url: "postgres://app@10.1.0.5:5432/orders", passwordEnv: DR_ORDERS_PASSWORD }
encryption: { recipients: [${recipient}] }
catalog: { trustedKeys: [MCowBQYDK2VwAyEAFG/YD/PCU6ibMaIW4yUreQbD7pURy+K18RbgMe289C4=] }
alerts: { channels: [{ type: webhook, urlEnv: HOOK_URL, secretEnv: HOOK_KEY }] }
sources:
  app-db: { kind: postgres, region: stockholm, url: "postgres://postgres@127.0.0.1:5432/postgres", mode: physical, passwordEnv: APP_DB_PASSWORD }
  orders: { kind: postgres, region: stockholm, url: "postgres://app@127.0.0.1:5432/orders", passwordEnv: ORDERS_PASSWORD }
  cache: { kind: redis, region: stockholm, url: "redis://127.0.0.1:6379", passwordEnv: CACHE_PASSWORD }
`;

describe('secrets and unsafe paths in the config', () => {
  it('refuses a password in a source URL\'s query string, naming the key and what to use instead, without echoing it', () => {
    const message = problems(base.replace('postgres://app@127.0.0.1:5432/orders"', 'postgres://app@127.0.0.1:5432/orders?sslmode=require&password=Query-Secret-1"'));
    expect(message).toMatch(/sources\.orders\.url: expected a URL without secrets in its query string \(found \?password=; use passwordEnv or passwordFile\)/);
    expect(message).not.toContain('Query-Secret-1');
  });

  it('refuses secrets in the query string of redis, verify-target and failover-target URLs too', () => {
    expect(problems(base.replace('redis://127.0.0.1:6379"', 'redis://127.0.0.1:6379/0?password=Query-Secret-2"'))).toMatch(/sources\.cache\.url: .*\?password=/);
    expect(problems(base.replace('5432/postgres", passwordEnv: VERIFY', '5432/postgres?sslpassword=Query-Secret-3", passwordEnv: VERIFY'))).toMatch(/regions\.stockholm\.verify\.target\.postgres\.url: .*\?sslpassword=/);
    expect(problems(base.replace('10.1.0.5:5432/orders"', '10.1.0.5:5432/orders?PASSWORD=Query-Secret-4"'))).toMatch(/regions\.gothenburg\.failover\.targets\.orders\.url: .*\?PASSWORD=/);
  });

  it('never echoes a password given in a URL\'s user part', () => {
    const message = problems(base.replace('postgres://app@127.0.0.1:5432/orders"', 'postgres://app:User-Part-Secret@127.0.0.1:5432/orders"'));
    expect(message).toMatch(/sources\.orders\.url: expected a URL without a password/);
    expect(message).not.toContain('User-Part-Secret');
  });

  it('refuses a failover data directory that a shell or postgresql.conf would interpret', () => {
    expect(problems(base.replace('dataDir: /srv/pg-dr,', 'dataDir: "/srv/pg-dr\'; touch /tmp/x; \'",')))
      .toMatch(/regions\.gothenburg\.failover\.targets\.app-db\.dataDir: expected an absolute path of letters, digits and \. _ \/ \+ @ = - only/);
    expect(problems(base.replace('dataDir: /srv/pg-dr,', 'dataDir: "/srv/pg dr",'))).toMatch(/dataDir: expected an absolute path of letters/);
  });

  it('lets --to-password-env name the config\'s database password variables and restore.targetPasswordEnvs, never storage or alert secrets', () => {
    const names = targetPasswordEnvs(parseConfig(`${base}restore: { targetPasswordEnvs: [STAGING_DB_PASSWORD] }\n`));
    expect([...names].sort()).toEqual(['APP_DB_PASSWORD', 'CACHE_PASSWORD', 'DR_ORDERS_PASSWORD', 'ORDERS_PASSWORD', 'STAGING_DB_PASSWORD', 'VERIFY_PG_PASSWORD']);
    expect(names.has('STO_SECRET')).toBe(false);
    expect(names.has('HOOK_KEY')).toBe(false);
  });
});
