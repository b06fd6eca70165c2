#!/usr/bin/env bash
# Records one workflow history per workflow type from this version into test/histories/, for every
# later version's replay test (test/zz-replay.test.ts) to replay. Run it when a release changes
# workflow code, and commit the files: they are how the next version proves it can take over
# running workflows. The test files below between them run every workflow type Lifeboat bundles.
# It overwrites <type>.json; rename an older version's files first (e.g. backupSource.v1.json) to
# keep replaying them while runs of that version may still exist.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="$(pwd)/test/histories"
LIFEBOAT_RECORD_HISTORIES="$out" bash scripts/test.sh \
  test/backup-restore.test.ts test/schedules.test.ts test/failover-drill.test.ts test/wal-ship-plan.test.ts \
  test/failover-pin.test.ts test/objectives-surviving-region.test.ts test/verify-restore.test.ts test/zz-replay.test.ts
ls -l "$out"
