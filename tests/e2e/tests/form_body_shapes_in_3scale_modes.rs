//! The eighteenth session's new denials in 3scale modes crossed with request shapes: a
//! `user_key`/`app_id` beside a verified token (local+3scale, OIDC) in the form body, a `last`
//! rule matched only through a form body APIcast does not read, and a padded `app_key` in
//! batching mode; sent with a Content-Length, chunked, slowly, with trailers or over HTTP/2.
//! Tests marked `FINDING` assert the correct behaviour and fail on the module audited
//! (s18-sig).

mod support;

use e2e::jwt::{now, Signer};
use e2e::mock_backend::{App, Period, Service, State};
use e2e::{wait_until, Request};
use serde_json::{json, Value};
use std::time::Duration;
use support::body_shapes::*;
use support::*;

// ---------------------------------------------------------------------------------------
// (1) local+3scale / OIDC: a user_key or app_id beside the verified token.
// ---------------------------------------------------------------------------------------

const ISSUER: &str = "https://idp.example.com/realms/demo";
const JWT_HOST: &str = "jwt.example.com";

fn hs() -> Signer {
    Signer::hs256(b"0123456789abcdef0123456789abcdef-own", "hs-1")
}

fn token() -> String {
    hs().token(&json!({"iss": ISSUER, "aud": "orders-api", "sub": "user-1",
        "azp": "client-1", "exp": now() + 300}))
}

fn jwt_block() -> Value {
    json!({"jwks": Signer::jwks(&[&hs()]), "issuer": ISSUER, "audiences": ["orders-api"]})
}

