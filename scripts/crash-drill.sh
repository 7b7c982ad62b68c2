#!/usr/bin/env bash
# Crash drills longer than the test's: `hpti run` under SSH, Telnet and log-file load,
# killed with SIGKILL CYCLES times, with the disk buffer and then the memory buffer, one
# seed for both. Prints one line per buffer: what clients saw answered, what was lost,
# what was stored twice (docs/durability.md).
#
#   scripts/crash-drill.sh [CYCLES] [SEED]
#
# Needs ssh and sshpass. Uses the test build (`cargo test`), not a release build.
set -euo pipefail
cycles=${1:-100}
seed=${2:-$(date +%s%N)}
cd "$(dirname "$0")/.."
for buffer in disk memory; do
    HPTI_DRILL_CYCLES=$cycles HPTI_DRILL_SEED=$seed HPTI_DRILL_BUFFER=$buffer \
        cargo test -q -p hpti-bin --test durability kill_9 -- --nocapture 2>&1 \
        | grep -E '^crash drill|answered but not stored|stored twice|never stored' || true
done
