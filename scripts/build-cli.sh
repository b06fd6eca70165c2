#!/usr/bin/env bash
# Compiles the CLI (client/main.ts and all it imports) to JavaScript in dist/ (or the directory
# given), which bin/lifeboat runs: starting from compiled code takes a fraction of a second where
# compiling TypeScript at every start took over one. Split into chunks, so a command loads only its
# own code and packages. Packages are compiled in too: resolving and loading the AWS SDK's hundreds
# of files from node_modules took most of a `backups list`. Temporal's packages stay in node_modules
# (a native module, and the worker bundles workflow code from files), as do protobufjs (it loads
# optional modules by name) and pg's optional native binding; the banner gives the CommonJS code
# compiled into these ES modules a `require` for Node's own modules.
# scripts/setup.sh runs it when a source file is newer than the build; tests and the demo use the same build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-dist}"
tmp="$out.tmp.$$"
rm -rf "$tmp"
./node_modules/.bin/esbuild client/main.ts --bundle --splitting --platform=node --format=esm \
  --external:'@temporalio/*' --external:'@swc/*' --external:protobufjs --external:pg-native \
  --banner:js="import { createRequire as __lifeboatRequire } from 'node:module'; const require = __lifeboatRequire(import.meta.url);" \
  --target=node22 --entry-names=lifeboat --chunk-names=chunks/[name]-[hash] --out-extension:.js=.mjs --log-level=warning --outdir="$tmp"
# Whole or not at all: a CLI started meanwhile sees the old build or the new one, never half of one.
rm -rf "$out.old.$$"
[ -d "$out" ] && mv "$out" "$out.old.$$"
mv "$tmp" "$out"
rm -rf "$out.old.$$"
