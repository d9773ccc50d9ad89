# Affiliate platform — build, test, run. See README.md.
SHELL := /bin/bash
MODULES := pkg tracker settler dashboard
GO ?= go
FUZZTIME ?= 5s
BIN := $(CURDIR)/bin

.PHONY: all build test unit fuzz dev demo bench bench-tracker lint deps clean

all: build

deps: ## install the Debian packages and caches the tests need
	bash deploy/install-deps.sh

build: ## tracker, settler, dashboard and devstack into bin/
	@mkdir -p $(BIN)
	cd tracker && $(GO) build -o $(BIN)/tracker ./cmd/tracker
	cd settler && $(GO) build -o $(BIN)/settler ./cmd/settler
	cd dashboard && $(GO) build -o $(BIN)/dashboard ./cmd/dashboard
	cd deploy/devstack && $(GO) build -o $(BIN)/devstack .

test: build ## unit + integration tests against real services, then short fuzz runs
	FUZZTIME=$(FUZZTIME) bash deploy/test.sh

fuzz: ## every fuzz target for FUZZTIME each
	bash deploy/fuzz.sh $(FUZZTIME)

dev: build ## Postgres, ClickHouse and Kafka kept running under .dev/
	$(BIN)/devstack up

demo: build ## the whole platform on the dev stack with simulated traffic; Ctrl-C stops everything (DEMO_FLAGS="-rate 50 -seed 7")
	$(BIN)/devstack demo $(DEMO_FLAGS)

bench: build ## go benchmarks of every module
	for m in $(MODULES); do (cd $$m && $(GO) test -run '^$$' -bench . -benchmem ./...) || exit 1; done

bench-tracker: build ## wrk load: tracker serve vs a bare fasthttp 302, same run
	bash tracker/bench/load.sh

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $(MODULES) deploy); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	for m in $(MODULES) deploy/devstack deploy/check; do (cd $$m && $(GO) vet ./...) || exit 1; done
	for m in $(MODULES) deploy/devstack deploy/check; do (cd $$m && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...) || exit 1; done

clean:
	rm -rf $(BIN)
