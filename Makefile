# ospnode — two commands on a fresh machine: `make run` and `make test`.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 30s
BENCHTIME ?= 1s
COUNT     ?= 5
DATA      ?= $(CURDIR)/data/demo
BIN       := bin/ospnode

.PHONY: all build run test test-short stress bench fuzz soak reliability vet fmt clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ospnode

# A single-node network on an embedded default: data under ./data/demo.
run: build
	./$(BIN) serve --demo --data-dir $(DATA)

# The test command CI runs (see .ci/run). Race detector on; bounded in time.
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

# Reruns the tests COUNT times under -race while a CPU-heavy build runs beside
# them: a test that fails only on a busy machine is a bug. Narrow it with
# PKGS=./consensus/ (see scripts/stress-test.sh for -run).
stress:
	./scripts/stress-test.sh --busy -count $(COUNT) $(PKGS)

# Go benchmarks; `make bench` also regenerates BENCH.md (see scripts/bench.sh).
bench:
	./scripts/bench.sh

# Each fuzz target runs for FUZZTIME (go test allows one -fuzz target per run).
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

# Long fault-injection soaks, kept out of `make test`.
soak:
	$(GO) test -count=1 -timeout 60m -tags soak -run Soak $(PKGS)

# Fault-tolerance scenarios without -race; regenerates RELIABILITY.md.
reliability:
	./scripts/reliability.sh

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin data
