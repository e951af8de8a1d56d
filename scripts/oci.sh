#!/usr/bin/env bash
# Packs tollgate.wasm as an OCI image that Istio's WasmPlugin and Envoy Gateway's
# EnvoyExtensionPolicy can pull, without Docker, and reproducibly.
#
#   scripts/oci.sh [--module PATH] [--out DIR] [--version V] [--name NAME]
#
# Writes (defaults: the `make build` module, target/oci, the version in Cargo.toml, tollgate):
#   DIR/NAME/                 OCI image layout (oci-layout, index.json, blobs/sha256/...), tagged V
#   DIR/NAME-V.oci.tar        the same layout in one tar (skopeo's `oci-archive:` transport)
#   DIR/NAME-V.digest         the manifest digest, `sha256:<hex>`
# and prints the digest.
#
# Format: the Wasm image spec's *compat* variant, OCI flavour
# (https://github.com/solo-io/wasm/blob/master/spec/spec-compat.md): an OCI image manifest
# with one `application/vnd.oci.image.layer.v1.tar+gzip` layer holding `plugin.wasm`, a
# standard `application/vnd.oci.image.config.v1+json` config, and the manifest annotation
# `module.wasm.image/variant: compat`. Istio (pkg/wasm/imagefetcher.go) and Envoy Gateway
# (internal/wasm/imagefetcher.go) read it; any registry stores it (standard media types only).
#
# Reproducible: the same module, version and SOURCE_DATE_EPOCH (default 0, i.e.
# 1970-01-01T00:00:00Z; set it to pin another date) give the same bytes, hence the same digest:
# tar entries have that mtime, uid/gid 0 and no user names, gzip has no name and mtime 0, JSON
# is written with sorted keys and no spaces, and nothing else (no host name, no git commit, no
# clock) goes in.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
module="$ROOT/target/wasm32-unknown-unknown/release/tollgate.wasm"
out="$ROOT/target/oci"
version=""
name="tollgate"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --module) module="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --version) version="$2"; shift 2 ;;
        --name) name="$2"; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "oci.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [[ -z "$version" ]]; then
    version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml" | head -n1)"
fi
[[ -f "$module" ]] || { echo "oci.sh: $module not found (run make build)" >&2; exit 1; }
[[ -n "$version" ]] || { echo "oci.sh: no version" >&2; exit 1; }

python3 - "$module" "$out" "$version" "$name" "${SOURCE_DATE_EPOCH:-0}" <<'PY'
import gzip, hashlib, io, json, os, shutil, sys, tarfile, time

module, out, version, name, epoch = sys.argv[1:6]
epoch = int(epoch)
created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

wasm = open(module, "rb").read()
if wasm[:4] != b"\0asm":
    sys.exit(f"oci.sh: {module} is not a Wasm module")
wasm_sha = hashlib.sha256(wasm).hexdigest()


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def tar(entries):
    """A USTAR archive of (name, bytes or None for a directory), fixed metadata."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for path, data in entries:
            info = tarfile.TarInfo(path)
            info.mtime = epoch
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            else:
                info.type, info.mode, info.size = tarfile.REGTYPE, 0o644, len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


blobs = {}


def blob(data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return digest


def descriptor(media_type, data, **extra):
    d = {"mediaType": media_type, "digest": blob(data), "size": len(data)}
    d.update(extra)
    return d


# The layer: plugin.wasm at the root, as `COPY plugin.wasm ./` in the spec's examples.
layer_tar = tar([("plugin.wasm", wasm)])
layer_gz = gzip.compress(layer_tar, compresslevel=9, mtime=0)

labels = {
    "org.opencontainers.image.title": name,
    "org.opencontainers.image.description":
        "Tollgate: 3scale API management as an Envoy proxy-wasm HTTP filter (/plugin.wasm)",
    "org.opencontainers.image.version": version,
    "org.opencontainers.image.created": created,
    "org.opencontainers.image.licenses": "Apache-2.0",
    "io.tollgate.module.sha256": wasm_sha,
    "io.tollgate.module.size": str(len(wasm)),
}
config = {
    # Not a container: the module is wasm32-unknown-unknown, run by Envoy's V8.
    "architecture": "wasm",
    "os": "unknown",
    "created": created,
    "config": {"Labels": labels},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
    "history": [{"created": created, "created_by": "scripts/oci.sh: plugin.wasm"}],
}
annotations = dict(labels)
annotations["module.wasm.image/variant"] = "compat"
manifest = {
    "schemaVersion": 2,
    "mediaType": MANIFEST,
    "config": descriptor(CONFIG, canonical(config)),
    "layers": [descriptor(LAYER, layer_gz)],
    "annotations": annotations,
}
manifest_bytes = canonical(manifest)
manifest_desc = descriptor(MANIFEST, manifest_bytes,
                           annotations={"org.opencontainers.image.ref.name": version})
index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [manifest_desc]}
layout_files = {"oci-layout": canonical({"imageLayoutVersion": "1.0.0"}), "index.json": canonical(index)}

# The layout directory, written afresh (no blob of an earlier build stays behind).
os.makedirs(out, exist_ok=True)
layout = os.path.join(out, name)
shutil.rmtree(layout, ignore_errors=True)
os.makedirs(os.path.join(layout, "blobs", "sha256"))
for digest, data in blobs.items():
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "wb") as f:
        f.write(data)
for fname, data in layout_files.items():
    with open(os.path.join(layout, fname), "wb") as f:
        f.write(data)

# The archive: the same files, sorted, directories first.
entries = [("blobs/", None), ("blobs/sha256/", None)]
entries += [("blobs/sha256/" + d.split(":", 1)[1], blobs[d]) for d in sorted(blobs)]
entries += sorted(layout_files.items())
with open(os.path.join(out, f"{name}-{version}.oci.tar"), "wb") as f:
    f.write(tar(entries))
with open(os.path.join(out, f"{name}-{version}.digest"), "w") as f:
    f.write(manifest_desc["digest"] + "\n")
print(manifest_desc["digest"])
PY
