#!/usr/bin/env bash
# Tollgate demo: mock 3scale backend (:3000) + echo upstream (:8000) + Envoy with
# the filter (listener :10000, admin :9901). Ctrl-C stops everything.
#
# Logs and the rendered Envoy config go to target/demo/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WASM="$ROOT/target/wasm32-unknown-unknown/release/tollgate.wasm"
STATE="${DEMO_STATE:-tools/mock-backend/demo-state.json}"
ENVOY_YAML="envoy/envoy.yaml"
OUT="$ROOT/target/demo"

echo "==> building the filter, the mock backend and the echo upstream"
make --no-print-directory build envoy
cargo build --release -p tollgate-mock-backend -p tollgate-echo-upstream

if [[ -z "${ENVOY_BIN:-}" ]]; then
    ENVOY_BIN="$(ls -1 "$ROOT"/.venv/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | tail -n1)"
fi
[[ -x "$ENVOY_BIN" ]] || { echo "envoy binary not found (run make envoy or set ENVOY_BIN)" >&2; exit 1; }
[[ -f "$ENVOY_YAML" ]] || { echo "$ENVOY_YAML is missing" >&2; exit 1; }
[[ -f "$STATE" ]] || { echo "$STATE is missing" >&2; exit 1; }

mkdir -p "$OUT"
# Substitute ${TOLLGATE_WASM} with the absolute module path (escape sed's specials).
wasm_escaped="$(printf '%s' "$WASM" | sed -e 's/[|&\\]/\\&/g')"
sed -e "s|\${TOLLGATE_WASM}|${wasm_escaped}|g" "$ENVOY_YAML" >"$OUT/envoy.yaml"
grep -q "$WASM" "$OUT/envoy.yaml" || echo "warning: \${TOLLGATE_WASM} not found in $ENVOY_YAML" >&2

PIDS=()
NAMES=()
cleanup() {
    trap - INT TERM EXIT
    echo
    echo "==> stopping demo processes"
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() { # name logfile command...
    local name="$1" log="$2"
    shift 2
    "$@" >"$log" 2>&1 &
    PIDS+=("$!")
    NAMES+=("$name")
    echo "    $name: pid $! (log $log)"
}

echo "==> starting processes"
start mock-3scale "$OUT/mock-3scale.log" \
    target/release/mock-3scale --listen 127.0.0.1:3000 --state "$STATE"
start echo-upstream "$OUT/echo-upstream.log" \
    target/release/echo-upstream --listen 127.0.0.1:8000
start envoy "$OUT/envoy.log" \
    "$ENVOY_BIN" -c "$OUT/envoy.yaml" --log-level info --component-log-level wasm:debug \
    --disable-hot-restart

# Is any started process dead? Prints its name and log tail.
check_alive() {
    local i
    for i in "${!PIDS[@]}"; do
        if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            echo "error: ${NAMES[$i]} exited; last lines of its log:" >&2
            tail -n 30 "$OUT/${NAMES[$i]}.log" >&2 || true
            return 1
        fi
    done
}

envoy_ready() {
    # Plain bash HTTP GET of the admin /ready (no curl needed).
    (exec 3<>/dev/tcp/127.0.0.1/9901 &&
        printf 'GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3 &&
        grep -q LIVE <&3) 2>/dev/null
}

echo "==> waiting for Envoy to be ready"
for _ in $(seq 1 300); do
    check_alive || exit 1
    envoy_ready && break
    sleep 0.1
done
envoy_ready || { echo "error: Envoy not ready after 30 s, see $OUT/envoy.log" >&2; exit 1; }

cat <<EOF

Tollgate demo is running:
  Envoy        http://127.0.0.1:10000   (admin http://127.0.0.1:9901)
  mock 3scale  http://127.0.0.1:3000    (state: $STATE)
  echo API     http://127.0.0.1:8000
Logs: $OUT/

Try (credentials are defined in $STATE; the demo service reads user_key from a header):
  curl -i http://127.0.0.1:10000/hello                              # no credentials -> 401
  curl -i -H 'user_key: demo-user-key' http://127.0.0.1:10000/hello  # valid key -> 200 from the echo API
  curl -i -H 'user_key: wrong' http://127.0.0.1:10000/hello          # unknown key -> 403
  curl -s http://127.0.0.1:9901/stats | grep -i tollgate      # filter metrics
  tail -f $OUT/envoy.log   # filter logs

Press Ctrl-C to stop.
EOF

# Block until Ctrl-C, or until one of the processes dies.
set +e
wait -n "${PIDS[@]}"
check_alive
exit 1