/// (service config, backend state, credential name, another app's value)
fn token_service(oidc: bool, batching: bool) -> (Value, State, &'static str, &'static str) {
    let rules =
        json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let (svc, state, name, other) = if oidc {
        let svc = json!({
            "id": 5, "backend_version": "oauth",
            "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
            "authentication": {"jwt": jwt_block()},
            "proxy": {"hosts": [JWT_HOST], "authentication_method": "oidc", "proxy_rules": rules}
        });
        let state = State::new()
            .service(
                Service::new("5")
                    .token(TOKEN)
                    .backend_version("oauth")
                    .metric("hits", None),
            )
            .app(App::new("5", "client-1").plan("OIDC"))
            .app(App::new("5", "client-2").app_keys(&["key-2"]).plan("OIDC"));
        (svc, state, "app_id", "client-2")
    } else {
        let svc = json!({
            "id": 7, "backend_version": 1,
            "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
            "authentication": {"mode": "local+3scale", "jwt": jwt_block()},
            "proxy": {"hosts": [JWT_HOST], "proxy_rules": rules}
        });
        let state = State::new()
            .service(
                Service::new("7")
                    .token(TOKEN)
                    .backend_version("1")
                    .metric("hits", None),
            )
            .app(
                App::new("7", "app-client")
                    .user_key("client-1")
                    .plan("Basic"),
            )
            .app(
                App::new("7", "app-premium")
                    .user_key("uk-premium")
                    .plan("Premium"),
            );
        (svc, state, "user_key", "uk-premium")
    };
    let mut c = config(vec![svc]);
    c["backend"]["timeout_ms"] = json!(3000);
    if batching {
        c["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    }
    (c, state, name, other)
}

/// README (Authentication): "With `local+3scale` (and OIDC) ... a `user_key` or `app_id` the
/// request carries where the service reads credentials (`credentials_location`) must be that
/// client id: another one ... is auth failed with no backend call"; `credentials_location`
/// `query` is "query string, then the form body". A `POST` form body with `user_key=uk-premium`
/// (local+3scale) or `app_id=client-2` (OIDC) beside the token is forwarded: the service's
/// query credentials are read from the body only in `3scale` mode
/// (`form_body.rs::form_credentials`), so `names_another` never sees it. The upstream (Rack's
/// `params`, PHP's `$_REQUEST`) reads the other application's credential while the backend
/// authorized `client-1`. Checked in authrep and batching mode, backend slow (300 ms), in
/// several shapes.
// FINDING: a user_key/app_id of another app in the POST form body beside the verified token reaches the upstream
#[test]
fn another_credential_in_the_form_body_beside_the_verified_token_is_auth_failed() {
    let mut wrong = Vec::new();
    let t = token();
    let bearer = format!("Bearer {t}");
    for oidc in [false, true] {
        for batching in [false, true] {
            let (c, state, name, other) = token_service(oidc, batching);
            let s = Stack::start_with(c, state, |b| b);
            s.backend.set_latency(Duration::from_millis(300));
            let what = format!(
                "{} {}",
                if oidc { "OIDC" } else { "local+3scale" },
                if batching { "batching" } else { "authrep" }
            );
            let headers = [("Authorization", bearer.as_str()), ("Content-Type", FORM)];
            // Controls: the query, and the body naming the token's own client id.
            let r = Request::get(&format!("/orders?{name}={other}"))
                .header("Host", JWT_HOST)
                .header("Authorization", &bearer)
                .send(s.port());
            if r.status != 403 {
                wrong.push(format!("{what}: control (query) {}", r.status));
            }
            let own = format!("note=x&{name}=client-1");
            let (status, _) = send(
                s.port(),
                Shape::Plain,
                "POST",
                JWT_HOST,
                "/orders",
                &headers,
                own.as_bytes(),
                "own",
            );
            if status != 200 {
                wrong.push(format!("{what}: control (own id in the body) {status}"));
            }
            let calls_before = s.backend.requests().len();
            for (i, shape) in [Shape::Plain, Shape::Chunked, Shape::H2Trailers]
                .into_iter()
                .enumerate()
            {
                let mark = format!("other-{i}");
                let form = format!("note=x&{name}={other}");
                let (status, body) = send(
                    s.port(),
                    shape,
                    "POST",
                    JWT_HOST,
                    "/orders",
                    &headers,
                    form.as_bytes(),
                    &mark,
                );
                let got = upstream_got(&s, &mark);
                if status != 403 || !got.is_empty() {
                    wrong.push(format!(
                        "{what} {shape:?}: {status} {body:?}; upstream got {got:?}"
                    ));
                }
            }
            // No authrep/authorize for the refused requests (a report of earlier ones may
            // come in batching mode).
            let asked: Vec<String> = s.backend.requests()[calls_before..]
                .iter()
                .filter(|r| !r.path.contains("report"))
                .map(|r| format!("{} {}", r.path, r.raw_query))
                .collect();
            if !asked.is_empty() {
                wrong.push(format!("{what}: backend asked {asked:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "another application's credential in the form body rode along beside the token: {wrong:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// (2) A `last` rule matched only through a form body on DELETE.
// ---------------------------------------------------------------------------------------

/// Regression guard: a `last` rule whose arg only a `DELETE` form body gives counts and does
/// not stop, whichever shape the body comes in (chunked, slow, trailers, HTTP/2 frames).
#[test]
fn a_last_rule_matched_through_a_delete_form_body_never_stops_in_any_shape() {
    let s = Stack::start(config(vec![service(
        1,
        json!(1),
        json!({"proxy_rules": [
            {"http_method": "ANY", "pattern": "/items?kind=cheap", "metric_system_name": "hits", "delta": 1, "last": true},
            {"http_method": "ANY", "pattern": "/items", "metric_system_name": "get_foo", "delta": 10}
        ]}),
    )]));
    let target = format!("/items?user_key={USER_KEY}");
    let mut wrong = Vec::new();
    for shape in SHAPES {
        s.backend.clear_requests();
        let mark = format!("last-{shape:?}");
        let (status, _) = send(
            s.port(),
            shape,
            "DELETE",
            "api.example.com",
            &target,
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )],
            b"kind=cheap",
            &mark,
        );
        let usage: Vec<String> = s
            .authreps()
            .last()
            .map(|c| {
                let mut u: Vec<String> = (c.query.iter())
                    .filter(|(k, _)| k.starts_with("usage["))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                u.sort();
                u
            })
            .unwrap_or_default();
        let got = upstream_got(&s, &mark);
        if status != 200
            || usage != ["usage[get_foo]=10", "usage[hits]=1"]
            || got.len() != 1
            || !got[0].ends_with("body=\"kind=cheap\"")
        {
            wrong.push(format!(
                "{shape:?}: {status}; usage {usage:?}; upstream got {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

// ---------------------------------------------------------------------------------------
// (3) Batching: a padded app_key in the form body and over HTTP/2.
// ---------------------------------------------------------------------------------------

/// Regression guard: in batching mode an `app_key` padded with whitespace, sent in the form
/// body (`+`, `%09`) or over HTTP/2, shares the one budget of the unpadded key: a plan of 3
/// hits a minute lets 3 through, whatever the spellings.
#[test]
fn a_padded_app_key_in_a_form_body_or_over_h2_shares_the_limit_budget() {
    let state = State::new()
        .service(
            Service::new("2")
                .token(TOKEN)
                .backend_version("2")
                .metric("hits", None),
        )
        .app(
            App::new("2", "lim-app")
                .app_keys(&["lim-key"])
                .plan("Tiny")
                .limit("hits", Period::Minute, 3),
        );
    let mut c = config(vec![service(
        2,
        json!(2),
        json!({"proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}),
    )]);
    c["backend"]["batching"] =
        json!({"auths_ttl": 30, "denied_ttl": 30, "batch_report_seconds": 10});
    let s = Stack::start_with(c, state, |b| b);
    let mut statuses = Vec::new();
    let bodies = [
        "app_id=lim-app&app_key=lim-key",
        "app_id=lim-app&app_key=+lim-key",
        "app_id=lim-app&app_key=lim-key%09",
        "app_id=lim-app&app_key=%20%20lim-key",
    ];
    let mut n = 0;
    for body in bodies {
        for shape in [Shape::Plain, Shape::H2Frames] {
            n += 1;
            let (status, _) = send(
                s.port(),
                shape,
                "POST",
                "api.example.com",
                "/things",
                &[("Content-Type", FORM)],
                body.as_bytes(),
                &format!("pad-{n}"),
            );
            statuses.push((body, shape, status));
        }
    }
    let forwarded = s.echo.requests().len();
    wait_until(Duration::from_secs(15), || {
        s.backend.reported_hits("2", "lim-app", "hits") as usize >= forwarded
    });
    assert_eq!(
        forwarded,
        3,
        "a plan of 3 hits a minute; statuses {statuses:?}; backend counted {}",
        s.backend.reported_hits("2", "lim-app", "hits")
    );
    assert_eq!(
        statuses.iter().filter(|(_, _, st)| *st == 429).count(),
        n - 3,
        "{statuses:?}"
    );
}
