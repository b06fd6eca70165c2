import { Command, CommanderError } from 'commander';
import { LifeboatError } from '../lib/errors';
import { addExamples } from './examples';
import { checkNames, type Names } from './names';
import { output } from './output';
import { packageVersion } from './version';

// Each command's module, and the packages it needs (Temporal, the AWS SDK, PostgreSQL), loads only
// when that command runs: --help and a catalog listing do not pay for the worker's.
const program = new Command('lifeboat')
  .description('Backup and disaster recovery for PostgreSQL, Redis and file trees, on Temporal')
  .version(packageVersion(), '-V, --version', 'print Lifeboat\'s version')
  .option('--config <file>', 'config file (else $LIFEBOAT_CONFIG, else ./lifeboat.yaml)')
  .option('--json', 'print one JSON document on stdout')
  .option('--address <host:port>', 'Temporal frontend (else $TEMPORAL_ADDRESS, else temporal.address)')
  .option('-n, --namespace <namespace>', 'Temporal namespace (else $TEMPORAL_NAMESPACE, else temporal.namespace)')
  .exitOverride()
  .showSuggestionAfterError()
  .configureOutput({ writeErr: (text) => process.stderr.write(text) })
  .addHelpText('after', `
Examples:
  lifeboat doctor                                  check tools, Temporal, storage, sources and keys
  lifeboat worker                                  run the workers of every region
  lifeboat backup app-db --wait                    back up one source and print its summary
  lifeboat backups list --source app-db            the catalog, straight from storage
  lifeboat restore app-db --latest --to postgres://app@127.0.0.1:5432/app_restored
  lifeboat status || page-someone                  exit code 25 when a source is late or never backed up

Exit codes: 0 ok, 2 config or usage, 3 source unreachable, 4 missing tool, 9 Temporal unreachable,
14 verification failed, 25 a source missed its objective (status); docs/cli.md lists them all.`);

const globals = () => program.opts<{ config?: string; json?: boolean; address?: string; namespace?: string }>();
/** The config, with the Temporal flags on top, and the names the command was given checked against it before anything connects. */
const setup = async (names: Names = {}) => {
  const { config, json, address, namespace } = globals();
  // The config's parser (zod, yaml) loads with the first command that needs a config, not for --help.
  const { loadConfig } = await import('../lib/config/load');
  const loaded = loadConfig(config);
  if (address !== undefined) loaded.config.temporal.address = address;
  if (namespace !== undefined) loaded.config.temporal.namespace = namespace;
  checkNames(loaded.config, names);
  return { ...loaded, out: output(Boolean(json)) };
};

program.command('worker').description('run the worker(s); all regions when none is named')
  .option('--region <region...>', 'region(s) whose task queue to serve', [])
  .action(async (options: { region: string[] }) => {
    const { config, out } = await setup({ regions: options.region });
    await (await import('./commands/worker')).workerCommand(config, options.region, out);
  });

program.command('backup <source>').description('start a backup of a source')
  .option('--wait', 'show progress and end with the backup\'s summary')
  .option('--full', 'files: a full backup, not an increment on the last one (postgres and redis backups are always full)')
  .action(async (source: string, options: { wait?: boolean; full?: boolean }) => {
    const { config, out } = await setup({ source });
    const client = await (await import('./temporal')).connectClient(config);
    try {
      await (await import('./commands/backup')).backupCommand(client, config, source, { wait: Boolean(options.wait), full: Boolean(options.full) }, out);
    } finally {
      await client.connection.close();
    }
  });

program.command('codec-server').description('serve /encode and /decode for the Temporal UI and CLI (--codec-endpoint) with the temporal.codec keys')
  .option('--host <host>', 'address to listen on (default temporal.codec.server.host)')
  .option('--port <port>', 'port to listen on (default temporal.codec.server.port)', (value) => Number(value))
  .action(async (options: { host?: string; port?: number }) => {
    const { config, out } = await setup();
    await (await import('./commands/codec-server')).codecServerCommand(config, options, out);
  });

const backups = program.command('backups').description('the catalog');
backups.command('list').description('list backups from every region\'s storage')
  .option('--source <source>', 'only this source (default: every source)').option('--region <region>', 'only this region (default: every region)')
  .option('--verify-listing', 'list every object and judge every manifest not vouched for, instead of taking the signed catalog index and its changes on trust')
  .action(async (options: { source?: string; region?: string; verifyListing?: boolean }) => {
    const { config, out } = await setup({ source: options.source, region: options.region });
    await (await import('./commands/backups-list')).backupsListCommand(config, options, out);
  });
