#!/usr/bin/env bash
# Checks deploy/hpti.service offline: no systemd needs to be running, no hpti binary
# needs to be installed.
#
#   bash deploy/verify-unit.sh                 # the unit in this repository
#   bash deploy/verify-unit.sh path/to/copy    # another copy of it
#
# Fails (exit 1) when:
#   - a directive the hardening issue requires is missing or changed;
#   - `systemd-analyze verify` reports anything about the unit. On its own, verify only
#     warns about a misspelt key, an unknown system call group or a bad value ("...,
#     ignoring.") and exits 0. `--recursive-errors=no` turns those warnings into a
#     non-zero exit (for this unit only, not for the host's units it depends on), and
#     the script also fails on any line of output, for systemd versions without it.
# Then prints the exposure score of `systemd-analyze security --offline=yes`, without
# failing on it.
set -euo pipefail

cd "$(dirname "$0")/.."
unit=${1:-deploy/hpti.service}
binary=/usr/local/bin/hpti

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "verify-unit: systemd-analyze not found (Debian/Ubuntu: apt-get install systemd)" >&2
    exit 2
fi
if [ ! -f "$unit" ]; then
    echo "verify-unit: $unit: no such file" >&2
    exit 2
fi
echo "verify-unit: $unit, $(systemd-analyze --version | head -n 1)"

failed=0

# 1. The directives the hardening issue names, with their values.
required=(
    "NoNewPrivileges=yes"
    "ProtectSystem=strict"
    "StateDirectory=hpti"
    "ReadWritePaths=/var/lib/hpti"
    "PrivateTmp=yes"
    "ProtectHome=yes"
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"
    "SystemCallFilter=@system-service"
    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"
    "AmbientCapabilities=CAP_NET_BIND_SERVICE"
    "MemoryMax="
    "ExecStart=$binary --config /etc/hpti/hpti.toml run"
)
for directive in "${required[@]}"; do
    if [ "${directive: -1}" = "=" ]; then
        # Only the key: any non-empty value.
        present=$(awk -v key="$directive" 'index($0, key) == 1 && length($0) > length(key)' "$unit")
    else
        present=$(grep -xF -- "$directive" "$unit" || true)
    fi
    if [ -z "$present" ]; then
        echo "verify-unit: missing: $directive" >&2
        failed=1
    fi
done

# 2. systemd-analyze verify. It checks that every command is an existing executable, so
# the copy checked here runs a stub in place of the hpti binary (same line numbers).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin"
printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/hpti"
chmod 0755 "$tmp/bin/hpti"
# The unit's name must stay hpti.service: verify derives the unit name from it.
sed "s#$binary#$tmp/bin/hpti#g" "$unit" >"$tmp/hpti.service"

verify_opts=(--man=no)
if systemd-analyze --help 2>&1 | grep -q -- '--recursive-errors'; then
    verify_opts+=(--recursive-errors=no)
fi
set +e
output=$(systemd-analyze verify "${verify_opts[@]}" "$tmp/hpti.service" 2>&1)
status=$?
set -e
# Name the checked file and the real binary in the messages, not the temporary copy.
output=$(printf '%s' "$output" | sed -e "s#$tmp/hpti.service#$unit#g" -e "s#$tmp/bin/hpti#$binary#g")
if [ -n "$output" ]; then
    printf '%s\n' "$output" >&2
fi
if [ "$status" -ne 0 ] || [ -n "$output" ]; then
    echo "verify-unit: systemd-analyze verify: FAILED (exit $status)" >&2
    failed=1
else
    echo "verify-unit: systemd-analyze verify: ok"
fi

# 3. Exposure score (0 = fully sandboxed, 10 = none), for information only.
if systemd-analyze security --help 2>&1 | grep -q -- '--offline'; then
    set +e
    security=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1)
    set -e
    printf '%s\n' "$security" | grep -E '^✗|Overall exposure' | sed -E -e 's/ {2,}/  /g' -e 's/^/verify-unit: security: /' || true
else
    echo "verify-unit: security: skipped (systemd-analyze security has no --offline here)"
fi

if [ "$failed" -ne 0 ]; then
    echo "verify-unit: FAILED"
    exit 1
fi
echo "verify-unit: ok"
