# icon-edge — see README.md. Every target runs on a fresh machine with Go.
GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/icon-edge/icon-edge/version.Version=$(VERSION)
CMDS     := $(notdir $(wildcard cmd/*))
# Packages: everything with Go files.
PKGS     := ./...

.PHONY: all build build-static test test-short test-hardening demo demo-geo bench bench-locust bench-restore bench-redis report-screenshot lint fuzz clean infra-check check-config

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

# The test suite CI runs: vet, formatting, race-enabled tests, a short fuzz pass.
# -race swaps rawconn's raw system calls for package syscall (sys_race.go), so
# the packages that use them run once more without it: the production path.
test: lint
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	$(GO) test -count=1 ./internal/rawconn ./edge ./upstream
	$(MAKE) --no-print-directory fuzz FUZZTIME=10s
	$(MAKE) --no-print-directory infra-check

test-short:
	$(GO) test -count=1 -short $(PKGS)

# The attacks of issue 10 that the listener, body handling and websocket
# bridge answer, each reproduced over loopback (docs/operations.md).
test-hardening:
	$(GO) test -race -count=1 -run 'TestSlowBod|TestIdleConnection|TestBodyBudget|TestConnectionsPerAddress|TestWebSocketWithoutChannel|TestWebSocketFiltersCannot' ./test/e2e
	$(GO) test -race -count=1 -run 'TestDistinctEventFilters|TestDedicatedSessions|TestIdleHubs|TestSharedFeed|TestShareable|TestCut|TestMatchArg' ./wsbridge
	$(GO) test -race -count=1 -run 'TestWSBadFirstMessageAndLimit' ./test/iconsim
	$(GO) test -race -count=1 -run 'TestPathsAndDebugAPI' ./proxy

FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $(FUZZTIME) ./proxy

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# DEMO_FLAGS=--keep leaves the demo's simulator and edge running until Ctrl-C.
demo: build
	./scripts/demo.sh $(DEMO_FLAGS)

# Three regions on one machine: Cloudflare objects applied to a local fake,
# one region taken down under traffic, 0 failed requests (docs/geo.md).
demo-geo: build
	$(BIN)/icon-geo-demo --icon-edge $(BIN)/icon-edge

# Direct vs icon-edge vs nginx, cache and limiter ratios, Go hot-path benchmarks,
# websocket bridge memory and relay latency. Needs wrk and nginx (apt-get install wrk nginx-light).
bench: build
	./scripts/bench.sh
	$(GO) test -run '^$$' -bench . -benchmem ./loadtest/...
	$(MAKE) --no-print-directory bench-restore
	$(MAKE) --no-print-directory bench-redis

# Node agent fast sync: restores a generated snapshot (BENCH_RESTORE_BYTES, default 2GiB, on disk
# under BENCH_RESTORE_DIR or $$TMPDIR, removed afterwards) from an in-process S3 server and prints its
# throughput against the same run's ceilings (parallel GETs, sequential disk write).
bench-restore:
	$(GO) run ./snapshot/benchrestore

# A region sharing limits and answers through Redis vs a replica on its own, same run:
# throughput and p50/p99 ratios with PASS/FAIL against the targets (needs wrk and redis-server).
bench-redis: build
	./scripts/bench-redis.sh

# How far icon-loadtest outruns Locust on the same cores (apt-get install python3-locust).
bench-locust: build
	loadtest/bench/locust_vs_loadtest.sh

# Regenerates the README's load-test report screenshot (a node killed mid-run
# behind the edge) in headless Chromium.
report-screenshot: build
	./scripts/report-screenshot.sh

# Validates a configuration without starting the edge (what a SIGHUP would accept):
# make check-config CONFIG=/etc/icon-edge/edge.yaml
CONFIG ?= edge.example.yaml
check-config:
	$(GO) run ./cmd/icon-edge --config $(CONFIG) --check

clean:
	rm -rf $(BIN)

# Regenerates the README's status-page screenshot (three regions, one down)
# in headless Chromium (apt-get install chromium).
.PHONY: status-screenshot
status-screenshot:
	STATUS_SCREENSHOT=$(CURDIR)/docs/status-page.png $(GO) test -count=1 -run '^TestStatusPageInChromium$$' ./statuspage

# Static binaries (no cgo), as the Dockerfile builds them.
build-static:
	CGO_ENABLED=0 $(MAKE) --no-print-directory build

# infra/: Terraform (stand-in providers, tflint), Ansible, Packer, compose,
# Helm, Dockerfile and the Cloudflare naming contract, in their own Go
# module (infra/test) so the main module never pulls their dependencies.
# Every check whose tool is missing prints SKIP and why; .ci/run installs
# the tools. The full log is in bin/infra-check.log.
infra-check:
	@mkdir -p $(BIN)
	@cd infra/test && $(GO) test -count=1 -timeout 20m -v ./... > ../../$(BIN)/infra-check.log 2>&1; rc=$$?; \
	  grep -E '^(--- FAIL|--- SKIP|ok |FAIL|panic:)|SKIP:' ../../$(BIN)/infra-check.log; \
	  [ $$rc -eq 0 ] || tail -n 100 ../../$(BIN)/infra-check.log; exit $$rc
