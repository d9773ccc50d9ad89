#!/usr/bin/env bash
# The settlement benchmark of issue 6: one full pass (settle, auto-approve,
# reserve release; ingest and the outbox relay excluded) over ORDERS orders
# of 3 lines against CLICKS clicks, then an incremental pass over NEW new
# orders and a pass that finds nothing new. Real Postgres and ClickHouse from
# pkg/testenv (fsync off), started by the test binary and removed after.
#
#   settler/bench/settle.sh                    # 1M orders, 10M clicks (the issue's size)
#   ORDERS=20000 settler/bench/settle.sh       # quick (10 clicks per order unless CLICKS is set)
#   PGSS=1 ORDERS=100000 settler/bench/settle.sh   # also log the pass's costliest statements
#   PG_LOCALE=en_US.UTF-8 settler/bench/settle.sh  # databases in that locale instead of C
#   PROFILE=/tmp/prof ORDERS=100000 settler/bench/settle.sh   # profile the pass: Go pprof, and
#                                              # perf of the whole machine when perf is installed
#
# Figures: s/full-pass, orders/s, peak-RSS-MB (this process: the settler's
# side), cpu-s/full-pass (CPU of the test process plus the Postgres and
# ClickHouse servers it started), s/incr-pass and incr-ratio (the
# incremental pass's time per order over the full pass's: ~1 means time in
# proportion to the new work), ms/idle-pass, and the pass against the
# storage floor measured after it in the same run (x-floor-time,
# x-floor-cpu): the rows the full pass wrote, copied again by binary COPY
# into empty copies of their tables in as many parts and sessions as the
# pass had batches and workers, i.e. what storing the pass's output costs
# on this host at that moment. Seeding is not timed.
set -euo pipefail
cd "$(dirname "$0")/.."
ORDERS=${ORDERS:-1000000}
export AFF_BENCH_ORDERS=$ORDERS
export AFF_BENCH_CLICKS=${CLICKS:-$((10 * ORDERS))}
export AFF_BENCH_NEW=${NEW:-1000}
# BATCH unset: the settler's default batch size (settle.DefaultBatchSize).
if [ -n "${BATCH:-}" ]; then
	export AFF_BENCH_BATCH=$BATCH
fi
export AFF_BENCH_WORKERS=${WORKERS:-3}
# A Postgres sized for a million orders rather than pkg/testenv's 64 MB test
# server: PG_SETTINGS="" runs on the test settings.
export AFF_TEST_PG_SETTINGS=${PG_SETTINGS-"shared_buffers=2GB max_wal_size=8GB"}
# The settler binary collects garbage at 4x the live heap unless GOGC is set
# (cmd/settler); the benchmark runs the pass in the test binary, so it sets
# the same. GOGC=100 measures Go's default.
export GOGC=${GOGC:-400}
# PG_LOCALE=en_US.UTF-8: the databases in that locale (what managed
# Postgres services and the postgres image create) instead of C.
if [ -n "${PG_LOCALE:-}" ]; then
	export AFF_TEST_PG_LOCALE=$PG_LOCALE
fi
if [ -n "${PROFILE:-}" ]; then
	export AFF_BENCH_PROFILE=$PROFILE
fi
if [ -n "${PGSS:-}" ]; then
	export AFF_BENCH_PGSS=1
	AFF_TEST_PG_SETTINGS="$AFF_TEST_PG_SETTINGS shared_preload_libraries=pg_stat_statements"
fi
echo "orders=$AFF_BENCH_ORDERS clicks=$AFF_BENCH_CLICKS new=$AFF_BENCH_NEW batch=${AFF_BENCH_BATCH:-default} workers=$AFF_BENCH_WORKERS GOGC=$GOGC postgres: ${AFF_TEST_PG_SETTINGS:-test settings} locale=${PG_LOCALE:-C} load: $(cut -d' ' -f1-3 /proc/loadavg)"
exec go test -run '^$' -bench '^BenchmarkSettleHistory$' -benchtime 1x -timeout 3h -v ./internal/settle/
