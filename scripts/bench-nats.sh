#!/usr/bin/env bash
# Distributed mode's figures (docs/BENCHMARKS.md, "Distributed mode"), side by side in one
# run: the SQLite pipeline alone, then edge -> JetStream -> center -> SQLite with one and
# two center processes (GeoIP+ASN enrichment on the centers), a steady 10,000 events/s
# for latency, and a 1,000,000-event outbox backlog. Needs nats-server with JetStream at
# HPTI_NATS_URL (default nats://127.0.0.1:4222) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
hpti=./target/release/hpti
events=${HPTI_BENCH_EVENTS:-300000}
geo=$(mktemp --suffix=.toml)
trap 'rm -f "$geo"' EXIT
printf '[enrichers.geo]\ntype = "geoip"\ncity = "%s/testdata/geoip/GeoLite2-City-Test.mmdb"\nasn = "%s/testdata/geoip/GeoLite2-ASN-Test.mmdb"\n' "$PWD" "$PWD" > "$geo"
echo "# pipeline alone (SQLite), for scale"
$hpti bench pipeline --events "$events" 2>/dev/null
echo "# edge -> JetStream -> 1 center -> SQLite"
$hpti bench nats --events "$events" 2>/dev/null
echo "# with GeoIP+ASN on the centers: 1 center, then 2"
$hpti --config "$geo" bench nats --events "$events" --centers 1 2>/dev/null
$hpti --config "$geo" bench nats --events "$events" --centers 2 2>/dev/null
echo "# steady 10,000 events/s: edge-to-durable latency"
$hpti bench nats --events 100000 --rate 10000 2>/dev/null
echo "# outbox backlog of 1,000,000 events drained into JetStream, then the center's catch-up"
$hpti bench nats --events 1000000 --backlog 2>/dev/null
