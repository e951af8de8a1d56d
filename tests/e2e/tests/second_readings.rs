//! The second round of upstream readings (a review of the first round's fixes, 2026-12-05):
//! `_method` in PHP's and `qs`'s spellings, in a body without a content type and past 100
//! pieces (and a field merely named `payment_method` wrongly refused there), `;` in form bodies
//! and past the `;` reading's 100 pieces, a second local key in the form body or spelled with
//! `+`, and an `access_token` in another spelling or in the body. Each test asserts the status
//! and what the upstream received, and failed on the module before its fix.

mod support;

use e2e::jwt::{now, Signer};
use e2e::Request;
use serde_json::{json, Value};
use support::*;
use tollgate_core::auth::digest::stored_form;

const READER_KEY: &str = "rk_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";
const FORM: &str = "application/x-www-form-urlencoded";

fn reader_keys() -> Value {
    json!({
        "header": "APIKey",
        "keys": [{"id": "reader", "hash": stored_form(READER_KEY),
                  "grants": [{"namespace": "reports", "actions": ["read", "create", "update", "delete"]}]}]
    })
}

fn rule(method: &str, pattern: &str, namespace: Option<&str>) -> Value {
    let mut r = json!({"http_method": method, "pattern": pattern, "metric_system_name": "hits", "delta": 1});
    if let Some(ns) = namespace {
        r["namespace"] = json!(ns);
    }
    r
}

fn local(method: &str, target: &str) -> Request {
    Request::new(method, target)
        .header("Host", "local.example.com")
        .header("APIKey", READER_KEY)
}

fn upstream(s: &Stack) -> Vec<String> {
    (s.echo.requests().iter())
        .map(|q| format!("{} {}", q.method, q.path))
        .collect()
}

fn open_service() -> Stack {
    let auth = json!({"mode": "local", "api_keys": reader_keys()});
    Stack::start(config(vec![local_service(
        auth,
        json!([rule("ANY", "/", None)]),
    )]))
}

/// `_method` is compared with `eq_ignore_ascii_case` only (method_override.rs:37), while the
/// arg-name spellings arg_names.rs knows apply to it too: PHP (Laravel, Symfony read
/// `_method` from the query and the body) reads `.method` as `_method`; `qs` (Express with
/// a body getter) and Rack 2 read `[_method]` as `_method`.
#[test]
fn method_override_in_another_spelling_is_refused() {
    let s = open_service();
    let mut through = Vec::new();
    for target in [
        "/orders?.method=DELETE",
        "/orders?[_method]=DELETE",
        "/orders?%5B_method%5D=DELETE",
    ] {
        let r = local("POST", target).send(s.port());
        if r.status != 400 {
            through.push(format!("query {target}: {}", r.status));
        }
    }
    // Rack 2 drops every leading bracket: `]_method` is `_method` to Rails up to 7.0.
    for body in [
        ".method=DELETE",
        "[_method]=DELETE",
        "a=1&+_method=DELETE",
        "]_method=DELETE",
        "[]_method=DELETE",
        "a=1&[[_method]=DELETE",
    ] {
        let r = local("POST", "/orders")
            .header("Content-Type", FORM)
            .body(body)
            .send(s.port());
        if r.status != 400 {
            through.push(format!("form {body}: {}", r.status));
        }
    }
    assert!(
        through.is_empty(),
        "overrides let through: {through:?}\nupstream: {:?}",
        upstream(&s)
    );
}

/// Past 100 pieces, `in_args` searches the raw text for `method` (method_override.rs:40): an
/// encoded `_m%65thod` is not found, though every upstream decodes it.
#[test]
fn method_override_encoded_beyond_100_pieces_is_not_refused() {
    let s = open_service();
    let target = format!("/orders?{}_m%65thod=DELETE", "a=1&".repeat(120));
    let r = local("POST", &target).send(s.port());
    let body = format!("{}_m%65thod=DELETE", "a=1&".repeat(120));
    let f = local("POST", "/orders")
        .header("Content-Type", FORM)
        .body(body)
        .send(s.port());
    assert_eq!(
        (r.status, f.status),
        (400, 400),
        "query / form override past 100 args let through; upstream {:?}",
        upstream(&s)
    );
}

/// Wrong refusal: the same raw search refuses any large `POST` mentioning `method` anywhere,
/// e.g. a checkout form with `payment_method=card`, on a service whose rules read no args.
#[test]
fn a_large_form_with_payment_method_is_not_refused() {
    let s = open_service();
    let fields: Vec<String> = (0..120).map(|i| format!("f{i}=x")).collect();
    let body = format!("{}&payment_method=card", fields.join("&"));
    let r = local("POST", "/checkout")
        .header("Content-Type", FORM)
        .body(body)
        .send(s.port());
    assert_eq!(r.status, 200, "legitimate form refused: {r}");
    let q = format!("/checkout?{}&payment_method=card", fields.join("&"));
    let r = local("POST", &q).send(s.port());
    assert_eq!(r.status, 200, "legitimate query refused: {r}");
}

/// Rack (Rails, Sinatra) parses a `POST` body without `Content-Type` as a form
/// (`Rack::Request#form_data?`), and `Rack::MethodOverride` reads `_method` from it.
#[test]
fn method_override_in_a_body_without_content_type_is_refused() {
    let s = open_service();
    let r = local("POST", "/orders")
        .body("_method=DELETE")
        .send(s.port());
    assert_eq!(r.status, 400, "upstream {:?}", upstream(&s));
}

