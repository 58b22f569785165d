# splitbrain: Jepsen-style fault injection for leader-election implementations.
# Everything Docker-based uses images built here; testcontainers' reaper stays off.
export TESTCONTAINERS_RYUK_DISABLED := true
export CGO_ENABLED ?= 0

GO       ?= go
BIN      := bin
PKGS     := ./...

.PHONY: all build test test-short race bench lint demo nightly soak detect clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

## test: every test, including the Docker integration tests (skipped only when no engine answers)
test:
	CGO_ENABLED=1 $(GO) test -race -timeout 30m -count=1 $(PKGS)

## test-short: the unit tests only
test-short:
	$(GO) test -short -count=1 $(PKGS)

## bench: the benchmarks, a few rounds each (feed the output to benchstat)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 3 -timeout 60m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## demo: a one-minute run against electd with every fault
demo: build
	$(BIN)/splitbrain run --system electd --algo raft --nodes 5 --nemesis all --time-limit 60s

## nightly: the matrix kept in the repo, faithful builds and every planted bug (docs/nightly.md);
## NIGHTLY_FLAGS adds flags, e.g. NIGHTLY_FLAGS="--store /tmp/store --require-found"
nightly: build
	$(BIN)/splitbrain nightly -f nightly/matrix.yaml $(NIGHTLY_FLAGS)

## soak: many short runs of the faithful builds, to count false alarms: SOAK_RUNS seeds (default 50) of
## each of SOAK_SYSTEMS (default electd's raft and zab, zookeeper, etcd, redis), SOAK_TIME each, every
## fault, through splitbrain nightly (its page counts regressions, i.e. false alarms, unknowns and runs
## that could not run). Any false alarm is to be investigated to its cause (suite, system or a finding).
SOAK_RUNS    ?= 50
SOAK_TIME    ?= 20s
SOAK_SYSTEMS ?= electd zookeeper etcd redis
SOAK_STORE   ?= ./store/soak-$(shell date -u +%Y%m%d-%H%M%S)
soak: build
	@mkdir -p "$(SOAK_STORE)"; f="$(SOAK_STORE)/soak.yaml"; \
	printf 'name: soak\nsystems: [%s]\nalgos: [raft, zab]\nbugs: [none]\nnemeses: [all]\nseeds: %s\ntime_limit: %s\nnemesis_interval: 3s\n' \
		"$$(echo $(SOAK_SYSTEMS) | sed 's/ /, /g')" "$(SOAK_RUNS)" "$(SOAK_TIME)" > "$$f"; \
	$(BIN)/splitbrain nightly -f "$$f" --store "$(SOAK_STORE)"

clean:
	rm -rf $(BIN)

## detect: the scoreboard: splitbrain hunt on every planted bug (electd --list-bugs) and on the faithful
## raft and zab builds, DETECT_BUDGET each (default 2m), then a table: bug, found or not, time to find,
## trials, checker. The faithful rows must show nothing found (scoreboard exits 1 on a false alarm).
## DETECT_FLAGS adds hunt flags (e.g. --nodes 5 --strategy random); DETECT_STORE is where hunts go.
DETECT_BUDGET ?= 2m
DETECT_STORE  ?= ./store/detect-$(shell date -u +%Y%m%d-%H%M%S)
DETECT_FLAGS  ?=
detect: build
	@set -u; store="$(DETECT_STORE)"; mkdir -p "$$store"; dirs=""; \
	for row in $$($(BIN)/electd --list-bugs | awk 'NR > 1 { print $$1 }') faithful.raft faithful.zab; do \
		algo=$${row%%.*}; bug="--bug $$row"; \
		case $$row in faithful.*) algo=$${row#faithful.}; bug="";; esac; \
		echo "== hunt $$row ($(DETECT_BUDGET))"; \
		$(BIN)/splitbrain hunt --algo $$algo $$bug --budget $(DETECT_BUDGET) --store "$$store" --name "$$row" $(DETECT_FLAGS) </dev/null; \
		rc=$$?; if [ $$rc -eq 3 ]; then echo "detect: hunt $$row could not run"; exit 3; fi; \
		dirs="$$dirs $$store/$$row"; \
	done; \
	echo; $(BIN)/splitbrain scoreboard $$dirs