backups.command('hold <id>').description('put an S3 Object Lock legal hold on every object of a backup (retention keeps it until released)')
  .option('--source <source>', 'the backup\'s source (default: whichever has a backup of that id)')
  .option('--region <region>', 'one region, or all', 'all')
  .option('--release', 'clear the legal hold instead')
  .action(async (id: string, options: { source?: string; region?: string; release?: boolean }) => {
    const { config, out } = await setup({ source: options.source, region: options.region, backupId: id });
    await (await import('./commands/backups-hold')).backupsHoldCommand(config, id, options, out);
  });

const catalog = program.command('catalog').description('the signed catalog: keys, its index, and signing what older versions left unsigned');
catalog.command('keygen').description('make an Ed25519 catalog signing key; prints the line for catalog.trustedKeys')
  .requiredOption('--out <file>', 'where to write the private key (PEM, mode 0600; never overwritten)')
  .action(async (options: { out: string }) => {
    (await import('./commands/catalog')).catalogKeygenCommand(options.out, output(Boolean(globals().json)));
  });
catalog.command('sign').description('one-time, after upgrading: sign the manifests, tombstones and records older versions wrote unsigned')
  .option('--trust-existing', 'required: trust what the buckets hold now (look at "backups list" and --dry-run first)')
  .option('--dry-run', 'list what would be signed; sign nothing')
  .option('--source <source>', 'only this source (default: every source)').option('--region <region>', 'only this region (default: every region)')
  .action(async (options: { trustExisting?: boolean; dryRun?: boolean; source?: string; region?: string }) => {
    const { config, out } = await setup({ source: options.source, region: options.region });
    await (await import('./commands/catalog')).catalogSignCommand(config, options, out);
  });
catalog.command('rebuild').description('rewrite each source\'s catalog index from its manifests and verify records, every one read and checked')
  .option('--source <source>', 'only this source (default: every source)').option('--region <region>', 'only this region (default: every region)')
  .action(async (options: { source?: string; region?: string }) => {
    const { config, out } = await setup({ source: options.source, region: options.region });
    await (await import('./commands/catalog-rebuild')).catalogRebuildCommand(config, options, out);
  });

program.command('restore <source>').description('restore a backup (verified first) into a target')
  .option('--latest', 'the newest backup')
  .option('--backup <id>', 'a backup id from "backups list"')
  .requiredOption('--to <target>', 'postgres: postgres://user@host:port/database (created if missing); postgres mode physical: a new or empty data directory on the worker; redis, files: an empty directory on the worker')
  .option('--region <region>', 'restore the copy in this region (default: the source\'s region)')
  .option('--clean', 'replace the contents of a target that already holds tables', false)
  .option('--no-owner', 'postgres: do not restore ownership and privileges')
  .option('--same-owner', 'files: keep owners, setuid/setgid bits and all xattrs as archived (worker as root); default: the worker\'s user owns the tree, no setuid/setgid')
  .option('--to-password-env <name>', 'environment variable of the worker holding the target\'s password')
  .option('--serve <port>', 'redis: start redis-server on the restored dump.rdb on this port', (value) => {
    const port = Number(value);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new LifeboatError('Usage', `--serve takes a port number, got "${value}"`);
    return port;
  })
  .option('--port <port>', 'postgres mode physical: the port the restored cluster listens on (127.0.0.1)', (value) => {
    const port = Number(value);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new LifeboatError('Usage', `--port takes a port number, got "${value}"`);
    return port;
  })
  .option('--at <time>', 'postgres mode physical: recover to this moment (ISO 8601 with a zone); default the end of the archived WAL')
  .option('--lsn <lsn>', 'postgres mode physical: recover to this WAL position, e.g. 0/3000148')
  .option('--os-user <user>', 'postgres mode physical: the OS user the cluster runs as (default postgres when the worker is root)')
  .option('--tablespace <name=dir>', 'postgres mode physical: restore this tablespace into DIR (absent or empty), linked from pg_tblspc; repeatable; default: inside the data directory', (value: string, previous: string[] = []) => [...previous, value])
  .option('--include <pattern>', 'files: restore only paths matching PATTERN (files.include rules: "docs/*.pdf" from the top, "*.pdf" at any depth, ** across directories; a directory brings all below it); repeatable', (value: string, previous: string[] = []) => [...previous, value])
  .action(async (source: string, options: { latest?: boolean; backup?: string; to: string; region?: string; clean: boolean; owner: boolean; sameOwner?: boolean; toPasswordEnv?: string; serve?: number; port?: number; at?: string; lsn?: string; osUser?: string; tablespace?: string[]; include?: string[] }) => {
    const { config, out } = await setup({ source, region: options.region, backupId: options.backup });
    const connect = async () => (await import('./temporal')).connectClient(config);
    await (await import('./commands/restore')).restoreCommand(connect, config, source, { ...options, noOwner: !options.owner }, out);
  });

