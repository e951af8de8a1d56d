//! Where things are: workspace root, `tollgate.wasm`, the Envoy binary, scratch dirs.

use std::path::{Path, PathBuf};

/// The workspace root (`CARGO_MANIFEST_DIR/../..`).
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// `<root>/target` (or `$CARGO_TARGET_DIR` when it is set at test run time).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// The filter module: `$TOLLGATE_WASM`, else
/// `<target>/wasm32-unknown-unknown/release/tollgate.wasm` (built by `make build`).
pub fn wasm_path() -> PathBuf {
    match std::env::var_os("TOLLGATE_WASM") {
        Some(p) if !p.is_empty() => workspace_root().join(p),
        _ => target_dir().join("wasm32-unknown-unknown/release/tollgate.wasm"),
    }
}

/// The Envoy binary: `$ENVOY_BIN`, else the one `make envoy` installs in
/// `<root>/.venv/lib/python3*/site-packages/envoy/_bin/envoy`, else `envoy` on `PATH`.
/// Falls back to plain `"envoy"` (spawning it then fails with a clear error).
pub fn envoy_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ENVOY_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if p.components().count() == 1 {
            // A bare command name: look it up on PATH.
            return on_path(&p.to_string_lossy()).unwrap_or(p);
        }
        return workspace_root().join(p);
    }
    if let Some(p) = venv_envoy(&workspace_root()) {
        return p;
    }
    if let Some(p) = on_path("envoy") {
        return p;
    }
    PathBuf::from("envoy")
}

fn venv_envoy(root: &Path) -> Option<PathBuf> {
    let lib = root.join(".venv/lib");
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(lib)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path().join("site-packages/envoy/_bin/envoy"))
        .filter(|p| p.is_file())
        .collect();
    candidates.sort();
    candidates.pop()
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `<target>/e2e`: parent of the per-Envoy scratch directories.
pub fn e2e_dir() -> PathBuf {
    target_dir().join("e2e")
}
