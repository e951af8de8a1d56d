//! `tollgate openapi`: the OpenAPI document of a configuration (security schemes and
//! operations), and its refusals.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{json, Value};

/// A 3scale user_key service and a local service with API keys, Basic users, JWT, signed
/// URLs and a header secret.
fn local_config() -> Value {
    json!({
        "backend": {"cluster": "threescale_backend"},
        "services": [
            {
                "id": 42, "backend_version": "1", "system_name": "echo",
                "proxy": {
                    "hosts": ["api.example.com"], "credentials_location": "headers", "auth_user_key": "X-User-Key",
                    "proxy_rules": [rule("GET", "/echo/{id}$", "hits", json!(1))]
                }
            },
            {
                "id": 7, "system_name": "models",
                "proxy": {
                    "hosts": ["models.example.com"],
                    "proxy_rules": [
                        rule("ANY", "/models", "hits", json!(1)),
                        {"http_method": "POST", "pattern": "/models/{name}/train?mode=full", "metric_system_name": "train",
                         "delta": 5, "namespace": "models", "action": "train"},
                        {"http_method": "DELETE", "pattern": "/models/{name}", "metric_system_name": "hits",
                         "delta": 1, "roles": ["admin", "owner"]},
                        rule("GET", "/admin/stats", "hits", json!(1))
                    ]
                },
                "authentication": {
                    "mode": "local",
                    "api_keys": {"header": "X-API-Key", "query": "api_key", "basic_username": true,
                                 "keys": [{"id": "bob", "hash": ABC_DIGEST, "grants": [{"namespace": "models", "actions": ["read"]}]}]},
                    "basic_users": [{"username": "alice", "salt": "s", "hash": ABC_DIGEST}],
                    "jwt": {"jwks": {"keys": [{"kty": "oct", "kid": "k1", "k": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]},
                            "issuer": "https://idp.example.com", "audiences": ["models"], "leeway_s": 0,
                            "roles_claim": "roles", "client_id_claim": "azp"},
                    "signed_urls": {"secret": "sign-me-with-a-long-secret"},
                    "header_secrets": [{"path_prefix": "/admin", "header": "X-Admin-Secret", "secret": "s3"}],
                    "https_only": true, "trust_forwarded_proto": false
                }
            }
        ]
    })
}

#[test]
fn openapi_describes_schemes_and_operations() {
    let path = config_file("local.json", &local_config());
    let check = tollgate(&["check", &path], "");
    assert_eq!(check.code, 0, "{}", check.stderr);
    let run = tollgate(&["openapi", &path], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("{\n  \"openapi\": \"3.0.3\""),
        "{}",
        run.stdout
    );
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();

    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        schemes["svc42_user_key"],
        json!({"type": "apiKey", "in": "header", "name": "x-user-key", "description": "3scale user key"})
    );
    assert_eq!(schemes["svc7_api_key_header"]["in"], "header");
    assert_eq!(schemes["svc7_api_key_header"]["name"], "x-api-key");
    assert_eq!(schemes["svc7_api_key_query"]["name"], "api_key");
    assert_eq!(schemes["svc7_api_key_basic"]["scheme"], "basic");
    assert_eq!(schemes["svc7_basic"]["scheme"], "basic");
    assert_eq!(schemes["svc7_jwt"]["scheme"], "bearer");
    assert_eq!(schemes["svc7_jwt"]["bearerFormat"], "JWT");
    assert_eq!(
        schemes["svc7_signed_url"],
        json!({"type": "apiKey", "in": "query", "name": "signature",
        "description": "Signed URL: `expires` and `signature` query args (see `tollgate sign-url`)"})
    );
    assert_eq!(schemes["svc7_header_secret_1"]["name"], "x-admin-secret");

    let paths = &doc["paths"];
    let echo = &paths["/echo/{id}"]["get"];
    assert_eq!(echo["security"], json!([{"svc42_user_key": []}]));
    assert_eq!(
        echo["parameters"][0],
        json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}})
    );
    assert_eq!(echo["x-3scale-metric"], "hits");
    assert_eq!(echo["x-3scale-delta"], 1);
    assert_eq!(
        echo["servers"],
        json!([{"url": "https://api.example.com"}, {"url": "http://api.example.com"}])
    );

    let open = json!([
        {"svc7_api_key_header": []}, {"svc7_api_key_query": []}, {"svc7_api_key_basic": []},
        {"svc7_basic": []}, {"svc7_jwt": []}, {"svc7_signed_url": []}
    ]);
    for method in ["get", "post", "put", "patch", "delete"] {
        assert_eq!(paths["/models"][method]["security"], open, "{method}");
    }
    assert_eq!(
        paths["/models"]["get"]["servers"],
        json!([{"url": "https://models.example.com"}])
    );

    // A namespace: grant holders (and signed URLs), not JWT callers.
    let train = &paths["/models/{name}/train"]["post"];
    assert_eq!(train["x-3scale-delta"], 5);
    assert_eq!(
        train["x-tollgate-grant"],
        json!({"namespace": "models", "action": "train"})
    );
    assert_eq!(
        train["security"],
        json!([
            {"svc7_api_key_header": []}, {"svc7_api_key_query": []}, {"svc7_api_key_basic": []},
            {"svc7_basic": []}, {"svc7_signed_url": []}
        ])
    );
    assert_eq!(train["parameters"][1]["in"], "query");
    assert_eq!(train["parameters"][1]["schema"]["enum"], json!(["full"]));

    // Roles: any one of them, on a JWT (or a signed URL).
    let delete = &paths["/models/{name}"]["delete"];
    assert_eq!(
        delete["security"],
        json!([{"svc7_jwt": ["admin"]}, {"svc7_jwt": ["owner"]}, {"svc7_signed_url": []}])
    );

    // The header secret is required together with each credential under its prefix.
    let stats = &paths["/admin/stats"]["get"]["security"];
    assert_eq!(
        stats[0],
        json!({"svc7_api_key_header": [], "svc7_header_secret_1": []})
    );
    assert_eq!(stats.as_array().unwrap().len(), 6);
    assert!(paths["/models"]["get"]["security"][0]
        .get("svc7_header_secret_1")
        .is_none());

    assert_eq!(doc["servers"].as_array().unwrap().len(), 3);
    assert_eq!(doc["tags"][1]["name"], "models (7)");
}

