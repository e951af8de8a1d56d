//! Ways a client got more calls than its plan allows with batching, or an unverified token
//! upstream next to a verified one (found by an audit, 2026-12-05; each failed before its
//! fix): a `Referer` per request with `3scale_referrer`, a full authorization cache, a full
//! pending list, and an `access_token` query arg next to a locally verified `Authorization`;
//! and the other side of the full pending list: its dropped calls refused the application
//! in every later minute.
//! Each asserts the client's answers and what the backend counted or the upstream received.

mod support;

use e2e::jwt::{b64url, now, Signer};
use e2e::mock_backend::{App, Period, State};
use e2e::{Request, Response};
use serde_json::{json, Value};
use std::time::Duration;
use support::cache::*;

/// Service 1: an app limited to 5 hits a minute (no referrer filters).
const FIVE: &str = "uk-five";

fn state() -> State {
    cache_state().app(App::new("1", "app-five").user_key(FIVE).plan("Five").limit(
        "hits",
        Period::Minute,
        5,
    ))
}

fn batching() -> Value {
    json!({"auths_ttl": 30, "denied_ttl": 30, "batch_report_seconds": 1})
}

fn statuses(responses: &[Response]) -> Vec<u16> {
    responses.iter().map(|r| r.status).collect()
}

fn with_referer(key: &str, referer: &str) -> Request {
    user(key).header("Referer", referer)
}

/// `3scale_referrer` with batching: the cached authorization, and so the exact-limit budget,
/// is keyed by the client's `Referer`. Each new `Referer` value gets a budget of its own,
/// computed from the backend's `3scale-limit-remaining` as if no other referrer had been
/// served, so a client with 5 calls a minute gets 5 per `Referer` it makes up.
#[test]
fn referer_values_do_not_multiply_the_limit() {
    let mut cfg = cache_config("none", Some(batching()));
    cfg["services"][0]["proxy"]["policy_chain"] =
        json!([{"name": "apicast"}, {"name": "apicast.policy.3scale_referrer"}]);
    let s = start(cfg, state());
    pin_clock(&s.backend, 1);
    let port = s.port();
    let mut responses = Vec::new();
    for referer in [
        "https://a.example/",
        "https://b.example/",
        "https://c.example/",
    ] {
        for _ in 0..5 {
            responses.push(with_referer(FIVE, referer).send(port));
        }
    }
    let forwarded = s.echo.requests().len();
    // Let the reports land: the backend then shows what was let through.
    wait_until(Duration::from_secs(10), || {
        s.backend.reported_hits("1", "app-five", "hits") as usize >= forwarded
    });
    assert_eq!(
        (count_status(&responses, 200), forwarded),
        (5, 5),
        "a plan of 5 calls a minute; backend counted {} hits; {:?}",
        s.backend.reported_hits("1", "app-five", "hits"),
        statuses(&responses)
    );
}

/// When both shared slots of an entry hold other live authorizations, the request is
/// "authorized on its own, uncached": one `authorize` (which counts nothing at the backend)
/// per request, and the call reported later. Every such `authorize` sees the same remaining
/// limit, so the plan's limit is not enforced at all until the reports land.
/// `cache_max_entries: 1` makes any second live entry uncached; with the default 10,000 slots
/// the same happens to any key whose two slots are taken (a busy gateway, or a client filling
/// them with its own entries: other usages, other referrers).
#[test]
fn a_full_cache_does_not_lift_the_limit() {
    let mut cfg = cache_config("none", Some(batching()));
    cfg["backend"]["cache_max_entries"] = json!(1);
    let s = start(cfg, state());
    pin_clock(&s.backend, 1);
    let port = s.port();
    // Another application's live authorization takes the only slot.
    assert_eq!(user(FREE).send(port).status, 200);
    let limited = concurrently(port, vec![user(FIVE); 12]);
    let mut sequential = Vec::new();
    for _ in 0..4 {
        sequential.push(user(FIVE).send(port));
    }
    let forwarded_five = s
        .echo
        .requests()
        .iter()
        .filter(|r| r.header("user_key") == Some(FIVE))
        .count();
    wait_until(Duration::from_secs(10), || {
        s.backend.reported_hits("1", "app-five", "hits") as usize >= forwarded_five
    });
    assert_eq!(
        forwarded_five,
        5,
        "a plan of 5 calls a minute; backend counted {} hits; concurrent {:?}, then {:?}",
        s.backend.reported_hits("1", "app-five", "hits"),
        statuses(&limited),
        statuses(&sequential)
    );
}

