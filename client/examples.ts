import type { Command } from 'commander';

// The "Examples:" block of each command's --help: what an operator types, with the names of the
// README's quick start. test/cli-help.test.ts fails for a command without one.
const examples: Record<string, string[]> = {
  'worker': [
    'lifeboat worker                                  # every region\'s queues',
    'lifeboat worker --region stockholm               # one region (run one per region, near its storage)',
  ],
  'backup': [
    'lifeboat backup app-db                           # start it; watch it in the Temporal UI',
    'lifeboat backup app-db --wait                    # progress, then the summary; exit code of the failure',
    'lifeboat backup uploads --full --wait            # files: start a new chain',
  ],
  'codec-server': ['lifeboat codec-server --port 8089   # then: temporal workflow show --codec-endpoint http://127.0.0.1:8089 …'],
  'backups list': [
    'lifeboat backups list',
    'lifeboat backups list --source app-db --region gothenburg',
    'lifeboat --json backups list --source app-db | jq -r \'.[-1].id\'',
  ],
  'backups hold': [
    'lifeboat backups hold 20261129T130150Z-fec6a53842b5 --source app-db',
    'lifeboat backups hold 20261129T130150Z-fec6a53842b5 --source app-db --release',
  ],
  'catalog keygen': ['lifeboat catalog keygen --out /etc/lifeboat/catalog.key'],
  'catalog sign': ['lifeboat catalog sign --dry-run', 'lifeboat catalog sign --trust-existing'],
  'catalog rebuild': ['lifeboat catalog rebuild', 'lifeboat catalog rebuild --source app-db --region stockholm'],
  'restore': [
    'lifeboat restore app-db --latest --to postgres://app@127.0.0.1:5432/app_restored',
    'lifeboat restore app-db --backup 20261129T130150Z-fec6a53842b5 --to postgres://app@db2:5432/app --clean',
    'lifeboat restore uploads --latest --to /srv/restore/uploads --include \'invoices/2026/**\'',
    'lifeboat restore cache --latest --to /srv/restore/cache --serve 6390',
    'lifeboat restore base-db --latest --to /srv/pg/restored --port 5499 --at 2026-11-29T09:30:00Z',
  ],
  'schedules apply': ['lifeboat schedules apply --dry-run', 'lifeboat schedules apply'],
  'schedules list': ['lifeboat schedules list', 'lifeboat schedules list --next 5'],
  'sync': ['lifeboat sync --wait', 'lifeboat sync --source app-db --wait'],
  'verify': [
    'lifeboat verify app-db --wait                    # integrity: hashes, chain, decrypt, decompress',
    'lifeboat verify app-db --level restore --wait    # restore into a scratch target and check it',
  ],
  'status': [
    'lifeboat status',
    'lifeboat status || notify-oncall                 # exit code 25: a source is late or never backed up',
  ],
  'retention show': ['lifeboat retention show --source app-db'],
  'retention apply': ['lifeboat retention apply --dry-run', 'lifeboat retention apply --wait'],
  'wal start': ['lifeboat wal start', 'lifeboat wal start --source base-db'],
  'wal status': ['lifeboat wal status --source base-db'],
  'failover start': [
    'lifeboat failover start --to gothenburg --drill --wait   # restore, check, report, tear down',
    'lifeboat failover start --to gothenburg --wait           # the real one: waits for "failover approve"',
  ],
  'failover status': ['lifeboat failover status lifeboat-failover-gothenburg-1764410000000'],
  'failover approve': ['lifeboat failover approve lifeboat-failover-gothenburg-1764410000000 --by alice --comment "primary lost, ticket OPS-42"'],
  'failover abort': ['lifeboat failover abort lifeboat-failover-gothenburg-1764410000000 --reason "primary is back"'],
  'doctor': ['lifeboat doctor', 'lifeboat --json doctor | jq \'.checks[] | select(.ok | not)\''],
};

/** The command's path without the program's name: "backups list". */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at?.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** Adds each leaf command's examples to its --help. */
export function addExamples(program: Command): void {
  const visit = (command: Command) => {
    for (const sub of command.commands) visit(sub);
    const lines = examples[commandPath(command)];
    if (command.commands.length === 0 && command.parent && lines) command.addHelpText('after', `\nExamples:\n${lines.map((line) => `  ${line}`).join('\n')}`);
  };
  visit(program);
}
