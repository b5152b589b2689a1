# countersign's tasks. `make` alone lists them.
SHELL := bash
.DELETE_ON_ERROR:
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --warn-undefined-variables
MAKEFLAGS += --no-builtin-rules
MAKEFLAGS += --no-print-directory

GO ?= go
# How long `make fuzz` runs each fuzz target.
FUZZTIME ?= 10s
# Which benchmarks `make bench` runs, in which packages, iterations per run,
# and runs each. By default: what its summary lines need (internal/benchratio).
BENCH ?= ^Benchmark(Sign2of3|SignDigests|Withdrawal|Rederive10Inputs|Decide10Inputs|DecideERC20)$$
BENCHPKGS ?= ./signer ./signer/mpc ./policy/bitcoin ./policy
BENCHTIME ?= 3x
BENCHCOUNT ?= 7

.PHONY: help
help: ## Describe the targets
	@grep -E '^[a-zA-Z_-]+:.*?## .*$$' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-15s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build every command into bin/
	@mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

# Every package runs under the race detector. Measured on 2 cores with
# -race: ./signer takes about 2.5 minutes alone and 5.3 within the whole run
# (go test runs two packages at once), ./signer/mpc 1.3 and 4; the whole run
# about 6. That is within the 15-minute timeout, so no package is exempted
# from -race. Should ./signer grow past ~6 minutes, run ./signer/... without
# -race here rather than raise the timeout.
.PHONY: deps
deps: ## Install the system packages the tests need (libssl-dev, for the TPM simulator)
	scripts/deps.sh

# internal/ethcheck is a nested, test-only module: go-ethereum checks what
# policy/ethereum and a real cluster signed, and is never linked into a
# binary or required by the main go.mod.
.PHONY: test
test: deps ## Run every test with the race detector (about 7 minutes on 2 cores), and go-ethereum's checks of what was signed
	$(GO) test -race -count=1 -timeout 15m ./...
	cd internal/ethcheck && $(GO) test -race -count=1 ./...

# What 'make breaking' compares the API with: main, as committed. On a
# branch this finds changes that would break clients of main.
BREAKING_AGAINST ?= .git\#branch=main

.PHONY: breaking
breaking: ## Fail if proto/ breaks compatibility with BREAKING_AGAINST (default: main)
	$(GO) tool buf breaking --against '$(BREAKING_AGAINST)'

.PHONY: lint
lint: generate-check breaking ## Vet, check formatting, lint the protos, check generated code is current
	$(GO) vet ./...
	cd internal/ethcheck && $(GO) vet ./...
	@unformatted="$$(gofmt -l .)"; \
	if [[ -n "$$unformatted" ]]; then echo "gofmt: these files need 'gofmt -w':"; echo "$$unformatted"; exit 1; fi
	$(GO) tool buf lint

.PHONY: generate
generate: ## Regenerate the Go code of proto/ (buf and the plugins pinned in go.mod)
	$(GO) tool buf generate

# Regenerates into a temporary directory and compares, so the working tree
# is never touched.
.PHONY: generate-check
generate-check: ## Fail if the generated code of proto/ is not what 'make generate' writes
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	$(GO) tool buf generate -o "$$tmp"; \
	if ! diff -r -x '*.proto' proto "$$tmp/proto"; then \
		echo "generated code in proto/ is stale: run 'make generate' and commit the result"; exit 1; \
	fi

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 10s) each
	FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

.PHONY: demo
demo: ## Bitcoin and Ethereum withdrawals signed by a 2-of-3 cluster, one after two officers approve it from the officer CLI; the DMM Bitcoin swap, Bybit's SafeTx and an ERC-20 approve() refused; an auditor replays the logs (about 1.5 minutes on 2 cores with the cluster kept in .demo-cache; a first run, which makes three wallets and waits for their pre-parameters, about 6 minutes)
	GO=$(GO) scripts/demo.sh

# go test runs the packages' benchmarks one at a time, so the nodes and bare
# tss-lib never share the CPU. Each of the BENCHCOUNT runs is its own
# go test process rather than one -count: BenchmarkWithdrawal numbers its
# withdrawal ids from 1 in every run, and in one process a second run's
# ids are already signed, so it would time idempotent resubmissions.
# benchratio then prints sign-overhead-ratio, withdrawal-overhead-ratio-1,
# -3 and -eth, policy-decision-10-inputs-ms and policy-decision-eth-us, and
# fails if a benchmark they need did not run (as when BENCH is narrowed).
.PHONY: bench
bench: ## Benchmark signing and withdrawals through the nodes against bare tss-lib, and a policy decision; print the ratios
	for run in $$(seq $(BENCHCOUNT)); do \
		$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -count 1 -timeout 60m $(BENCHPKGS) || exit 1; \
	done | $(GO) run ./internal/benchratio

.PHONY: clean
clean: ## Delete bin/ and demo-out/ (the demo's cluster in .demo-cache/ stays; rm -rf it to start afresh)
	rm -rf bin demo-out
