#!/usr/bin/env bash
# Tollgate benchmark (`make bench`): one Envoy (--concurrency 2) with a listener per filter
# setup (no filter, the floor filter, API key, JWT HS256/RS256/ES256, 3scale authrep and
# 3scale cached + batched against mock-3scale), measured with paired, alternating wrk runs.
# Writes bench/RESULTS.md and prints it.
#
# Environment: BENCH_PAIRS (default 8), BENCH_SECONDS (default 4), BENCH_WARMUP (default 2),
# BENCH_THREADS (2), BENCH_CONNECTIONS (32), BENCH_OUT (bench/RESULTS.md), ENVOY_BIN,
# TOLLGATE_WASM. Quick check:
#   BENCH_PAIRS=2 BENCH_SECONDS=2 make bench
# The Envoy configuration, keys and logs go to target/bench/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export TOLLGATE_WASM="${TOLLGATE_WASM:-$ROOT/target/wasm32-unknown-unknown/release/tollgate.wasm}"
if [[ -z "${ENVOY_BIN:-}" ]]; then
    ENVOY_BIN="$(ls -1 "$ROOT"/.venv/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | tail -n1 || true)"
fi
export ENVOY_BIN
[[ -x "$ENVOY_BIN" ]] || { echo "bench: envoy binary not found (run \`make envoy\` or set ENVOY_BIN)" >&2; exit 1; }
[[ -f "$TOLLGATE_WASM" ]] || { echo "bench: $TOLLGATE_WASM not found (run \`make build\`)" >&2; exit 1; }

for tool in python3 openssl; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done

if ! command -v wrk >/dev/null; then
    echo "==> wrk not found, trying: apt-get install -y wrk"
    if command -v apt-get >/dev/null; then
        if [[ $EUID -eq 0 ]]; then
            apt-get install -y wrk || { apt-get update && apt-get install -y wrk; } || true
        elif command -v sudo >/dev/null; then
            sudo apt-get install -y wrk || true
        fi
    fi
    command -v wrk >/dev/null || {
        echo "bench: wrk (https://github.com/wg/wrk) is required and could not be installed;" >&2
        echo "       install it (e.g. \`apt-get install wrk\`) and run \`make bench\` again." >&2
        exit 1
    }
fi
export WRK="$(command -v wrk)"

echo "==> building mock-3scale and the floor filter"
cargo build --release -q -p tollgate-mock-backend
export MOCK_3SCALE="$ROOT/target/release/mock-3scale"
cargo build --release -q -p floor-filter --target wasm32-unknown-unknown
export FLOOR_WASM="$ROOT/target/wasm32-unknown-unknown/release/floor_filter.wasm"

mkdir -p target/bench

# run.py stops the processes it started on exit; the trap makes sure run.py itself goes too
# (Ctrl-C, SIGTERM to this script).
RUN_PID=""
cleanup() {
    trap - INT TERM EXIT
    if [[ -n "$RUN_PID" ]] && kill -0 "$RUN_PID" 2>/dev/null; then
        kill -TERM "$RUN_PID" 2>/dev/null || true
        wait "$RUN_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

python3 -B -u bench/run.py &
RUN_PID=$!
set +e
wait "$RUN_PID"
status=$?
set -e
RUN_PID=""
exit "$status"
