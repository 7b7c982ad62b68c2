#!/usr/bin/env bash
# Runs `hpti bench pipeline` into each sink set in turn, ROUNDS times, rotating the order
# so that no set always gets the warmer machine: SQLite alone, PostgreSQL alone, both, and
# SQLite + PostgreSQL + Redis (the issue's "all at once" figure).
# One line per run: events/s, p99 latency, and the CPU seconds of hpti itself (the
# PostgreSQL server's own CPU is not in it; it shares the machine).
#
#   scripts/bench-sinks.sh [HPTI] [ROUNDS] [EVENTS]
#
# PostgreSQL: HPTI_POSTGRES_URL or the local server (a new database per run, dropped).
# Redis: HPTI_REDIS_URL or the local server (a key prefix per run, deleted); it is
# best-effort, so `dropped` says how many events it shed to keep up.
set -euo pipefail
bin=$(realpath "${1:-target/release/hpti}") rounds=${2:-3} events=${3:-1000000}
sets=(sqlite postgres sqlite,postgres sqlite,postgres,redis)
TIMEFORMAT='%U %S'
for i in $(seq 1 "$rounds"); do
    for j in 0 1 2 3; do
        sinks=${sets[$(( (i + j) % 4 ))]}
        dir=$(mktemp -d)
        { time (cd "$dir" && "$bin" bench pipeline --events "$events" --sink "$sinks" > "$dir/out.json" 2>"$dir/err"); } 2> "$dir/time" \
            || { echo "round $i $sinks FAILED: $(tail -3 "$dir/err")"; rm -rf "$dir"; continue; }
        eps=$(sed 's/.*"events_per_sec":\([0-9.]*\).*/\1/' "$dir/out.json")
        p99=$(sed 's/.*"p99_latency_ms":\([0-9.]*\).*/\1/' "$dir/out.json")
        stored=$(sed 's/.*"stored_per_sink":\(\[[0-9,]*\]\).*/\1/' "$dir/out.json")
        dropped=$(sed 's/.*"dropped_per_sink":\(\[[0-9,]*\]\).*/\1/' "$dir/out.json")
        cpu=$(awk '{printf "%.1f", $1 + $2}' "$dir/time")
        printf 'round %s %-22s events_per_sec=%.0f p99_ms=%s stored=%s dropped=%s hpti_cpu_s=%s\n' "$i" "$sinks" "$eps" "$p99" "$stored" "$dropped" "$cpu"
        rm -rf "$dir"
    done
done
