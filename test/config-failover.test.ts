import { describe, expect, it } from 'vitest';
import { parseConfig } from '../lib/config/load';
import { clusterOf } from '../activities/failover/physical';
import { problems } from './support/config';

const recipient = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
const base = `
primaryRegion: stockholm
regions:
  stockholm:
    storage: { type: local, path: /var/lib/lifeboat/stockholm }
  gothenburg:
    storage: { type: local, path: /var/lib/lifeboat/gothenburg }
    failover:
      targets:
        app-db: { dataDir: /srv/pg-dr, port: 5433 }
        orders: { url: "postgres://app@10.1.0.5:5432/orders" }
        cache: { directory: /srv/redis-dr, port: 6380 }
        uploads: { directory: /srv/uploads-dr }
encryption: { recipients: [${recipient}] }
catalog: { trustedKeys: [MCowBQYDK2VwAyEAFG/YD/PCU6ibMaIW4yUreQbD7pURy+K18RbgMe289C4=] }
failover:
  approval: { remindEvery: 10m, deadline: 2h }
  hooks:
    fence: { command: [/usr/local/bin/fence, stockholm] }
    cutover: { urlEnv: CUTOVER_URL, secretEnv: CUTOVER_KEY }
  drill: { region: gothenburg, schedule: { cron: "0 3 1 * *" } }
sources:
  app-db:
    kind: postgres
    region: stockholm
    url: postgres://postgres@127.0.0.1:5432/postgres
    mode: physical
    wal: { spool: /var/lib/lifeboat/spool/app-db }
  orders: { kind: postgres, region: stockholm, url: "postgres://app@127.0.0.1:5432/orders" }
  cache: { kind: redis, region: stockholm, url: "redis://127.0.0.1:6379" }
  uploads: { kind: files, region: stockholm, path: /srv/uploads }
`;


