#!/usr/bin/env bash
# make release: everything a tagged release publishes, in target/release/tollgate-<version>/
# (its own directory: target/release/ is also cargo's native release output).
#
#   tollgate-V.wasm            the module `make build` wrote
#   tollgate-V.wasm.sha256     its sha256 (`sha256sum -c` format): Envoy's code.remote.sha256,
#                              Envoy Gateway's http.sha256, Istio's sha256 for an http(s) url
#   tollgate-V.oci.tar         the OCI image (`make oci`; `skopeo copy oci-archive:...`)
#   tollgate-V.oci.digest      its manifest digest: Istio's and Envoy Gateway's image sha256
#   envoy-remote.yaml          envoy/envoy-remote.yaml with the module's sha256 filled in
#   envoy-gateway-http.yaml    envoy/envoy-gateway-http.yaml, likewise
#   istio-wasmplugin.yaml      envoy/istio-wasmplugin.yaml with the image digest filled in
#   istio-jwt-authn.yaml       envoy/istio-jwt-authn.yaml, likewise
#   envoy-gateway.yaml         envoy/envoy-gateway.yaml, likewise
#   RELEASE_NOTES.md           the CHANGELOG.md entry for V, plus the digests and how to use them
#   SHA256SUMS                 of all the above
#
# CHANGELOG.md: the `## [V]` section is used as written; without one, a section is generated
# from the commit subjects since the previous tag and added to CHANGELOG.md (commit it). A
# `- unreleased` date on the heading becomes HEAD's commit date. When HEAD carries a v* tag, it
# must be vV. Same inputs, same files: nothing depends on the clock or the host.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NAME="tollgate"
VERSION="${VERSION:-$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)}"
WASM="${TOLLGATE_WASM:-$ROOT/target/wasm32-unknown-unknown/release/tollgate.wasm}"
OCI="$ROOT/target/oci"
OUT="${RELEASE_DIR:-$ROOT/target/release/$NAME-$VERSION}"
fail() { echo "release: $*" >&2; exit 1; }

[[ -f "$WASM" ]] || fail "$WASM missing (make build)"
[[ -f "$OCI/$NAME-$VERSION.oci.tar" ]] || fail "$OCI/$NAME-$VERSION.oci.tar missing (make oci)"
tag="$(git describe --exact-match --tags --match 'v*' HEAD 2>/dev/null || true)"
[[ -z "$tag" || "$tag" == "v$VERSION" ]] || fail "HEAD is tagged $tag but Cargo.toml says $VERSION"

SHA="$(sha256sum "$WASM" | cut -c1-64)"
DIGEST="$(cat "$OCI/$NAME-$VERSION.digest")"
# The image must hold this very module (its annotation says which).
python3 - "$OCI/$NAME" "$DIGEST" "$SHA" <<'PY' || fail "target/oci is not an image of $WASM: run make oci"
import json, os, sys
layout, digest, sha = sys.argv[1:4]
m = json.load(open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])))
sys.exit(0 if m["annotations"].get("io.tollgate.module.sha256") == sha else 1)
PY

# --- CHANGELOG entry -----------------------------------------------------------------------
DATE="$(git log -1 --format=%cs HEAD 2>/dev/null || echo 1970-01-01)"
[[ -f CHANGELOG.md ]] || printf '# Changelog\n\nAll notable changes to Tollgate. Versions follow Cargo.toml; `make release` packs them.\n' >CHANGELOG.md
if ! grep -q "^## \[$VERSION\]" CHANGELOG.md; then
    prev="$(git describe --tags --abbrev=0 --match 'v*' HEAD^ 2>/dev/null || true)"
    range="${prev:+$prev..}HEAD"
    entry_tmp="$(mktemp)"
    {
        printf '## [%s] - %s\n\n' "$VERSION" "$DATE"
        printf 'Changes%s:\n\n' "${prev:+ since $prev}"
        git log --no-merges --reverse --format='- %s' "$range"
        printf '\n'
    } >"$entry_tmp"
    python3 - "$entry_tmp" <<'PY'
