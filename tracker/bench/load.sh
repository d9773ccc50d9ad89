#!/usr/bin/env bash
# Tracker load benchmark (make bench-tracker): builds `tracker` and the bare
# fasthttp baseline, then bench/load starts Postgres and Kafka, both
# servers, and runs wrk against each with the same settings. Extra
# arguments go to bench/load (e.g. -duration 30s -connections 64 -kafka kfake).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$root/bin"
cd "$root/tracker"
go build -o "$root/bin/tracker" ./cmd/tracker
go build -o "$root/bin/tracker-bare" ./bench/bare
go build -o "$root/bin/tracker-load" ./bench/load
exec "$root/bin/tracker-load" -tracker "$root/bin/tracker" -bare "$root/bin/tracker-bare" "$@"
