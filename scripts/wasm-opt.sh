#!/usr/bin/env bash
# Shrinks a module cargo built with binaryen's wasm-opt (about 17% smaller than LLVM's output
# alone, same code paths): scripts/wasm-opt.sh IN OUT.
#
# wasm-opt comes from $WASM_OPT, else PATH, else the npm package `binaryen` installed into
# .tools/ on first use (binaryen runs on node; nothing is compiled). Without node/npm the module
# is copied unoptimised, with a warning: it works the same, only bigger.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BINARYEN_VERSION="${BINARYEN_VERSION:-132.0.0}"
TOOLS="$ROOT/.tools"
in="$1" out="$2"

find_wasm_opt() {
    if [[ -n "${WASM_OPT:-}" ]]; then echo "$WASM_OPT"; return; fi
    if command -v wasm-opt >/dev/null; then command -v wasm-opt; return; fi
    local local_bin="$TOOLS/node_modules/.bin/wasm-opt"
    if [[ ! -x "$local_bin" ]] && command -v npm >/dev/null && command -v node >/dev/null; then
        echo "installing binaryen $BINARYEN_VERSION (wasm-opt) into $TOOLS" >&2
        mkdir -p "$TOOLS"
        npm install --prefix "$TOOLS" --no-save --no-audit --no-fund --silent \
            "binaryen@$BINARYEN_VERSION" >&2 || true
    fi
    if [[ -x "$local_bin" ]]; then echo "$local_bin"; fi
}

wasm_opt="$(find_wasm_opt)"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
if [[ -z "$wasm_opt" ]]; then
    echo "warning: wasm-opt not found and node/npm unavailable: $out is not size-optimised" >&2
    cp "$in" "$tmp"
else
    # -Oz: smallest; the features are those rustc enables for wasm32-unknown-unknown, all of
    # which Envoy's V8 supports.
    "$wasm_opt" -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
        --enable-mutable-globals --enable-multivalue --enable-reference-types --enable-simd \
        --strip-debug --strip-producers "$in" -o "$tmp"
fi
# A new file, not a rewrite in place: cargo's own output (a hard link) stays as it built it.
mv -f "$tmp" "$out"
trap - EXIT
