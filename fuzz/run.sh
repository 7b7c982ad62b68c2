#!/usr/bin/env bash
# Fuzz one target (or `all`) for a bounded time: fuzz/run.sh TARGET|all SECONDS
#
# cargo-fuzz needs nightly flags; on a stable toolchain RUSTC_BOOTSTRAP=1 lets stable
# accept them. A crash leaves its input under fuzz/artifacts/TARGET/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")"
target=${1:-all}
seconds=${2:-60}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

if [ "$target" = all ]; then
    targets=$(cargo "${toolchain[@]}" fuzz list)
else
    targets=$target
fi
for t in $targets; do
    mkdir -p "corpus/$t"
    if [ -d "seeds/$t" ]; then
        cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
    fi
    echo "fuzz: $t for ${seconds}s"
    cargo "${toolchain[@]}" fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        2>&1 | grep -E '^(#|stat::number_of_executed_units|stat::peak_rss|==|SUMMARY|INFO: Running|Done)' | tail -5
    # pipefail makes a crash (non-zero cargo fuzz) fail the script.
done