/// The `;` view is parsed separately and may cut off at 100 pieces where the `&` view does
/// not: 99 `a=1&` then `x=1;scope=all` is 100 pieces for the rules (no `scope`, not
/// truncated) and 101 for the `;` view (its `scope` is beyond its 100, so `last` is `None`
/// in both). `truncated()` ignores the `;` view (query.rs:117, pipeline/mod.rs:516).
#[test]
fn semicolon_scope_beyond_the_semicolon_view_limit_is_refused() {
    let auth = json!({"mode": "local", "api_keys": reader_keys()});
    let rules = json!([
        rule("GET", "/reports?scope=all", Some("admin")),
        rule("GET", "/reports", Some("reports"))
    ]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    assert_eq!(
        local("GET", "/reports?x=1;scope=all").send(s.port()).status,
        400
    );
    let target = format!("/reports?{}x=1;scope=all", "a=1&".repeat(99));
    let r = local("GET", &target).send(s.port());
    assert!(
        r.status >= 400,
        "scope=all (read by Rack 2) got past the admin rule: {r}\nupstream: {:?}",
        upstream(&s)
    );
}

/// Form bodies get no `;` view (parse_form): Django before 3.2 and Go before 1.17 split
/// bodies on `;` too (the versions the query check names).
#[test]
fn semicolon_in_a_form_body_is_refused() {
    let auth = json!({"mode": "local", "api_keys": reader_keys()});
    let rules = json!([
        rule("POST", "/reports?scope=all", Some("admin")),
        rule("POST", "/reports", Some("reports"))
    ]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    let r = local("POST", "/reports")
        .header("Content-Type", FORM)
        .body("scope=all")
        .send(s.port());
    assert_eq!(r.status, 403, "control: {r}");
    let r = local("POST", "/reports")
        .header("Content-Type", FORM)
        .body("x=1;scope=all")
        .send(s.port());
    assert!(r.status >= 400, "{r}\nupstream: {:?}", upstream(&s));
}

/// The header-vs-query key check (local.rs:88) is not made for the form body: add_form_body
/// only checks query-vs-body (`credential(name).1`).
#[test]
fn a_second_key_in_the_form_body_is_refused() {
    let mut keys = reader_keys();
    keys["query"] = json!("api_key");
    let auth = json!({"mode": "local", "api_keys": keys});
    let s = Stack::start(config(vec![local_service(
        auth,
        json!([rule("ANY", "/", None)]),
    )]));
    let r = local("GET", "/r?api_key=someone-elses-key").send(s.port());
    assert_eq!(r.status, 403, "control: {r}");
    let r = local("POST", "/r")
        .header("Content-Type", FORM)
        .body("api_key=someone-elses-key")
        .send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "upstream: {:?}",
        upstream(&s)
    );
}

/// The credential view decodes names with `+` kept (query.rs:227), and `php_equal` folds
/// ` `, `.`, `[` only: PHP reads `api+key` and `+api_key` as `api_key` (last one wins).
#[test]
fn a_second_key_spelled_with_plus_is_refused() {
    let mut keys = reader_keys();
    keys["query"] = json!("api_key");
    let auth = json!({"mode": "local", "api_keys": keys});
    let s = Stack::start(config(vec![local_service(
        auth,
        json!([rule("ANY", "/", None)]),
    )]));
    let alone = |t: &str| {
        Request::get(t)
            .header("Host", "local.example.com")
            .send(s.port())
    };
    let control = alone(&format!("/r?api_key={READER_KEY}&api.key=other"));
    assert_eq!(control.status, 403, "control: {control}");
    let mut through = Vec::new();
    for t in [
        format!("/r?api_key={READER_KEY}&api+key=other"),
        format!("/r?api_key={READER_KEY}&+api_key=other"),
    ] {
        let r = alone(&t);
        if r.status < 300 {
            through.push(t);
        }
    }
    assert!(through.is_empty(), "{through:?}");
}

/// The `access_token` check reads URI args named exactly `access_token` (any case)
/// (local.rs:63): not its spellings (PHP `access.token`, qs `[access_token]`), nor an RFC 6750
/// form-body `access_token`.
#[test]
fn a_forged_access_token_in_another_spelling_or_the_body_is_refused() {
    let signer = Signer::hs256(b"0123456789abcdef0123456789abcdef-hmac", "hs-1");
    let forger = Signer::hs256(b"not-the-idp-secret-not-the-idp-secret!", "hs-1");
    let auth = json!({"mode": "local", "api_keys": reader_keys(),
        "jwt": {"jwks": Signer::jwks(&[&signer])}});
    let s = Stack::start(config(vec![local_service(
        auth,
        json!([rule("ANY", "/", None)]),
    )]));
    let forged = forger.token(
        &json!({"sub": "mallory", "azp": "admin-console", "roles": ["admin"], "exp": now() + 300}),
    );
    let control = local("GET", &format!("/me?access_token={forged}")).send(s.port());
    assert_eq!(control.status, 403, "control: {control}");
    let mut through = Vec::new();
    for t in [
        format!("/me?access.token={forged}"),
        format!("/me?[access_token]={forged}"),
    ] {
        if local("GET", &t).send(s.port()).status < 300 {
            through.push(t);
        }
    }
    let r = local("POST", "/me")
        .header("Content-Type", FORM)
        .body(format!("access_token={forged}"))
        .send(s.port());
    if r.status < 300 {
        through.push("form body access_token".into());
    }
    assert!(through.is_empty(), "{through:?}");
}
