#!/usr/bin/env bash
# Short fuzz runs of every fuzz target in every module of go.work (make fuzz;
# deploy/test.sh runs it after the tests). Usage: fuzz.sh [FUZZTIME], default
# $FUZZTIME or 5s. Targets are found with `go test -list`, in the packages
# whose test files declare a func Fuzz...; exits non-zero if any run fails.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${1:-${FUZZTIME:-5s}}

say() { echo "fuzz.sh: $*"; }

targets=0
failed=()
began=$SECONDS
for mod in $($GO list -m -f '{{.Dir}}'); do
	while read -r pkg dir; do
		[[ -n $pkg ]] || continue
		grep -qs '^func Fuzz' "$dir"/*_test.go || continue
		names=$(cd "$mod" && $GO test -run '^$' -list '^Fuzz' "$pkg" | grep '^Fuzz') || {
			failed+=("$pkg (cannot list fuzz targets)")
			continue
		}
		for name in $names; do
			targets=$((targets + 1))
			ok=0
			for try in 1 2; do
				if out=$(cd "$mod" && $GO test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1); then
					ok=1
					break
				fi
				# A found crasher is written to testdata/fuzz: a real failure.
				# Without one, the fuzzing engine itself gave up (a worker
				# "hung" on an overloaded machine): try once more.
				grep -q 'Failing input written to' <<<"$out" && break
				((try == 1)) && say "retry $pkg $name: the run failed without a failing input:" && tail -n 5 <<<"$out"
			done
			if ((ok)); then
				say "ok   $pkg $name ($(grep -o 'execs: [0-9]*' <<<"$out" | tail -n 1))"
			else
				say "FAIL $pkg $name:"
				tail -n 40 <<<"$out"
				failed+=("$pkg $name")
			fi
		done
	done < <(cd "$mod" && $GO list -f '{{.ImportPath}} {{.Dir}}' ./...)
done

if ((${#failed[@]})); then
	say "${#failed[@]} of $targets fuzz targets FAILED in $((SECONDS - began))s:"
	printf '  FAIL %s\n' "${failed[@]}"
	exit 1
fi
say "$targets fuzz targets passed, $FUZZTIME each ($((SECONDS - began))s)"
