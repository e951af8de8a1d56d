//! Request trailers named as a header the decision reads go (Envoy forwards trailers unread,
//! and upstreams merging them into the headers would read the client's).

use super::fake_envoy::*;
use serde_json::json;

#[test]
fn trailers_named_as_a_header_the_decision_reads_are_removed() {
    let mut config = super::worker_tests::service(false, "none");
    config["services"][0]["proxy"]["auth_user_key"] = json!("X-Api-Key");
    let mut local = config["services"][0].clone();
    local["id"] = json!("43");
    local["proxy"]["hosts"] = json!(["local.example.com"]);
    local["authentication"] =
        json!({"mode": "local", "api_keys": {"header": "X-Tenant-Key", "keys": []}});
    #[cfg(feature = "jwt")]
    {
        local["authentication"]["jwt"] =
            json!({"from_jwt_authn": {"metadata_key": "p", "header": "X-JWT-Assertion"}});
    }
    config["services"].as_array_mut().unwrap().push(local);
    let envoy = Envoy::new(config, 1);
    let w = &envoy.workers[0];
    for name in [
        "x-api-key",
        "X_API_KEY",
        "x-tenant-key",
        "authorization",
        "X-HTTP-Method-Override",
        "x_method_override",
        "X-Forwarded-Host",
        "forwarded",
        "Content-Type",
        "content_encoding",
        "x-forwarded-for",
        "X_Real_IP",
        "referer",
    ] {
        assert!(w.reads_request_header(name.as_bytes()), "{name}");
    }
    // The header `jwt_authn` reads tokens from (thirty-third session).
    #[cfg(feature = "jwt")]
    for name in ["x-jwt-assertion", "X_JWT_Assertion"] {
        assert!(w.reads_request_header(name.as_bytes()), "{name}");
    }
    for name in ["user_key", "x-request-id", "x-api-keys", "grpc-status"] {
        assert!(!w.reads_request_header(name.as_bytes()), "{name}");
    }
}
