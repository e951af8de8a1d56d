//! `tollgate openapi` and `check` on public access: `authentication.mode: none` and
//! `public_paths` show no security requirement; everything else keeps its credentials.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `tollgate ARGS -` with `config` on stdin: exit code, stdout, stderr.
fn tollgate(args: &[&str], config: &Value) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(config.to_string().as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn rule(method: &str, pattern: &str) -> Value {
    json!({"http_method": method, "pattern": pattern, "metric_system_name": "hits", "delta": 1})
}

fn openapi(config: &Value) -> Value {
    let (code, stdout, stderr) = tollgate(&["openapi"], config);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn public_paths_have_no_security_and_other_operations_keep_theirs() {
    let config = json!({
        "backend": {"cluster": "threescale_backend"},
        "services": [{
            "id": 7, "backend_version": 1,
            "authentication": {
                "public_paths": ["/health", "/docs/"],
                "header_secrets": [{"path_prefix": "/docs/internal", "header": "X-Docs", "secret": "s"}]
            },
            "proxy": {"hosts": ["api.example.com"], "proxy_rules": [
                rule("GET", "/v1/orders"), rule("GET", "/health/deep"), rule("GET", "/healthz")
            ]}
        }]
    });
    let doc = openapi(&config);
    let paths = &doc["paths"];
    assert_eq!(
        paths["/v1/orders"]["get"]["security"],
        json!([{"svc7_user_key": []}])
    );
    assert!(paths["/v1/orders"]["get"]
        .get("x-tollgate-public")
        .is_none());
    // A rule under a public path: no requirement. `/healthz` is not under `/health`.
    assert_eq!(paths["/health/deep"]["get"]["security"], json!([]));
    assert_eq!(
        paths["/health/deep"]["get"]["x-tollgate-public"],
        json!(true)
    );
    assert_eq!(
        paths["/healthz"]["get"]["security"],
        json!([{"svc7_user_key": []}])
    );
    // Each public path no rule describes is listed, for every method.
    for method in ["get", "post", "put", "patch", "delete"] {
        let op = &paths["/health"][method];
        assert_eq!(op["security"], json!([]), "{method}");
        assert_eq!(op["x-tollgate-public"], json!(true));
        assert_eq!(paths["/docs/"][method]["security"], json!([]));
    }
    // Public paths are described on the service's tag.
    let tag = doc["tags"][0]["description"].as_str().unwrap();
    assert!(
        tag.contains("public without credentials: paths under /health, /docs/"),
        "{tag}"
    );
}

#[test]
fn mode_none_operations_need_no_credentials_but_header_secrets_still_apply() {
    let config = json!({
        "backend": {"cluster": "threescale_backend"},
        "services": [{
            "id": "open",
            "authentication": {
                "mode": "none",
                "header_secrets": [{"path_prefix": "/admin", "header": "X-Admin", "secret": "s"}]
            },
            "proxy": {"hosts": ["api.example.com"], "error_status_no_match": 404,
                      "proxy_rules": [rule("GET", "/items/{id}"), rule("POST", "/admin/reset")]}
        }]
    });
    let doc = openapi(&config);
    let items = &doc["paths"]["/items/{id}"]["get"];
    assert_eq!(items["security"], json!([]));
    assert_eq!(items["x-tollgate-public"], json!(true));
    // No 401 and no 429 from a service that reads no credentials and calls no backend.
    let responses = items["responses"].as_object().unwrap();
    assert!(responses.contains_key("404"), "{responses:?}");
    assert!(
        !responses.contains_key("401") && !responses.contains_key("429"),
        "{responses:?}"
    );
    assert_eq!(
        doc["paths"]["/admin/reset"]["post"]["security"],
        json!([{"svcopen_header_secret_1": []}])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
    let tag = doc["tags"][0]["description"].as_str().unwrap();
    assert!(
        tag.contains("no credentials (authentication.mode none)"),
        "{tag}"
    );
}

#[test]
fn check_refuses_bad_public_settings_with_their_path() {
    let service = |auth: Value| json!({"backend": {"cluster": "b"}, "services": [{"id": 1, "backend_version": 1, "authentication": auth}]});
    let cases = [
        (
            json!({"public_paths": ["/ok", "health"]}),
            "services[0].authentication.public_paths[1]: must start with /",
        ),
        (
            json!({"public_paths": ["/a?b"]}),
            "services[0].authentication.public_paths[0]: a path prefix has no query or fragment",
        ),
        (
            json!({"mode": "none", "https_only": true}),
            "services[0].authentication.mode: none reads no credentials",
        ),
        (
            json!({"mode": "open"}),
            "services[0].authentication.mode: unknown mode \"open\"",
        ),
    ];
    for (auth, message) in cases {
        let (code, _, stderr) = tollgate(&["check"], &service(auth.clone()));
        assert_eq!(code, 1, "{auth}");
        assert!(
            stderr.starts_with(&format!("error: {message}")),
            "{auth}: {stderr}"
        );
    }
    let (code, _, stderr) = tollgate(
        &["check"],
        &service(json!({"mode": "none", "public_paths": ["/health"]})),
    );
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_chain_without_apicast_is_public_with_a_warning() {
    let config = json!({
        "backend": {"cluster": "threescale_backend"},
        "services": [{
            "id": 9, "backend_version": 1,
            "proxy": {"hosts": ["open.example.com"],
                      "policy_chain": [{"name": "cors", "configuration": {}}],
                      "proxy_rules": [rule("GET", "/v1/orders")]}
        }]
    });
    let (code, stdout, stderr) = tollgate(&["openapi"], &config);
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let op = &doc["paths"]["/v1/orders"]["get"];
    assert_eq!(op["security"], json!([]), "{op}");
    assert_eq!(op["x-tollgate-public"], json!(true));
    assert!(
        stderr.contains("service 9: its policy chain has no apicast policy"),
        "{stderr}"
    );
}
