//! Fixtures of the attacker's suites (`adversarial_*.rs`): a backend with numbered apps of
//! every kind (one fresh cache key per case), 3scale and local services on their own hosts,
//! request shapes (bodies, chunked, trailers, `Expect: 100-continue`, HTTP/2), a runner that
//! sends many tagged cases at once, and the check "a denial never reaches the upstream, an
//! authorized request reaches it exactly once with its body intact".

mod checks;
mod shapes;
mod upstream;

// Not every test binary that compiles `support` uses them.
#[allow(unused_imports)]
pub use checks::*;
#[allow(unused_imports)]
pub use shapes::*;
#[allow(unused_imports)]
pub use upstream::*;

use super::cache::pin_clock;
use super::{Stack, TOKEN};
use e2e::curl::Curl;
use e2e::http::read_response;
use e2e::jwt::{self, Signer};
use e2e::mock_backend::{App, MockBackend, Period, ReceivedRequest, Service, State};
use e2e::{EchoRequest, Request, Response};
use serde_json::{json, Value};
use std::io::{self, BufReader, Cursor, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tollgate_core::auth::basic::password_digest;
use tollgate_core::auth::digest::{stored_form, to_hex};

/// The marker header every case carries, so the upstream's log tells cases apart.
pub const MARK: &str = "x-adv-case";
/// The `secret_token` of every service.
pub const SECRET: &str = "upstream-s3cret-value";
/// Numbered apps of each kind the backend knows: `uk-ok-<n>`, `uk-dis-<n>`, ...
pub const APPS: usize = 48;
/// API keys of the local services.
pub const WRITER_KEY: &str = "wk_adv_0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d";
pub const OTHER_KEY: &str = "ok_adv_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";
pub const ADMIN_SECRET: &str = "adm1n-header-s3cret";
pub const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-adversarial";
/// Body of the path check's refusal.
pub const AMBIGUOUS: &str = "Bad Request: ambiguous path";

pub const AUTH_MISSING: (u16, &str) = (401, "Authentication parameters missing");
pub const AUTH_FAILED: (u16, &str) = (403, "Authentication failed");
pub const NO_MATCH: (u16, &str) = (404, "No Mapping Rule matched");
pub const LIMITS: (u16, &str) = (429, "Limits exceeded");
pub const HTTPS_REQUIRED: (u16, &str) = (403, "HTTPS required");

/// Backend services 1 (user_key, headers), 2 (app_id/app_key, headers), 3 (app_id/app_key,
/// Basic), 4 (user_key, query), 5 (user_key, Bearer) and `APPS` apps of each kind.
pub fn adv_state() -> State {
    let mut s = State::new()
        .service(
            Service::new("1")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None)
                .metric("disabled", None)
                .metric("admin", None)
                .metric("public", None),
        )
        .service(
            Service::new("2")
                .token(TOKEN)
                .backend_version("2")
                .metric("hits", None),
        )
        .service(
            Service::new("3")
                .token(TOKEN)
                .backend_version("2")
                .metric("hits", None),
        )
        .service(
            Service::new("4")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None),
        )
        .service(
            Service::new("5")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None),
        )
        // A user_key sent as a Bearer token (service 5, `authorization`).
        .app(
            App::new("5", "bearer-app")
                .user_key("uk-bearer")
                .plan("Free"),
        )
        // HTTP Basic with a colon in the password (RFC 7617: split at the first colon).
        .app(App::new("3", "user").app_keys(&["pa:ss"]).plan("Free"));
    for n in 0..APPS {
        s = s
            .app(
                App::new("1", &format!("ok-{n}"))
                    .user_key(&format!("uk-ok-{n}"))
                    .plan("Free"),
            )
            .app(
                App::new("1", &format!("dis-{n}"))
                    .user_key(&format!("uk-dis-{n}"))
                    .plan("NoDisabled")
                    .disable_metric("disabled"),
            )
            .app(
                App::new("1", &format!("lim-{n}"))
                    .user_key(&format!("uk-lim-{n}"))
                    .plan("One")
                    .limit("hits", Period::Minute, 1),
            )
            .app(
                App::new("2", &format!("app-ok-{n}"))
                    .app_keys(&["key-ok"])
                    .plan("Free"),
            )
            .app(
                App::new("3", &format!("bapp-{n}"))
                    .app_keys(&["bkey"])
                    .plan("Free"),
            )
            .app(
                App::new("4", &format!("q-{n}"))
                    .user_key(&format!("uk-q-{n}"))
                    .plan("Free"),
            );
    }
    s
}

/// Freezes the backend clock and spends the only hit of every `uk-lim-<n>` (409 → 429).
pub fn use_up_limits(backend: &MockBackend) {
    pin_clock(backend, 5);
    for n in 0..APPS {
        backend.set_counter("1", &format!("lim-{n}"), "hits", Period::Minute, 1);
    }
}

fn rule(pattern: &str, metric: &str) -> Value {
    json!({"http_method": "ANY", "pattern": pattern, "metric_system_name": metric, "delta": 1})
}

/// A 3scale service on its own host with `secret_token` [`SECRET`].
pub fn three_scale(id: u64, version: u64, host: &str, location: &str, rules: Value) -> Value {
    json!({
        "id": id, "system_name": format!("adv-{id}"), "backend_version": version,
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "proxy": {"hosts": [host], "credentials_location": location, "secret_token": SECRET,
                  "proxy_rules": rules}
    })
}

