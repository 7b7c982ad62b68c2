#!/usr/bin/env bash
# Runs `hpti bench pipeline` alternately with two builds, so that both see the same
# machine (its speed varies up to 2x within a day): one line per run with events/s and
# the CPU seconds (user + system) the run took.
#
#   scripts/bench-pipeline-pair.sh OLD_HPTI NEW_HPTI [PAIRS] [EVENTS]
#
# Build the old one in a worktree with its own target directory, e.g.:
#   git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --release -p hpti-bin --target-dir /tmp/old-target)
#   scripts/bench-pipeline-pair.sh /tmp/old-target/release/hpti target/release/hpti 6
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2") pairs=${3:-6} events=${4:-1000000}
TIMEFORMAT='%U %S'
for i in $(seq 1 "$pairs"); do
    # Alternate which build goes first, so neither always gets the warmer machine.
    if (( i % 2 )); then order="old new"; else order="new old"; fi
    for which in $order; do
        bin=$old; [ "$which" = new ] && bin=$new
        dir=$(mktemp -d)
        { time (cd "$dir" && "$bin" bench pipeline --events "$events" > "$dir/out.json" 2>/dev/null); } 2> "$dir/time"
        eps=$(sed 's/.*"events_per_sec":\([0-9]*\).*/\1/' "$dir/out.json")
        cpu=$(awk '{printf "%.2f", $1 + $2}' "$dir/time")
        echo "pair $i $which events_per_sec=$eps cpu_seconds=$cpu"
        rm -rf "$dir"
    done
done
