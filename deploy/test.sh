#!/usr/bin/env bash
# make test: builds every module of go.work, starts ONE Apache Kafka broker
# for the whole run (unless AFF_TEST_KAFKA=kfake or AFF_TEST_KAFKA_BROKERS
# names one) and hands it to every package through AFF_TEST_KAFKA_BROKERS,
# runs `go test -count=1 ./...` in every module against the real services of
# pkg/testenv, then short fuzz runs of every fuzz target (deploy/fuzz.sh).
# Stops the broker on exit; exits non-zero on any failure.
#
# Knobs: TEST_P (packages in parallel, default 2), TEST_TIMEOUT (per test
# binary, default 10m), FUZZTIME (default 5s; 0 skips fuzzing), TEST_RUN
# (a -run pattern), AFF_TEST_KAFKA=kfake (embedded broker instead of Apache).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
GO=${GO:-go}
TEST_P=${TEST_P:-2}
TEST_TIMEOUT=${TEST_TIMEOUT:-10m}
FUZZTIME=${FUZZTIME:-5s}

say() { echo "test.sh: $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/aff-test-XXXXXX")
broker_pid=
cleanup() {
	if [[ -n $broker_pid ]] && kill -0 "$broker_pid" 2>/dev/null; then
		kill -TERM "$broker_pid" 2>/dev/null
		wait "$broker_pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

mapfile -t modules < <($GO list -m -f '{{.Dir}}')

# --- build ------------------------------------------------------------------
say "building ${#modules[@]} modules"
for mod in "${modules[@]}"; do
	if ! (cd "$mod" && $GO build ./...); then
		say "FAIL: build of ${mod#"$ROOT"/}"
		exit 1
	fi
done

# --- one Apache Kafka broker for the run -------------------------------------
if [[ ${AFF_TEST_KAFKA:-apache} == kfake ]]; then
	say "AFF_TEST_KAFKA=kfake: each package uses the embedded kfake broker"
elif [[ -n ${AFF_TEST_KAFKA_BROKERS:-} ]]; then
	say "using the running broker AFF_TEST_KAFKA_BROKERS=$AFF_TEST_KAFKA_BROKERS"
else
	(cd deploy/devstack && $GO build -o "$work/devstack" .) || exit 1
	started=$(date +%s%N)
	"$work/devstack" broker -dir "$work/kafka" -addr-file "$work/kafka.addr" >"$work/broker.out" 2>&1 &
	broker_pid=$!
	for ((i = 0; i < 1200; i++)); do # 120 s
		[[ -s $work/kafka.addr ]] && break
		if ! kill -0 "$broker_pid" 2>/dev/null; then
			say "FAIL: the Apache Kafka broker did not start:"
			cat "$work/broker.out"
			exit 1
		fi
		sleep 0.1
	done
	if [[ ! -s $work/kafka.addr ]]; then
		say "FAIL: the Apache Kafka broker did not answer within 120 s:"
		cat "$work/broker.out"
		exit 1
	fi
	export AFF_TEST_KAFKA_BROKERS
	AFF_TEST_KAFKA_BROKERS=$(<"$work/kafka.addr")
	ms=$((($(date +%s%N) - started) / 1000000))
	say "Apache Kafka broker for this run on $AFF_TEST_KAFKA_BROKERS, started in $((ms / 1000)).$(printf %03d $((ms % 1000)))s"
fi

# --- tests ------------------------------------------------------------------
failed=()
runflag=()
[[ -n ${TEST_RUN:-} ]] && runflag=(-run "$TEST_RUN")
began=$SECONDS
for mod in "${modules[@]}"; do
	say "go test ${mod#"$ROOT"/}"
	if ! (cd "$mod" && $GO test -count=1 -p "$TEST_P" -timeout "$TEST_TIMEOUT" "${runflag[@]}" ./... 2>&1 | tee -a "$work/gotest.log"); then
		failed+=("go test in ${mod#"$ROOT"/}")
	fi
done
say "go test took $((SECONDS - began))s"

# --- fuzz -------------------------------------------------------------------
if [[ $FUZZTIME != 0 && $FUZZTIME != 0s ]]; then
	bash deploy/fuzz.sh "$FUZZTIME" || failed+=("fuzz")
fi

# --- summary: go test's closing lines last ----------------------------------
echo
say "summary of go test:"
grep -E '^(ok|FAIL|--- FAIL|panic:)' "$work/gotest.log" || true
if ((${#failed[@]})); then
	printf 'test.sh: FAILED: %s\n' "${failed[@]}"
	echo FAIL
	exit 1
fi
echo PASS
