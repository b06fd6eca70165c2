#!/usr/bin/env bash
# The project's test command: make sure the machine has what the tests need, then run vitest.
# Arguments go to vitest, e.g. `scripts/test.sh test/harness` or `scripts/test.sh -t "PING"`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec npx vitest run "$@"
