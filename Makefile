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
# Iterations per benchmark run and runs per benchmark of `make bench`.
BENCHTIME ?= 3x
BENCHCOUNT ?= 7

.PHONY: help
help: ## Describe the targets
	@grep -E '^[a-zA-Z_-]+:.*?## .*$$' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-15s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build every command into bin/
	@mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

# Every package runs under the race detector. Measured on a 2-core machine,
# ./signer takes about 2.5 minutes with -race and ./signer/mpc under 1.5, far
# from the 15-minute timeout, so nothing is exempted from -race.
.PHONY: test
test: ## Run every test with the race detector (about 5 minutes on 2 cores)
	$(GO) test -race -count=1 -timeout 15m ./...

.PHONY: lint
lint: generate-check ## Vet, check formatting, lint the protos, check generated code is current
	$(GO) vet ./...
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
demo: ## Run a 2-of-3 cluster, create a wallet, derive addresses on every node (2-4 minutes the first time)
	GO=$(GO) scripts/demo.sh

.PHONY: bench
bench: ## Benchmark signing: raw protocol against the gRPC path, and their ratio
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count $(BENCHCOUNT) -timeout 60m ./signer/... | $(GO) run ./internal/benchratio

.PHONY: clean
clean: ## Delete bin/ and demo-out/ (the demo's cluster in .demo-cache/ stays; rm -rf it to start afresh)
	rm -rf bin demo-out
