#!/usr/bin/env bash
# OCI round trip (make test-oci): the image `make oci` wrote is pushed to a registry on
# loopback (Debian's docker-registry, distribution 2.8) with skopeo, pulled back, and checked
# the way Istio's and Envoy Gateway's image fetchers read it.
#
#   1. reproducible: packing the module again gives byte-identical output (same digest);
#   2. push (from the layout and from the .oci.tar) keeps the digest;
#   3. the manifest the registry serves has the media types of the Wasm image spec's compat
#      variant, its annotation, and the version and module sha256 annotations;
#   4. pulled back, the layer's plugin.wasm is byte-identical to tollgate.wasm.
#
# Needs skopeo, docker-registry, python3 and curl (`make oci-tools` installs the first two).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM="${TOLLGATE_WASM:-$ROOT/target/wasm32-unknown-unknown/release/tollgate.wasm}"
OUT="${OCI_OUT:-$ROOT/target/oci}"
NAME="tollgate"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n1)"
DIGEST="$(cat "$OUT/$NAME-$VERSION.digest")"

for tool in skopeo docker-registry python3 curl; do
    command -v "$tool" >/dev/null || { echo "oci-test: $tool not found (make oci-tools)" >&2; exit 1; }
done

mkdir -p "$ROOT/target"
WORK="$(mktemp -d "$ROOT/target/oci-test.XXXXXX")"
REGISTRY_PID=""
cleanup() {
    if [[ -n "$REGISTRY_PID" ]]; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "oci-test: FAIL: $*" >&2; exit 1; }
step() { echo "==> $*"; }

step "reproducible: packing $WASM again"
bash "$ROOT/scripts/oci.sh" --module "$WASM" --out "$WORK/again" --version "$VERSION" >/dev/null
cmp "$OUT/$NAME-$VERSION.oci.tar" "$WORK/again/$NAME-$VERSION.oci.tar" \
    || fail "a second build of the image differs"
[[ "$(cat "$WORK/again/$NAME-$VERSION.digest")" == "$DIGEST" ]] || fail "digest changed"
echo "    same bytes, digest $DIGEST"

step "starting docker-registry on loopback"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog: { disabled: true }
storage:
  filesystem: { rootdirectory: $WORK/registry }
  delete: { enabled: true }
http:
  addr: 127.0.0.1:$PORT
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
REG="127.0.0.1:$PORT"
for _ in $(seq 1 100); do
    curl -fsS "http://$REG/v2/" >/dev/null 2>&1 && break
    kill -0 "$REGISTRY_PID" 2>/dev/null || { cat "$WORK/registry.log" >&2; fail "registry exited"; }
    sleep 0.1
done
curl -fsS "http://$REG/v2/" >/dev/null || { cat "$WORK/registry.log" >&2; fail "registry not up"; }
echo "    http://$REG (pid $REGISTRY_PID)"

SKOPEO=(skopeo --insecure-policy)
REPO="$REG/acme/$NAME"

step "push: skopeo copy oci:$OUT/$NAME:$VERSION docker://$REPO:$VERSION"
"${SKOPEO[@]}" copy --quiet --preserve-digests --dest-tls-verify=false \
    "oci:$OUT/$NAME:$VERSION" "docker://$REPO:$VERSION"
step "push: skopeo copy oci-archive:$NAME-$VERSION.oci.tar docker://$REPO:archive"
"${SKOPEO[@]}" copy --quiet --preserve-digests --dest-tls-verify=false \
    "oci-archive:$OUT/$NAME-$VERSION.oci.tar" "docker://$REPO:archive"
for tag in "$VERSION" archive; do
    got="$("${SKOPEO[@]}" inspect --tls-verify=false --format '{{.Digest}}' "docker://$REPO:$tag")"
    [[ "$got" == "$DIGEST" ]] || fail "registry has $got for :$tag, expected $DIGEST"
done
echo "    both tags: $DIGEST"

step "manifest as the registry serves it"
curl -fsS -D "$WORK/headers" -o "$WORK/manifest.json" \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/acme/$NAME/manifests/$VERSION"
tr -d '\r' <"$WORK/headers" | grep -qix 'content-type: application/vnd.oci.image.manifest.v1+json' \
    || fail "Content-Type: $(grep -i content-type "$WORK/headers")"