/// The 3scale services: `hdr.example.com` (1: user_key header; `/api` hits, `/disabled`
/// disabled), `app.example.com` (2: app_id/app_key headers), `basic.example.com` (3: app
/// id/key in HTTP Basic), `query.example.com` (4: user_key in the query or a form body).
pub fn three_scale_services() -> Vec<Value> {
    vec![
        three_scale(
            1,
            1,
            "hdr.example.com",
            "headers",
            json!([rule("/api", "hits"), rule("/disabled", "disabled")]),
        ),
        three_scale(
            2,
            2,
            "app.example.com",
            "headers",
            json!([rule("/api", "hits")]),
        ),
        three_scale(
            3,
            2,
            "basic.example.com",
            "authorization",
            json!([rule("/api", "hits")]),
        ),
        three_scale(
            4,
            1,
            "query.example.com",
            "query",
            json!([rule("/api", "hits")]),
        ),
    ]
}

/// The JWT signer of `jwt.example.com`.
pub fn signer() -> Signer {
    Signer::hs256(HS_SECRET, "adv-hs")
}

/// A token of `jwt.example.com` with these roles, valid for 10 minutes.
pub fn token(roles: &[&str]) -> String {
    signer()
        .token(&json!({"sub": "u1", "azp": "client-1", "exp": jwt::now() + 600, "roles": roles}))
}

fn api_keys() -> Value {
    json!({"header": "APIKey", "query": "api_key", "keys": [
        {"id": "writer", "hash": stored_form(WRITER_KEY), "grants": [{"namespace": "models", "actions": ["*"]}]},
        {"id": "other", "hash": stored_form(OTHER_KEY), "grants": [{"namespace": "datasets", "actions": ["*"]}]}
    ]})
}

/// Local services: `local.example.com` (10: API keys with grants on namespace `models`,
/// header secret on `/admin`), `jwt.example.com` (11: `/api` needs role `admin`),
/// `strict.example.com` (12: HTTPS only).
pub fn local_services() -> Vec<Value> {
    let ns = |p: &str| json!({"http_method": "ANY", "pattern": p, "metric_system_name": "hits", "delta": 1, "namespace": "models"});
    vec![
        json!({"id": 10, "authentication": {"mode": "local", "api_keys": api_keys(),
                "header_secrets": [{"path_prefix": "/admin", "header": "X-Admin-Secret", "secret": ADMIN_SECRET}]},
               "proxy": {"hosts": ["local.example.com"], "secret_token": SECRET,
                         "proxy_rules": [ns("/api"), ns("/admin")]}}),
        json!({"id": 11, "authentication": {"mode": "local", "jwt": {"jwks": Signer::jwks(&[&signer()])}},
               "proxy": {"hosts": ["jwt.example.com"], "secret_token": SECRET, "proxy_rules": [
                   {"http_method": "ANY", "pattern": "/api", "metric_system_name": "hits", "delta": 1, "roles": ["admin"]}]}}),
        json!({"id": 12, "authentication": {"mode": "local", "api_keys": api_keys(), "https_only": true},
               "proxy": {"hosts": ["strict.example.com"], "secret_token": SECRET, "proxy_rules": [ns("/api")]}}),
    ]
}

/// Salt of `alice`, the local Basic user of `basicuser.example.com`.
const BASIC_SALT: &str = "adv-salt";

/// The services of the header and credential suites (`adversarial_headers.rs`,
/// `adversarial_credentials.rs`): the 3scale and local services, plus `bearer.example.com`
/// (5: user_key as a Bearer token), `basicuser.example.com` (13: a local Basic user `alice`
/// whose password, `pa:ss:word`, has colons) and `nosecret.example.com` (14: local API keys,
/// no `secret_token`).
pub fn header_services() -> Vec<Value> {
    let api = || json!([rule("/api", "hits")]);
    let mut v = three_scale_services();
    v.extend(local_services());
    v.push(three_scale(
        5,
        1,
        "bearer.example.com",
        "authorization",
        api(),
    ));
    let hash = format!(
        "sha256:{}",
        to_hex(&password_digest(BASIC_SALT, "pa:ss:word"))
    );
    v.push(json!({"id": 13, "authentication": {"mode": "local", "basic_users": [
            {"username": "alice", "salt": BASIC_SALT, "hash": hash}]},
        "proxy": {"hosts": ["basicuser.example.com"], "secret_token": SECRET, "proxy_rules": api()}}));
    // No secret_token: a client-sent one must still be removed.
    let key = json!({"id": "w", "hash": stored_form(WRITER_KEY)});
    v.push(json!({"id": 14, "authentication": {"mode": "local", "api_keys": {"header": "APIKey", "keys": [key]}},
        "proxy": {"hosts": ["nosecret.example.com"], "proxy_rules": api()}}));
    v
}

/// The filter configuration; `batching`: the authorization cache (60 s) instead of authrep.
pub fn adv_config(services: Vec<Value>, batching: bool) -> Value {
    let mut c = json!({
        // A generous timeout: this machine is shared, and a slow answer must not pass for a
        // denial (backend faults are tested with their own 500 ms).
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 3000},
        "services": services
    });
    if batching {
        c["backend"]["batching"] =
            json!({"auths_ttl": 60, "batch_report_seconds": 60, "denied_ttl": 60});
    }
    c
}

/// Echo upstream, [`adv_state`] backend and Envoy with 2 workers and HTTP/1.1 trailers on.
pub fn adv_stack(cfg: Value) -> Stack {
    Stack::start_with(cfg, adv_state(), |b| b.concurrency(2).http1_trailers())
}

/// Same, with Envoy's path normalisation off (`raw_paths`) when `raw`.
pub fn adv_stack_paths(cfg: Value, raw: bool) -> Stack {
    Stack::start_with(cfg, adv_state(), |b| {
        let b = b.concurrency(2);
        if raw {
            b.raw_paths()
        } else {
            b
        }
    })
}