import sys
entry = open(sys.argv[1]).read()
text = open("CHANGELOG.md").read()
at = text.find("\n## ")
text = text.rstrip("\n") + "\n\n" + entry if at < 0 else text[: at + 1] + entry + "\n" + text[at + 1 :]
open("CHANGELOG.md", "w").write(text)
PY
    rm -f "$entry_tmp"
    echo "release: added a [$VERSION] entry to CHANGELOG.md (generated from git log; commit it)"
fi
sed -i "s/^## \[$VERSION\] - unreleased\$/## [$VERSION] - $DATE/" CHANGELOG.md
ENTRY="$(awk -v v="## [$VERSION]" 'index($0, v) == 1 {on = 1; print; next} on && /^## \[/ {exit} on {print}' CHANGELOG.md)"

# --- Files ---------------------------------------------------------------------------------
rm -rf "$OUT"
mkdir -p "$OUT"
cp "$WASM" "$OUT/$NAME-$VERSION.wasm"
(cd "$OUT" && sha256sum "$NAME-$VERSION.wasm" >"$NAME-$VERSION.wasm.sha256")
cp "$OCI/$NAME-$VERSION.oci.tar" "$OUT/"
echo "$DIGEST" >"$OUT/$NAME-$VERSION.oci.digest"
for f in envoy-remote.yaml envoy-gateway-http.yaml; do
    sed -e "/^ *#/!s/\${TOLLGATE_WASM_SHA256}/$SHA/g" "envoy/$f" >"$OUT/$f"
done
# The image examples pin the image by its digest (a placeholder in the repository's files).
for f in istio-wasmplugin.yaml istio-jwt-authn.yaml envoy-gateway.yaml; do
    sed -e "/^ *#/!s/\${TOLLGATE_IMAGE_DIGEST}/${DIGEST#sha256:}/g" "envoy/$f" >"$OUT/$f"
    if awk '!/^ *#/ && /TOLLGATE_IMAGE_DIGEST/ { left = 1 } END { exit !left }' "$OUT/$f"; then
        fail "$f: the image digest was not filled in"
    fi
done
SIZE="$(stat -c %s "$WASM")"
cat >"$OUT/RELEASE_NOTES.md" <<EOF
$ENTRY

### Artifacts

| file | what |
|---|---|
| \`$NAME-$VERSION.wasm\` | the module, $SIZE bytes, sha256 \`$SHA\` |
| \`$NAME-$VERSION.oci.tar\` | OCI image (Wasm image spec, compat variant: one layer with \`plugin.wasm\`), manifest digest \`$DIGEST\` |
| \`envoy-remote.yaml\`, \`envoy-gateway-http.yaml\` | the examples with this module's sha256 filled in |
| \`istio-wasmplugin.yaml\`, \`istio-jwt-authn.yaml\`, \`envoy-gateway.yaml\` | the image examples with this image's digest filled in (set their registry URL) |
| \`SHA256SUMS\` | sha256 of every file here |

Push the image (the digest does not change): \`skopeo copy oci-archive:$NAME-$VERSION.oci.tar docker://REGISTRY/REPO/$NAME:$VERSION\`

- Istio \`WasmPlugin\`: \`url: oci://REGISTRY/REPO/$NAME:$VERSION\`, \`sha256: ${DIGEST#sha256:}\`, \`failStrategy: FAIL_RELOAD\`
- Envoy Gateway \`EnvoyExtensionPolicy\`: \`code.image.url: REGISTRY/REPO/$NAME:$VERSION\`, \`code.image.sha256: ${DIGEST#sha256:}\`; or \`code.http.url\` of \`$NAME-$VERSION.wasm\` with \`code.http.sha256: $SHA\`
- Envoy: \`vm_config.code.remote.sha256: $SHA\`, \`failure_policy: FAIL_RELOAD\`
EOF
(cd "$OUT" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
echo "release $VERSION: $OUT"
(cd "$OUT" && ls -l | tail -n +2 | awk '{printf "    %10s  %s\n", $5, $9}')
echo "    module sha256 $SHA"
echo "    image digest  $DIGEST"
