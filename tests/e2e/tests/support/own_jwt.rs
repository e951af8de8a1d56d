//! For the tests of Tollgate's own JWT verification (`jwt_own_token_shapes.rs`,
//! `jwt_own_tokens_in_use.rs`): a local JWT service and its `jwt` block, the claims of a
//! valid token, tokens of exact texts, and a check of many tokens at once.

use super::Stack;
use e2e::jwt::{b64url, now, Signer};
use e2e::{Request, Response};
use serde_json::{json, Value};

pub const ISSUER: &str = "https://idp.example.com/realms/demo";
pub const HOST: &str = "jwt.example.com";

pub fn hs() -> Signer {
    Signer::hs256(b"0123456789abcdef0123456789abcdef-own", "hs-1")
}

/// A token with exactly these header and payload texts (duplicate names, odd number
/// spellings), signed by `signer`.
pub fn raw(signer: &Signer, header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes())
    );
    format!("{input}.{}", b64url(&signer.sign(input.as_bytes())))
}

/// A local JWT service on `HOST`: GET /orders open to any valid token, DELETE /orders needs
/// the role `admin` (claim `roles`).
pub fn local_service(id: u64, host: &str, jwt: Value) -> Value {
    json!({
        "id": id,
        "authentication": {"mode": "local", "jwt": jwt},
        "proxy": {"hosts": [host], "proxy_rules": [
            {"http_method": "GET", "pattern": "/orders", "metric_system_name": "hits", "delta": 1},
            {"http_method": "DELETE", "pattern": "/orders", "metric_system_name": "hits", "delta": 1, "roles": ["admin"]}
        ]}
    })
}

pub fn jwt_block(signers: &[&Signer]) -> Value {
    json!({
        "jwks": Signer::jwks(signers),
        "issuer": ISSUER, "audiences": ["orders-api"], "leeway_s": 5,
        "max_failed_verifications_per_s": 1000
    })
}

pub fn base_claims() -> Value {
    json!({"iss": ISSUER, "aud": "orders-api", "sub": "user-1", "azp": "client-1",
        "exp": now() + 300})
}

pub fn with(claims: &[(&str, Value)]) -> Value {
    let mut all = base_claims();
    for (k, v) in claims {
        all[*k] = v.clone();
    }
    all
}

pub fn call_on(port: u16, host: &str, method: &str, token: Option<&str>) -> Response {
    let mut r = Request::new(method, "/orders/1").header("Host", host);
    if let Some(t) = token {
        r = r.header("Authorization", &format!("Bearer {t}"));
    }
    r.send(port)
}

/// Sends each token; returns a line for each whose status is not the expected one, or that
/// reached (or did not reach) the upstream accordingly. The backend must stay untouched.
pub fn mismatches(s: &Stack, method: &str, cases: &[(&str, String, u16)]) -> Vec<String> {
    let mut out = Vec::new();
    for (what, token, status) in cases {
        let before = s.echo.request_count();
        let r = call_on(s.port(), HOST, method, Some(token));
        let forwarded = s.echo.request_count() - before;
        let expected_forwarded = usize::from(*status == 200);
        if r.status != *status || forwarded != expected_forwarded {
            let body: String = r.body.chars().take(60).collect();
            out.push(format!(
                "{what}: {} {body:?} (expected {status}), forwarded {forwarded}",
                r.status
            ));
        }
        if r.status == 403 && r.body != "Authentication failed" {
            out.push(format!("{what}: body {:?}", r.body));
        }
    }
    assert!(
        s.backend.requests().is_empty(),
        "a local service calls no backend"
    );
    out
}
