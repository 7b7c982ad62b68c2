#!/usr/bin/env bash
# The cost of the disk buffer, side by side: `hpti run` (SSH sensor, SQLite sink) with
# `[pipeline] buffer = "memory"` and then "disk", alternating ROUNDS times, each loaded by
# `hpti bench ssh --mode session` (login, a shell, a command, its output: six events a
# connection, each synced before the client is answered with the disk buffer).
#
#   scripts/bench-buffer.sh [ROUNDS] [SECONDS] [CONCURRENCY]
#
# Uses target/release/hpti (cargo build --release -p hpti-bin). Prints one JSON line per
# run, prefixed with the buffer.
set -euo pipefail
rounds=${1:-2}
seconds=${2:-20}
concurrency=${3:-64}
cd "$(dirname "$0")/.."
hpti=target/release/hpti
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
for round in $(seq "$rounds"); do
    for buffer in memory disk; do
        dir="$work/$buffer-$round"
        mkdir -p "$dir"
        cat >"$dir/hpti.toml" <<TOML
[data]
dir = "$dir/data"
[metrics]
enabled = false
[sandbox]
landlock = false
[pipeline]
buffer = "$buffer"
[honeypot.limits]
max_sessions_per_ip = 100000
[sensors.ssh]
type = "ssh"
listen = "127.0.0.1:0"
TOML
        HPTI_LOG=info "$hpti" --config "$dir/hpti.toml" run 2>"$dir/log" &
        pid=$!
        for _ in $(seq 100); do
            addr=$(grep -o 'SSH honeypot listening on [0-9.:]*' "$dir/log" | awk '{print $5}' || true)
            [ -n "$addr" ] && break
            sleep 0.1
        done
        result=$("$hpti" bench ssh --addr "$addr" --server-pid "$pid" --mode session \
            --concurrency "$concurrency" --duration "$seconds")
        kill -TERM "$pid"
        wait "$pid" || true
        echo "$buffer $result"
    done
done