/// `max_pending` bounds the distinct entries waiting to be reported; calls beyond it are
/// dropped, and their leased calls are settled as if the backend had counted them. The
/// next budget is then the backend's unchanged `remaining` again: every dropped call is a
/// free one, and the key is never held to its limit while the pending list is full. A
/// client fills the list by itself with `3scale_referrer` (one entry per `Referer` value,
/// 10,000 by default); here `max_pending: 1` and another application's call fill it.
#[test]
fn a_full_pending_list_does_not_make_calls_free() {
    let mut cfg = cache_config("none", None);
    // The first report claims the schedule at start-up; the next one is 30 s later.
    cfg["backend"]["batching"] =
        json!({"auths_ttl": 30, "denied_ttl": 30, "batch_report_seconds": 30, "max_pending": 1});
    let s = start(cfg, state());
    pin_clock(&s.backend, 1);
    let port = s.port();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(user(FREE).send(port).status, 200);
    // A worker's tick (every 250 ms) moves that call to the shared pending list.
    std::thread::sleep(Duration::from_millis(600));
    let mut responses = Vec::new();
    for _ in 0..15 {
        responses.push(user(FIVE).send(port));
        std::thread::sleep(Duration::from_millis(300));
    }
    let forwarded_five = s
        .echo
        .requests()
        .iter()
        .filter(|r| r.header("user_key") == Some(FIVE))
        .count();
    assert_eq!(
        forwarded_five,
        5,
        "a plan of 5 calls a minute; reports_dropped {}; {:?}",
        stat(&s.envoy, "reports_dropped"),
        statuses(&responses)
    );
}

/// The calls dropped at a full pending list (above) are owed only within the period they
/// were made in: in the next minute the application has its whole plan again. They were owed
/// for good, so an application whose dropped calls reached its limit was refused in every
/// later minute until Envoy restarted (found by the twenty-first session's audit).
#[test]
fn calls_dropped_at_a_full_pending_list_are_owed_only_in_their_minute() {
    let mut cfg = cache_config("none", None);
    cfg["backend"]["batching"] =
        json!({"auths_ttl": 30, "denied_ttl": 30, "batch_report_seconds": 60, "max_pending": 1});
    let s = start(cfg, state());
    // The backend's minute has 8 s left: its answers reset the limit 8 s later.
    let pinned = pin_clock(&s.backend, 52);
    let port = s.port();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(user(FREE).send(port).status, 200);
    std::thread::sleep(Duration::from_millis(600));
    let first: Vec<Response> = (0..6).map(|_| user(FIVE).send(port)).collect();
    assert_eq!(statuses(&first), [200, 200, 200, 200, 200, 429]);
    assert!(
        wait_until(Duration::from_secs(5), || stat(&s.envoy, "reports_dropped")
            >= 5),
        "FIVE's calls were not dropped: {}",
        stat(&s.envoy, "reports_dropped")
    );
    // The next minute, at the backend and (after the 8 s) at the gateway.
    s.backend.set_now(Some(pinned + 10));
    std::thread::sleep(Duration::from_millis(8_500));
    let next: Vec<Response> = (0..6).map(|_| user(FIVE).send(port)).collect();
    let forwarded_five = (s.echo.requests().iter())
        .filter(|r| r.header("user_key") == Some(FIVE))
        .count();
    assert_eq!(
        (statuses(&next), forwarded_five),
        (vec![200, 200, 200, 200, 200, 429], 10),
        "a plan of 5 calls a minute, each minute; reports_dropped {}",
        stat(&s.envoy, "reports_dropped")
    );
    assert_eq!(s.backend.reported_hits("1", "app-five", "hits"), 0);
}

/// A locally verified JWT (`authentication.jwt` with keys, not `from_jwt_authn`): Tollgate
/// reads the token in `Authorization` only, so a second, unverified token in
/// `?access_token=` rides along to the upstream with a request authorized by the first one.
/// In `from_jwt_authn` mode the same pair is refused (two different tokens: the upstream may
/// read the one nobody verified: `jwt_authn_tokens.rs`); an upstream that reads
/// `access_token` first and trusts the gateway's verification gets the forged admin token.
#[test]
fn jwt_unverified_query_token_next_to_a_verified_header_token_is_refused() {
    let key = Signer::es256("audit-q");
    let svc = json!({
        "id": 60,
        "authentication": {"mode": "local", "jwt": {"jwks": Signer::jwks(&[&key])}},
        "proxy": {"hosts": ["jwtq.example.com"], "proxy_rules": [
            {"http_method": "GET", "pattern": "/api", "metric_system_name": "hits", "delta": 1},
            {"http_method": "GET", "pattern": "/admin", "metric_system_name": "hits", "delta": 1, "roles": ["admin"]}
        ]}
    });
    let s = support::Stack::start(support::config(vec![svc]));
    let claims = |roles: &[&str]| json!({"sub": "u1", "azp": "client-1", "exp": now() + 600, "roles": roles});
    let reader = key.token(&claims(&["reader"]));
    let mut forged_admin = key.token(&claims(&["admin"]));
    let cut = forged_admin.rfind('.').unwrap() + 1;
    forged_admin.replace_range(cut.., &b64url(&[7u8; 64]));
    let get = |path: &str, bearer: &str| {
        Request::get(path)
            .header("Host", "jwtq.example.com")
            .header("Authorization", &format!("Bearer {bearer}"))
            .send(s.port())
    };
    // Controls: the reader token passes /api and is refused /admin; the forged one is refused.
    assert_eq!(get("/api/x", &reader).status, 200);
    assert_eq!(get("/admin/x", &reader).status, 403);
    assert_eq!(get("/api/x", &forged_admin).status, 403);
    let before = s.echo.requests().len();
    let r = get(&format!("/api/x?access_token={forged_admin}"), &reader);
    assert_eq!(
        (r.status, s.echo.requests().len()),
        (403, before),
        "the upstream got an unverified token next to the verified one: {:?}",
        s.echo.requests().last().map(|e| e.path.clone())
    );
}
