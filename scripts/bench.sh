#!/usr/bin/env bash
# `npm run bench`: installs the peers the benchmark compares against (restic, pgBackRest, the AWS
# CLI) besides what the tests need, then runs bench/run.ts on the same Node as the tests.
# Its settings are environment variables; bench/run.ts lists them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --bench
# shellcheck source=scripts/node-path.sh
source scripts/node-path.sh
exec npx tsx bench/run.ts "$@"
