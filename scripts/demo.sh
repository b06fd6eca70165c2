#!/usr/bin/env bash
# The README's demo command: set up what is missing, then run the demo on its embedded servers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# shellcheck source=scripts/node-path.sh
source scripts/node-path.sh
exec npx tsx scripts/demo.ts "$@"
