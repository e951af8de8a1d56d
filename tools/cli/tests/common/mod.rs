//! What the CLI tests share: running the built `tollgate`, configuration files and values.

// Each test file uses some of these.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn tollgate(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Writes `value` to a fresh file under the target directory and returns its path.
pub fn config_file(name: &str, value: &Value) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tollgate-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

pub fn rule(method: &str, pattern: &str, metric: &str, delta: Value) -> Value {
    json!({"http_method": method, "pattern": pattern, "metric_system_name": metric, "delta": delta})
}

pub fn threescale_config(delta: Value) -> Value {
    json!({
        "backend": {"cluster": "threescale_backend"},
        "services": [{
            "id": 42, "backend_version": "1", "system_name": "echo",
            "proxy": {"hosts": ["api.example.com"], "proxy_rules": [rule("GET", "/", "hits", delta)]}
        }]
    })
}

pub const ABC_DIGEST: &str =
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

/// `threescale_config` with this policy chain and these top-level settings.
pub fn chain_config(chain: Value, top: Value) -> Value {
    let mut config = threescale_config(json!(1));
    config["services"][0]["proxy"]["policy_chain"] = chain;
    if let (Some(c), Value::Object(top)) = (config.as_object_mut(), top) {
        c.extend(top);
    }
    config
}
