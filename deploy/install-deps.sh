#!/usr/bin/env bash
# Installs what the tests and the dev stack need, and only what is missing:
# Debian packages (ClickHouse, Postgres, Chromium, wrk, kcat, Java, Maven,
# python3-venv, locales), the en_US.UTF-8 locale and the Apache Kafka
# broker's jars (Maven Central, into the git-ignored deploy/kafka/lib/).
# Idempotent, and quiet when all is present. Used by the README and by
# .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

say() { echo "install-deps: $*" >&2; }

# --- Debian packages -------------------------------------------------------
missing=()
have() { command -v "$1" >/dev/null 2>&1; }
# need PACKAGE... unless the test command succeeds.
need() { local test=$1; shift; if ! eval "$test" >/dev/null 2>&1; then missing+=("$@"); fi; }

need 'have clickhouse-server || have clickhouse' clickhouse-server
need 'have clickhouse-client || have clickhouse' clickhouse-client
need 'ls /usr/lib/postgresql/*/bin/initdb' postgresql
need 'have chromium' chromium
need 'have chromedriver' chromium-driver
need 'have wrk' wrk
need 'have kcat' kcat
need 'have java && java -version 2>&1 | grep -Eq "version \"(1[7-9]|[2-9][0-9])"' openjdk-17-jre-headless
need 'have mvn' maven
need 'python3 -c "import ensurepip, venv"' python3-venv
need 'test -f /usr/share/i18n/locales/en_US && have localedef' locales

# quietly runs a command, printing its output only when it fails.
quietly() {
	local log
	log=$(mktemp)
	if ! "$@" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		say "failed: $*"
		exit 1
	fi
	rm -f "$log"
}

if ((${#missing[@]})); then
	cmd="apt-get install -y --no-install-recommends ${missing[*]}"
	if [[ $(id -u) -ne 0 ]]; then
		if have sudo && sudo -n true 2>/dev/null; then
			say "installing ${missing[*]} (sudo)"
			quietly sudo apt-get update
			quietly sudo env DEBIAN_FRONTEND=noninteractive $cmd
		else
			say "missing Debian packages: ${missing[*]}"
			say "run as root:  sudo apt-get update && sudo $cmd"
			exit 1
		fi
	else
		say "installing ${missing[*]}"
		quietly apt-get update
		quietly env DEBIAN_FRONTEND=noninteractive $cmd
	fi
fi

# --- the en_US.UTF-8 locale ----------------------------------------------------
# The migration tests create a database in en_US.UTF-8, the locale managed
# Postgres services and the postgres image create databases in. Enabled in
# /etc/locale.gen, so that a later locale-gen (the locales package runs it on
# upgrade, and it rebuilds the archive from that file) keeps it.
# (A here-string, not a pipe: with pipefail, grep -q closing the pipe early
# could fail the check.)
if ! grep -qix 'en_US\.utf-\?8' <<<"$(locale -a 2>/dev/null)"; then
	gen='if [ -f /etc/locale.gen ] && command -v locale-gen >/dev/null; then
		sed -i "s/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/" /etc/locale.gen
		grep -q "^en_US.UTF-8 UTF-8" /etc/locale.gen || echo "en_US.UTF-8 UTF-8" >>/etc/locale.gen
		locale-gen
	else
		localedef -i en_US -f UTF-8 en_US.UTF-8
	fi'
	if [[ $(id -u) -eq 0 ]]; then
		say "generating the en_US.UTF-8 locale"
		quietly bash -c "$gen"
	elif have sudo && sudo -n true 2>/dev/null; then
		say "generating the en_US.UTF-8 locale (sudo)"
		quietly sudo bash -c "$gen"
	else
		say "missing the en_US.UTF-8 locale; run as root:  sudo localedef -i en_US -f UTF-8 en_US.UTF-8"
		exit 1
	fi
fi

# --- Apache Kafka broker jars (Maven Central) ------------------------------
# deploy/kafka/pom.xml pins org.apache.kafka:kafka_2.13 and the log binding;
# copy-dependencies gives 46 jars (about 45 MB). pkg/testenv and devstack
# find them in deploy/kafka/lib (or $AFF_KAFKA_LIB).
KAFKA_LIB=${AFF_KAFKA_LIB:-$ROOT/deploy/kafka/lib}
KAFKA_JARS=46
count_jars() { find "$KAFKA_LIB" -maxdepth 1 -name '*.jar' 2>/dev/null | wc -l; }
if [[ $(count_jars) -ne $KAFKA_JARS ]] || ! ls "$KAFKA_LIB"/kafka_2.13-*.jar >/dev/null 2>&1; then
	say "fetching the Apache Kafka jars into $KAFKA_LIB (once; about 45 MB)"
	rm -rf "$KAFKA_LIB"
	quietly mvn -B -q -f "$ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$KAFKA_LIB" -DincludeScope=runtime
	if [[ $(count_jars) -ne $KAFKA_JARS ]]; then
		say "expected $KAFKA_JARS jars in $KAFKA_LIB, found $(count_jars): check deploy/kafka/pom.xml"
		exit 1
	fi
fi

# --- chdb-core virtual environment -----------------------------------------
# ClickHouse's current engine (26.9) in process, from PyPI, for the SQL
# conformance test (tracker/internal/sink): the reports must give the same
# rows on Debian's 18.16 server and on a current release.
CHDB_VERSION=26.9.0
VENV=${AFF_VENV:-$ROOT/.venv}
if ! "$VENV/bin/python" -c "import chdb" >/dev/null 2>&1; then
	say "installing chdb-core $CHDB_VERSION into $VENV (once; about 150 MB)"
	rm -rf "$VENV"
	quietly python3 -m venv "$VENV"
	quietly "$VENV/bin/pip" install --quiet --disable-pip-version-check "chdb-core==$CHDB_VERSION"
fi

