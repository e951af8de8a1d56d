//! Audit (2026-12-06) of the access-phase policies that can block traffic, through real
//! Envoy: `default_credentials` (spelled keys, a wrong key in any spelling or a form body)
//! and `3scale_referrer` (what the backend judges). Each test asserts what the client got,
//! what the upstream (echo) received and what the mock backend was asked.

mod support;

use e2e::mock_backend::{App, Period, Service, State};
use e2e::Request;
use serde_json::json;
use support::access_policies::{apicast, send};
use support::*;

// ---------------------------------------------------------------------------------------
// default_credentials
// ---------------------------------------------------------------------------------------

fn anonymous_v1(batching: bool) -> Stack {
    let v1 = json!({"name": "default_credentials", "configuration": {
        "auth_type": "user_key", "user_key": USER_KEY}});
    let mut cfg = config(vec![service(
        1,
        json!("1"),
        json!({"policy_chain": [v1, apicast()],
        "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}),
    )]);
    if batching {
        cfg["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    }
    Stack::start_with(cfg, backend_state(), |b| b.concurrency(2))
}

/// The user_keys the backend was asked about (authreps and authorizes).
fn asked_keys(s: &Stack) -> Vec<String> {
    s.backend
        .requests()
        .iter()
        .filter(|c| c.path != "/transactions.xml")
        .filter_map(|c| c.param("user_key").map(str::to_string))
        .collect()
}

/// A `user_key` in a spelling an upstream reads as `user_key` (PHP's `user.key`/`user key`,
/// Rack's and `qs`'s `user_key[]`) is a credential the request carries: Tollgate refuses a
/// valid key beside a different spelled one as ambiguous (README, "Security": "the upstream
/// cannot read another key or app id than the one authorized"), and ambiguous_args.rs fixed
/// the same hole for a header credential with `default_credentials`. Alone, in the query or
/// a form body, it must not make the request anonymous: the default app is authorized and
/// charged while the upstream reads the client's (unknown, revoked or over-limit) key.
// FINDING: a spelled-only user_key with default_credentials is replaced by the default key; the upstream reads the client's key
// (now: carried, so no defaults: auth missing, 401, as without the policy)
#[test]
fn default_credentials_do_not_replace_a_user_key_in_a_spelling_the_upstream_reads() {
    let mut leaks = Vec::new();
    for batching in [false, true] {
        let s = anonymous_v1(batching);
        // Control: truly anonymous.
        let r = send(&s, Request::get("/things"));
        assert_eq!(r.status, 200, "batching {batching}: {r}");
        for target in [
            "/things?user.key=uk-someone-else",
            "/things?user_key[]=uk-someone-else",
            "/things?user%20key=uk-someone-else",
        ] {
            let r = send(&s, Request::get(target));
            if r.from_echo() || r.status != 401 {
                leaks.push(format!("batching {batching}: GET {target}: {}", r.status));
            }
        }
        let r = send(
            &s,
            Request::post("/things").form(&[("user.key", "uk-someone-else")]),
        );
        if r.from_echo() || r.status != 401 {
            leaks.push(format!(
                "batching {batching}: POST form user.key: {}",
                r.status
            ));
        }
        leaks.push(format!(
            "  (batching {batching}: backend asked about {:?})",
            asked_keys(&s)
        ));
    }
    // Version 2: an app_id and app_key only in such spellings.
    let v2 = json!({"name": "default_credentials", "configuration": {
        "auth_type": "app_id_and_app_key", "app_id": APP_ID, "app_key": APP_KEY}});
    let cfg = config(vec![service(
        2,
        json!("2"),
        json!({"policy_chain": [v2, apicast()]}),
    )]);
    let s = Stack::start_with(cfg, backend_state(), |b| b);
    assert_eq!(send(&s, Request::get("/things")).status, 200, "control");
    let r = send(&s, Request::get("/things?app.id=someone&app[key]=else"));
    if r.from_echo() || r.status != 401 {
        leaks.push(format!(
            "v2: GET ?app.id=someone&app[key]=else: {} (upstream saw {}; backend asked about app_id {:?})",
            r.status,
            r.echo().path,
            s.authreps().iter().map(|c| c.param("app_id").map(str::to_string)).collect::<Vec<_>>()
        ));
    }
    let real: Vec<_> = leaks.iter().filter(|l| !l.starts_with("  (")).collect();
    assert!(
        real.is_empty(),
        "anonymous (the default app authorized and charged) while the upstream read the \
         client's own key:\n{}",
        leaks.join("\n")
    );
}

/// Credentials a request carries are never replaced, in every spelling nginx and Tollgate
/// read as the arg (case, percent-encoded name) and in a form body: the wrong key is asked
/// about and refused, in authrep and batching modes (hit and miss).
#[test]
fn default_credentials_never_replace_a_wrong_key_in_any_exact_spelling_or_a_form_body() {
    for batching in [false, true] {
        let s = anonymous_v1(batching);
        // Warm the cache with the default key (batching: the next anonymous call is a hit).
        for _ in 0..2 {
            assert_eq!(send(&s, Request::get("/things")).status, 200);
        }
        for target in [
            "/things?USER_KEY=wrong-1",
            "/things?user%5Fkey=wrong-2",
            "/things?User_Key=wrong-3&x=1",
        ] {
            let r = send(&s, Request::get(target));
            assert_eq!(
                (r.status, r.body.as_str()),
                (403, "Authentication failed"),
                "batching {batching}: {target}: {r}"
            );
            assert!(!r.from_echo());
        }
        let r = send(
            &s,
            Request::post("/things").form(&[("user_key", "wrong-4")]),
        );
        assert_eq!(r.status, 403, "batching {batching}: form: {r}");
        assert_eq!(s.echo.request_count(), 2, "batching {batching}");
        let keys = asked_keys(&s);
        for k in ["wrong-1", "wrong-2", "wrong-3", "wrong-4"] {
            assert!(
                keys.iter().any(|x| x == k),
                "batching {batching}: {k} asked: {keys:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3scale_referrer
// ---------------------------------------------------------------------------------------

fn referrer_stack(batching: bool) -> Stack {
    let state = State::new()
        .service(
            Service::new("1")
                .token(TOKEN)
                .backend_version("1")
                .referrer_filters_required(true)
                .metric("hits", None),
        )
        .app(
            App::new("1", "shop-app")
                .user_key(USER_KEY)
                .plan("Basic")
                .limit("hits", Period::Minute, 1000)
                .referrer_filter("*.shop.example.com/*"),
        );
    let chain = json!([{"name": "3scale_referrer"}, apicast()]);
    let mut cfg = config(vec![service(1, json!("1"), json!({"policy_chain": chain}))]);
    if batching {
        cfg["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    }
    Stack::start_with(cfg, state, |b| b.concurrency(2))
}

/// The Referer is spoofable by design; what must hold is that the value the backend judges
/// is exactly the header's (no parameter injection through `&`/`=`, one value when the
/// header is repeated, a long one whole) and that a refused one never reaches the upstream.
#[test]
fn referrer_odd_spellings_twice_and_long_are_judged_as_sent() {
    for batching in [false, true] {
        let s = referrer_stack(batching);
        let get = |referers: &[&str]| {
            let r = referers.iter().fold(
                Request::get(&format!("/things?user_key={USER_KEY}")),
                |r, v| r.header("Referer", v),
            );
            send(&s, r)
        };
        let good = "http://www.shop.example.com/cart";
        let long_good = format!("http://www.shop.example.com/{}", "a".repeat(400));
        let evil = "http://evil.example.com/";
        assert_eq!(get(&[good]).status, 200);
        assert_eq!(get(&[&long_good]).status, 200, "a long referrer, whole");
        // Injection attempts: a parameter after `&` is part of the value.
        let inject = "http://evil.example.com/&referrer=http://www.shop.example.com/x";
        // (the glob `*.shop.example.com/*` matches it whole: only the value sent is checked)
        get(&[inject]);
        // Twice.
        // (Envoy joins repeated Referer lines with a comma, which the glob matches whole:
        // only the value sent is checked: it must not be the good one alone.)
        get(&[evil, good]);
        // Another header name is no Referer.
        let r = send(
            &s,
            Request::get(&format!("/things?user_key={USER_KEY}")).header("Referrer", good),
        );
        assert_eq!(r.status, 403, "batching {batching}: {r}");
        assert!(
            (3..=4).contains(&s.echo.request_count()),
            "batching {batching}"
        );
        let referrers: Vec<Option<String>> = s
            .authreps()
            .iter()
            .map(|c| c.param("referrer").map(str::to_string))
            .collect();
        assert_eq!(referrers.len(), 5, "an authrep per request: {referrers:?}");
        assert!(referrers.contains(&Some(long_good.clone())));
        assert!(
            referrers.contains(&Some(inject.to_string())),
            "{referrers:?}"
        );
        assert!(
            referrers
                .iter()
                .filter(|r| r.as_deref() == Some(good))
                .count()
                == 1,
            "the repeated header was not judged as its good value alone: {referrers:?}"
        );
        assert!(referrers
            .iter()
            .any(|r| r.as_deref().is_some_and(|r| r.starts_with(evil))));
        assert!(s.authreps().iter().all(|c| c
            .query
            .iter()
            .filter(|(k, _)| k == "referrer")
            .count()
            <= 1));
    }
}