#[test]
fn openapi_app_id_and_key_are_required_together() {
    let config = json!({
        "backend": {"cluster": "threescale_backend"},
        "services": [{"id": "s1", "backend_version": 2, "proxy": {"proxy_rules": [rule("GET", "/", "hits", json!(1))]}}]
    });
    let run = tollgate(&["openapi", "-"], &config.to_string());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        doc["paths"]["/"]["get"]["security"],
        json!([{"svcs1_app_id": [], "svcs1_app_key": []}])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["svcs1_app_key"]["in"],
        "query"
    );
    assert!(doc["paths"]["/"]["get"].get("servers").is_none());
    assert_eq!(
        doc["servers"],
        json!([{"url": "https://localhost"}, {"url": "http://localhost"}])
    );
}

#[test]
fn openapi_reflects_ip_check() {
    let config = chain_config(
        json!([{"name": "ip_check", "configuration": {"check_type": "whitelist", "ips": ["10.0.0.0/8"],
                 "error_msg": "Not from here"}}, {"name": "apicast"}]),
        json!({}),
    );
    let run = tollgate(&["openapi", "-"], &config.to_string());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        doc["paths"]["/"]["get"]["responses"]["403"]["description"],
        "From Tollgate: \"Authentication failed\" (auth_failed); \"Not from here\\n\" (ip_check)"
    );
    assert!(doc["tags"][0]["description"]
        .as_str()
        .unwrap()
        .ends_with("; client addresses checked against a whitelist (ip_check)"));
}

#[test]
fn openapi_refuses_a_bad_config() {
    let run = tollgate(&["openapi", "-"], &threescale_config(json!(-1)).to_string());
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "error: services[0].proxy.proxy_rules[0].delta: expected an integer\n"
    );
}
