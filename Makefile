# splitbrain: Jepsen-style fault injection for leader-election implementations.
# Everything Docker-based uses images built here; testcontainers' reaper stays off.
export TESTCONTAINERS_RYUK_DISABLED := true
export CGO_ENABLED ?= 0

GO       ?= go
BIN      := bin
PKGS     := ./...

.PHONY: all build test test-short race bench lint demo nightly clean

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

clean:
	rm -rf $(BIN)