const schedules = program.command('schedules').description('Temporal Schedules from the config');
schedules.command('apply').description('create, update and delete Lifeboat\'s schedules to match the config')
  .option('--dry-run', 'print what would change; change nothing')
  .action(async (options: { dryRun?: boolean }) => {
    const { config, out } = await setup();
    const client = await (await import('./temporal')).connectClient(config);
    try {
      await (await import('./commands/schedules')).schedulesApplyCommand(client, config, Boolean(options.dryRun), out);
    } finally {
      await client.connection.close();
    }
  });
schedules.command('list').description('Lifeboat\'s schedules: next runs in their time zone, paused state, last result')
  .option('--next <count>', 'how many next run times to show (at most 10)', (value) => {
    const count = Number(value);
    if (!Number.isInteger(count) || count < 0 || count > 10) throw new LifeboatError('Usage', `--next takes a number from 0 to 10, got "${value}"`);
    return count;
  }, 3)
  .action(async (options: { next: number }) => {
    const { config, out } = await setup();
    const client = await (await import('./temporal')).connectClient(config);
    try {
      await (await import('./commands/schedules')).schedulesListCommand(client, config, options.next, out);
    } finally {
      await client.connection.close();
    }
  });

program.command('sync').description('copy backups missing from any region, verified by SHA-256; report lag')
  .option('--source <source>', 'only this source (default: every source)')
  .option('--wait', 'wait and print what was copied per region, and the lag')
  .action(async (options: { source?: string; wait?: boolean }) => {
    const { config, out } = await setup({ source: options.source });
    const client = await (await import('./temporal')).connectClient(config);
    try {
      await (await import('./commands/sync')).syncCommand(client, config, { source: options.source, wait: Boolean(options.wait) }, out);
    } finally {
      await client.connection.close();
    }
  });

program.command('verify <source>').description('prove a backup restorable: integrity (hashes, chain, decrypt, decompress) or a restore into a scratch target')
  .option('--region <region>', 'only this region (default: every region holding the source\'s backups)')
  .option('--level <level>', 'integrity or restore', (value) => {
    if (value !== 'integrity' && value !== 'restore') throw new LifeboatError('Usage', `--level takes integrity or restore, got "${value}"`);
    return value;
  }, 'integrity')
  .option('--backup <id>', 'a backup id from "backups list" (default: by the source\'s verify.strategy)')
  .option('--wait', 'show progress and end with a result table; exit code 14 when a verification failed')
  .action(async (source: string, options: { region?: string; level: 'integrity' | 'restore'; backup?: string; wait?: boolean }) => {
    const { config, out } = await setup({ source, region: options.region, backupId: options.backup });
    const client = await (await import('./temporal')).connectClient(config);
    try {
      await (await import('./commands/verify')).verifyCommand(client, config, source, { ...options, wait: Boolean(options.wait) }, out);
    } finally {
      await client.connection.close();
    }
  });

program.command('status').description('one line per source: newest backup against the RPO, copies per region, size, last failure')
  .option('--verify-listing', 'list every object and judge every manifest not vouched for, instead of taking the signed catalog index and its changes on trust')
  .action(async (options: { verifyListing?: boolean }) => {
    const { config, out } = await setup();
    await (await import('./commands/status')).statusCommand(config, async () => (await import('./temporal')).connectClient(config), out, options);
  });

const retention = program.command('retention').description('prune backups by the retention rules');
retention.command('show')
  .description('list every decision the rules make now (keep or delete, and why), straight from storage; deletes nothing, needs no Temporal')
  .option('--source <source>', 'only this source (default: every source)')
  .option('--region <region>', 'only this region')
  .option('--verify-listing', 'list every object (finds data without a manifest too) instead of taking the signed catalog index and its changes on trust')
  .action(async (options: { source?: string; region?: string; verifyListing?: boolean }) => {
    const { config, out } = await setup({ source: options.source, region: options.region });
    await (await import('./commands/retention-show')).retentionShowCommand(config, options, out);
  });
retention.command('apply')
  .description('apply the retention rules in every region, behind the interlocks; print what goes and why the rest stays')
  .option('--source <source>', 'only this source (default: every source with retention rules)')
  .option('--dry-run', 'list what would go and why each backup stays; delete nothing (always waits)')
  .option('--wait', 'wait and print the report')
  .action(async (options: { source?: string; dryRun?: boolean; wait?: boolean }) => {
    const { config, out } = await setup({ source: options.source });
    const client = await (await import('./temporal')).connectClient(config);
    try {
      await (await import('./commands/retention')).retentionApplyCommand(client, config, { source: options.source, dryRun: Boolean(options.dryRun), wait: Boolean(options.wait) }, out);
    } finally {
      await client.connection.close();
    }
  });