tr -d '\r' <"$WORK/headers" | grep -qix "docker-content-digest: $DIGEST" \
    || fail "Docker-Content-Digest: $(grep -i docker-content-digest "$WORK/headers")"
"${SKOPEO[@]}" inspect --tls-verify=false --raw "docker://$REPO:$VERSION" >"$WORK/manifest-skopeo.json"
cmp "$WORK/manifest.json" "$WORK/manifest-skopeo.json" || fail "skopeo and curl see different manifests"

step "pull: skopeo copy docker://$REPO:$VERSION oci:pulled:$VERSION"
"${SKOPEO[@]}" copy --quiet --preserve-digests --src-tls-verify=false \
    "docker://$REPO:$VERSION" "oci:$WORK/pulled:$VERSION"

step "checks: media types (Wasm image spec, compat variant), annotations, plugin.wasm"
python3 - "$WORK/manifest.json" "$WORK/pulled" "$VERSION" "$WASM" "$DIGEST" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile

manifest_path, layout, version, wasm_path, digest = sys.argv[1:6]
wasm = open(wasm_path, "rb").read()
failures = []


def check(cond, what):
    print(("    ok    " if cond else "    FAIL  ") + what)
    if not cond:
        failures.append(what)


def blob(d):
    algo, hexd = d.split(":", 1)
    data = open(os.path.join(layout, "blobs", algo, hexd), "rb").read()
    check(hashlib.sha256(data).hexdigest() == hexd, f"blob {d[:19]}... matches its digest")
    return data


raw = open(manifest_path, "rb").read()
check("sha256:" + hashlib.sha256(raw).hexdigest() == digest, "served manifest hashes to " + digest)
m = json.loads(raw)
check(m.get("schemaVersion") == 2, "schemaVersion 2")
# Istio treats a Docker v2 manifest as a Docker image; anything else as an OCI image, first
# as the compat variant (one tar+gzip layer with plugin.wasm), then as the oci variant.
check(m.get("mediaType") == "application/vnd.oci.image.manifest.v1+json",
      "manifest mediaType application/vnd.oci.image.manifest.v1+json")
check(m["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json",
      "config mediaType application/vnd.oci.image.config.v1+json")
check(len(m["layers"]) == 1, "exactly one layer")
layer = m["layers"][-1]
check(layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip",
      "layer mediaType application/vnd.oci.image.layer.v1.tar+gzip")
ann = m.get("annotations", {})
check(ann.get("module.wasm.image/variant") == "compat", "annotation module.wasm.image/variant=compat")
check(ann.get("org.opencontainers.image.version") == version,
      f"annotation org.opencontainers.image.version={version}")
sha = hashlib.sha256(wasm).hexdigest()
check(ann.get("io.tollgate.module.sha256") == sha, f"annotation io.tollgate.module.sha256={sha}")

# The pulled copy: the same manifest, and the layer read as Istio's extractWasmPluginBinary does.
index = json.load(open(os.path.join(layout, "index.json")))
check(index["manifests"][0]["digest"] == digest, "pulled image has the same manifest digest")
pulled = json.loads(blob(digest))
check(pulled == m, "pulled manifest equals the served one")
config = json.loads(blob(pulled["config"]["digest"]))
layer_gz = blob(pulled["layers"][-1]["digest"])
check(len(layer_gz) == pulled["layers"][-1]["size"], "layer size matches its descriptor")
layer_tar = gzip.decompress(layer_gz)
check(config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer_tar).hexdigest()],
      "config rootfs.diff_ids is the uncompressed layer's digest")
with tarfile.open(fileobj=io.BytesIO(layer_tar)) as tf:
    members = tf.getmembers()
    check([t.name for t in members] == ["plugin.wasm"], "layer holds exactly plugin.wasm")
    found = [t for t in members if os.path.basename(t.name) == "plugin.wasm"]
    content = tf.extractfile(found[0]).read() if found else b""
check(content == wasm, f"plugin.wasm is byte-identical to {wasm_path} ({len(wasm)} bytes)")
if failures:
    sys.exit(f"{len(failures)} check(s) failed")
PY
echo "oci-test: OK ($REPO:$VERSION, $DIGEST)"