describe('failover and WAL configuration', () => {
  it('accepts physical sources, failover targets, hooks and a drill schedule and fills in defaults', () => {
    const config = parseConfig(base);
    expect(config.sources['app-db']).toMatchObject({ mode: 'physical', wal: { spool: '/var/lib/lifeboat/spool/app-db', interval: '10s', gapGrace: '5m' } });
    expect(config.failover).toMatchObject({ workerTimeout: '1m', approval: { remindEvery: '10m', deadline: '2h' }, hooks: { fenceRequired: true } });
    expect(config.failover?.hooks.fence?.timeout).toBe('5m');
  });

  it('names the keys a failover target of each kind needs', () => {
    expect(problems(base.replace('{ dataDir: /srv/pg-dr, port: 5433 }', '{ dataDir: /srv/pg-dr }')))
      .toContain('regions.gothenburg.failover.targets.app-db: expected a postgres/physical source needs dataDir and port');
    expect(problems(base.replace('{ directory: /srv/uploads-dr }', '{ directory: /srv/uploads-dr, port: 1 }')))
      .toContain('targets.uploads: expected a files source needs directory (optional: preserveOwnership); not port');
    expect(problems(base.replace('{ directory: /srv/redis-dr, port: 6380 }', '{ directory: /srv/redis-dr, port: 6380, preserveOwnership: true }')))
      .toContain('targets.cache: expected a redis source needs directory and port (optional: passwordEnv, passwordFile, persistence); not preserveOwnership');
    expect(parseConfig(base.replace('{ directory: /srv/uploads-dr }', '{ directory: /srv/uploads-dr, preserveOwnership: true }'))
      .regions['gothenburg']!.failover!.targets['uploads']).toEqual({ directory: '/srv/uploads-dr', preserveOwnership: true });
    expect(problems(base.replace('{ url: "postgres://app@10.1.0.5:5432/orders" }', '{ dataDir: /srv/x, port: 5 }')))
      .toContain('targets.orders: expected a postgres/logical source needs url');
  });

  it('takes a password reference and persistence for a redis failover target, with safe defaults, and refuses a malformed save policy', () => {
    const config = parseConfig(base.replace('{ directory: /srv/redis-dr, port: 6380 }', '{ directory: /srv/redis-dr, port: 6380, passwordEnv: REDIS_DR_PASSWORD, persistence: { appendfsync: always } }'), 'test.yaml');
    expect(config.regions.gothenburg!.failover!.targets.cache).toMatchObject({ passwordEnv: 'REDIS_DR_PASSWORD', persistence: { appendonly: true, appendfsync: 'always', save: '3600 1 300 100 60 10000' } });
    expect(problems(base.replace('{ directory: /srv/redis-dr, port: 6380 }', '{ directory: /srv/redis-dr, port: 6380, persistence: { save: "every minute" } }')))
      .toContain('regions.gothenburg.failover.targets.cache.persistence.save: expected pairs of seconds and changes');
    expect(problems(base.replace('{ directory: /srv/uploads-dr }', '{ directory: /srv/uploads-dr, persistence: {} }')))
      .toContain('not persistence');
  });

  it('maps tablespaces of a physical target to safe directories, and only there', () => {
    const config = parseConfig(base.replace('{ dataDir: /srv/pg-dr, port: 5433 }', '{ dataDir: /srv/pg-dr, port: 5433, tablespaces: { hot: /srv/pg-dr-hot, cold: /mnt/cold/pg } }'));
    const target = config.regions['gothenburg']!.failover!.targets['app-db']!;
    expect(target.tablespaces).toEqual({ hot: '/srv/pg-dr-hot', cold: '/mnt/cold/pg' });
    expect(clusterOf(target)).toEqual({ dataDir: '/srv/pg-dr', port: 5433, tablespaces: { hot: '/srv/pg-dr-hot', cold: '/mnt/cold/pg' } });
    expect(problems(base.replace('{ dataDir: /srv/pg-dr, port: 5433 }', '{ dataDir: /srv/pg-dr, port: 5433, tablespaces: { hot: "relative/dir" } }')))
      .toContain('regions.gothenburg.failover.targets.app-db.tablespaces.hot: expected an absolute path of letters, digits');
    expect(problems(base.replace('{ dataDir: /srv/pg-dr, port: 5433 }', '{ dataDir: /srv/pg-dr, port: 5433, tablespaces: { hot: "/srv/a b" } }')))
      .toContain('targets.app-db.tablespaces.hot');
    expect(problems(base.replace('{ url: "postgres://app@10.1.0.5:5432/orders" }', '{ url: "postgres://app@10.1.0.5:5432/orders", tablespaces: { hot: /srv/hot } }')))
      .toMatch(/targets\.orders: expected a postgres\/logical source needs url.*; not tablespaces/);
  });

  it('refuses a failover target for a source that does not exist', () => {
    expect(problems(base.replace('        uploads: { directory: /srv/uploads-dr }', '        upload: { directory: /srv/uploads-dr }')))
      .toContain('regions.gothenburg.failover.targets.upload: expected the name of a configured source');
  });

  it('refuses WAL archiving for a logical source and table filters for a physical one', () => {
    expect(problems(base.replace('url: "postgres://app@127.0.0.1:5432/orders" }', 'url: "postgres://app@127.0.0.1:5432/orders", wal: { spool: /x } }')))
      .toContain('sources.orders.wal: expected only with mode: physical');
    expect(problems(base.replace('    mode: physical\n', '    mode: physical\n    includeTables: [public.t]\n')))
      .toContain('sources.app-db.includeTables: expected not with mode: physical');
  });

  it('wants exactly one way to run each hook, and secrets only for webhooks', () => {
    expect(problems(base.replace('{ command: [/usr/local/bin/fence, stockholm] }', '{ command: [/bin/true], url: "https://x.example/fence" }')))
      .toContain('failover.hooks.fence: expected exactly one of command, url, urlEnv or urlFile');
    expect(problems(base.replace('{ command: [/usr/local/bin/fence, stockholm] }', '{ command: [/bin/true], secretEnv: K }')))
      .toContain('failover.hooks.fence: expected secretEnv/secretFile sign webhooks');
  });

  it('refuses a drill in a region that is not configured', () => {
    expect(problems(base.replace('drill: { region: gothenburg', 'drill: { region: malmo'))).toContain('failover.drill.region: expected one of the regions');
  });
});