const wal = program.command('wal').description('WAL archiving of postgres sources with mode: physical');
wal.command('start').description('start the WAL shipper of every source with a wal block (or one); one that runs already is left alone')
  .option('--source <source>', 'only this source')
  .action(async (options: { source?: string }) => {
    const { config, out } = await setup({ source: options.source });
    const client = await (await import('./temporal')).connectClient(config);
    try {
      await (await import('./commands/wal')).walStartCommand(client, config, options.source, out);
    } finally {
      await client.connection.close();
    }
  });
wal.command('status').description('per region: the newest archived segment and its age (the real RPO), continuity from the newest base backup')
  .option('--source <source>', 'only this source')
  .action(async (options: { source?: string }) => {
    const { config, out } = await setup({ source: options.source });
    await (await import('./commands/wal')).walStatusCommand(config, async () => (await import('./temporal')).connectClient(config), options.source, out);
  });

const failover = program.command('failover').description('bring the sources back in another region (drFailover), operator-approved; or a drill');
failover.command('start').description('start a failover (or --drill) to a region; it waits for "failover approve"')
  .requiredOption('--to <region>', 'the region to bring the sources back in (its failover.targets)')
  .option('--at <time>', 'recover to this ISO time (default: the newest restorable point)')
  .option('--source <source...>', 'only these sources (default: every source with a target in that region)', [])
  .option('--drill', 'restore, verify, report and tear down; never fence or cut over', false)
  .option('--by <name>', 'who asks (default: $LIFEBOAT_OPERATOR, else the OS user)')
  .option('--run-in <region>', 'the region whose worker runs the workflow itself (default: --to)')
  .option('--wait', 'show the steps as they go and end with the report')
  .action(async (options: { to: string; at?: string; source: string[]; drill: boolean; by?: string; runIn?: string; wait?: boolean }) => {
    const { config, out } = await setup({ sources: options.source, regions: [options.to, ...(options.runIn === undefined ? [] : [options.runIn])] });
    const client = await (await import('./temporal')).connectClient(config);
    try {
      await (await import('./commands/failover')).failoverStartCommand(client, config, { ...options, wait: Boolean(options.wait) }, out);
    } finally {
      await client.connection.close();
    }
  });
failover.command('status <id>').description('the live step list, the plan, the approval and what state things are in')
  .action(async (id: string) => {
    const { config, out } = await setup();
    const client = await (await import('./temporal')).connectClient(config);
    try {
      await (await import('./commands/failover')).failoverStatusCommand(client, id, out);
    } finally {
      await client.connection.close();
    }
  });
failover.command('approve <id>').description('show the current plan and approve it (by its plan hash)')
  .option('--by <name>', 'who approves (default: $LIFEBOAT_OPERATOR, else the OS user)')
  .option('--comment <text>', 'recorded with the approval')
  .option('--yes', 'approve without a prompt', false)
  .action(async (id: string, options: { by?: string; comment?: string; yes: boolean }) => {
    const { config, out } = await setup();
    const client = await (await import('./temporal')).connectClient(config);
    try {
      await (await import('./commands/failover')).failoverApproveCommand(client, id, options, out);
    } finally {
      await client.connection.close();
    }
  });
failover.command('abort <id>').description('abort a failover that awaits approval; nothing is restored')
  .requiredOption('--reason <text>', 'why, recorded and sent to the alert channels')
  .option('--by <name>', 'who aborts (default: $LIFEBOAT_OPERATOR, else the OS user)')
  .action(async (id: string, options: { reason: string; by?: string }) => {
    const { config, out } = await setup();
    const client = await (await import('./temporal')).connectClient(config);
    try {
      await (await import('./commands/failover')).failoverAbortCommand(client, id, options, out);
    } finally {
      await client.connection.close();
    }
  });

program.command('doctor').description('check tools, Temporal, storage, sources and keys')
  .action(async () => {
    const { config, path, out } = await setup();
    await (await import('./commands/doctor')).doctorCommand(config, path, out);
  });

addExamples(program);

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exit(error.exitCode === 0 ? 0 : 2);
    }
    if (error instanceof LifeboatError) {
      process.stderr.write(`lifeboat: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ''}`);
      process.exit(error.exitCode);
    }
    process.stderr.write(`lifeboat: unexpected error: ${(error as Error).stack ?? String(error)}\nhint: this is a bug; please report it with the command you ran\n`);
    process.exit(1);
  }
}

await main();
