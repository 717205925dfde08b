# sanafarm — build, test and benchmark targets. `make` alone lists them.

GO       ?= go
GO_TAGS  ?=
PKGS     ?= ./...
BIN      ?= bin
TESTFLAGS ?= -count=1 -timeout 20m

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## compile every package (pure Go, CGO_ENABLED=0)
	CGO_ENABLED=0 $(GO) build -tags '$(GO_TAGS)' $(PKGS)

.PHONY: lint
lint: ## gofmt, go vet (also for arm64), import rules of DESIGN.md §2
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	CGO_ENABLED=0 $(GO) vet -tags '$(GO_TAGS)' $(PKGS)
	CGO_ENABLED=0 GOARCH=arm64 $(GO) vet -tags '$(GO_TAGS)' ./kernels/...
	$(GO) test -count=1 ./internal/archtest/

.PHONY: test
test: lint ## lint, then run the whole test suite without cgo (no GPU needed)
	CGO_ENABLED=0 $(GO) test -tags '$(GO_TAGS)' $(TESTFLAGS) $(PKGS)

.PHONY: test-race
test-race: ## run the tests with the race detector (needs cgo)
	CGO_ENABLED=1 $(GO) test -race -tags '$(GO_TAGS)' $(TESTFLAGS) $(PKGS)

.PHONY: bench
bench: bench-ops bench-gemm bench-dit ## all benchmarks that report ratios against a same-run baseline

.PHONY: bench-gemm
bench-gemm: ## single-thread sgemm vs OpenBLAS at Sana shapes (needs libopenblas-dev); last line is the ratio
	@dpkg -s libopenblas-dev >/dev/null 2>&1 || { echo "bench-gemm needs OpenBLAS: apt-get install -y libopenblas-dev"; exit 1; }
	CGO_ENABLED=1 $(GO) run -tags openblas ./kernels/cpu/internal/gemmbench

.PHONY: bench-dit
bench-dit: ## one Sana-600M block at 512² vs plain PyTorch (needs python3-torch, libopenblas0-pthread); THREADS=1
	CGO_ENABLED=0 $(GO) run ./model/dit/internal/blockbench -threads $(or $(THREADS),1)

.PHONY: bench-ops
bench-ops: ## depthwise conv, linear attention, norm+modulate vs straightforward loops (ratios)
	SANAFARM_OPBENCH=1 CGO_ENABLED=0 $(GO) test -count=1 -run 'TestReportOpRatios' -v ./kernels/cpu/ | grep -E '^op=|^(ok|FAIL)'

.PHONY: fuzz
FUZZTIME ?= 30s
fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; done

.PHONY: device-bins
device-bins: ## build the static binaries scripts/device/check.sh runs on the lent GPU machine
	mkdir -p $(BIN)/device
	CGO_ENABLED=0 $(GO) test -c -o $(BIN)/device/cpu.test ./kernels/cpu
	CGO_ENABLED=0 $(GO) test -c -o $(BIN)/device/dit.test ./model/dit
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/device/sanafarm ./cmd/sanafarm

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(BIN)
