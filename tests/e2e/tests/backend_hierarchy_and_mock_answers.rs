//! The metric hierarchy and limits with the mock backend, and the mock's own answers against
//! the reference's verbatim bodies (reference `3scale-backend-protocol.md` §4.5, §6.2-§6.6).
//!
//! * Through Envoy: a parent's limit on a child's usage, the tightest of several limits, 2
//!   hits a call against what is left, disabled metrics (and disabled parents) in authrep and
//!   batching mode.
//! * The mock's handlers alone: its bodies and header sets against the reference's.

mod support;

use e2e::mock_backend::handlers::{self, HttpRequest};
use e2e::mock_backend::periods::unix_from_civil;
use e2e::mock_backend::{App, Period, Service, State};
use e2e::Request;
use serde_json::{json, Value};
use std::time::Duration;
use support::adversarial::{AUTH_FAILED, LIMITS};
use support::apisonator::{BODY_D, D_SECTIONS, PROLOG};
use support::cache::{concurrently, count_status, describe, pin_clock, wait_until};
use support::{config, service, Stack, TOKEN};

// ---------------------------------------------------------------------------------------
// Hierarchy and limits, with the mock.
// ---------------------------------------------------------------------------------------

/// Service 1: `hits` > `get_foo`, `off_child`; `legacy` > `legacy_get`.
fn hierarchy_state() -> State {
    State::new()
        .service(
            Service::new("1")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None)
                .metric("get_foo", Some("hits"))
                .metric("off_child", Some("hits"))
                .metric("legacy", None)
                .metric("legacy_get", Some("legacy")),
        )
        // The parent's day limit is the tightest; the child's own limit is looser.
        .app(
            App::new("1", "app-h")
                .user_key("uk-h")
                .plan("H")
                .limit("hits", Period::Minute, 50)
                .limit("hits", Period::Day, 3)
                .limit("get_foo", Period::Hour, 10)
                .disable_metric("off_child")
                .disable_metric("legacy"),
        )
        // 5 hits a day, 2 per call.
        .app(
            App::new("1", "app-t")
                .user_key("uk-t")
                .plan("T")
                .limit("hits", Period::Day, 5),
        )
        // A child disabled, a parent disabled, hits free.
        .app(
            App::new("1", "app-d")
                .user_key("uk-d")
                .plan("D")
                .limit("hits", Period::Minute, 100)
                .disable_metric("off_child")
                .disable_metric("legacy"),
        )
}

fn hierarchy_config(batching: bool) -> Value {
    let rule = |pattern: &str, metric: &str, delta: u64| json!({"http_method": "GET", "pattern": pattern, "metric_system_name": metric, "delta": delta});
    let mut cfg = config(vec![service(
        1,
        json!(1),
        json!({"proxy_rules": [
            rule("/foo", "get_foo", 1),
            rule("/two", "hits", 2),
            rule("/off", "off_child", 1),
            rule("/legacy", "legacy_get", 1)
        ]}),
    )]);
    if batching {
        cfg["backend"]["batching"] =
            json!({"auths_ttl": 30, "denied_ttl": 30, "batch_report_seconds": 1});
    }
    cfg
}

fn on(path: &str, key: &str) -> Request {
    Request::get(&format!("{path}?user_key={key}")).header("Host", "api.example.com")
}

#[test]
fn a_parents_tightest_limit_holds_for_child_usage_and_multi_hit_calls_in_both_modes() {
    for batching in [false, true] {
        let mode = if batching { "batching" } else { "authrep" };
        let s = Stack::start_with(hierarchy_config(batching), hierarchy_state(), |b| {
            b.concurrency(2)
        });
        pin_clock(&s.backend, 1);
        let port = s.port();

        // get_foo only: the parent's day limit of 3 (not its minute 50, not get_foo's hour 10).
        let foo = concurrently(port, vec![on("/foo", "uk-h"); 8]);
        assert_eq!(
            (count_status(&foo, 200), count_status(&foo, 429)),
            (3, 5),
            "{mode}: {:?}",
            foo.iter().map(describe).collect::<Vec<_>>()
        );
        for r in foo.iter().filter(|r| r.status == 429) {
            assert_eq!(r.body, LIMITS.1, "{mode}");
            // The day limit's reset, not the minute's: well over a minute (unless it is
            // nearly midnight UTC, when the day ends first).
            let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
            assert!(ra > 0, "{mode}: Retry-After {ra}");
        }
        // 2 hits a call against 5 a day: 2 calls (4 hits), never a third.
        let two = concurrently(port, vec![on("/two", "uk-t"); 6]);
        assert_eq!(
            (count_status(&two, 200), count_status(&two, 429)),
            (2, 4),
            "{mode}: {:?}",
            two.iter().map(describe).collect::<Vec<_>>()
        );
        // A disabled child, a child of a disabled parent: auth failed (403), not 429.
        for (path, key) in [("/off", "uk-d"), ("/legacy", "uk-d"), ("/off", "uk-h")] {
            for _ in 0..2 {
                let r = on(path, key).send(port);
                assert_eq!(
                    (r.status, r.body.as_str()),
                    (AUTH_FAILED.0, AUTH_FAILED.1),
                    "{mode} {path} {key}: {}",
                    describe(&r)
                );
            }
        }
        // Hits of the app with disabled metrics still pass.
        assert_eq!(on("/two", "uk-d").send(port).status, 200, "{mode}");

        let upstream: Vec<String> = s.echo.requests().iter().map(|r| r.path.clone()).collect();
        let count = |p: &str| upstream.iter().filter(|u| u.starts_with(p)).count();
        assert_eq!(
            (
                count("/foo"),
                count("/two?user_key=uk-t"),
                count("/off"),
                count("/legacy")
            ),
            (3, 2, 0, 0),
            "{mode}: upstream got {upstream:?}"
        );

        // What the backend counted: get_foo 3 and hits 3 (propagated), 4 hits of app-t, 2 of
        // app-d, nothing of the disabled metrics.
        let counted = || {
            (
                s.backend.reported_hits("1", "app-h", "get_foo"),
                s.backend.reported_hits("1", "app-h", "hits"),
                s.backend.reported_hits("1", "app-t", "hits"),
                s.backend.reported_hits("1", "app-d", "hits"),
                s.backend.reported_hits("1", "app-d", "off_child")
                    + s.backend.reported_hits("1", "app-d", "legacy")
                    + s.backend.reported_hits("1", "app-h", "off_child"),
            )
        };
        wait_until(Duration::from_secs(10), || counted() == (3, 3, 4, 2, 0));
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(counted(), (3, 3, 4, 2, 0), "{mode}: counted by the backend");
        // Batching asks `authorize` (then reports), authrep mode only `authrep`.
        let paths: Vec<String> = s
            .backend
            .requests()
            .iter()
            .map(|r| r.path.clone())
            .collect();
        let has = |p: &str| paths.iter().any(|x| x == p);
        assert_eq!(
            (
                has("/transactions/authorize.xml"),
                has("/transactions/authrep.xml"),
                has("/transactions.xml")
            ),
            (batching, !batching, batching),
            "{mode}: {paths:?}"
        );
        // The filter never sends hits for a child (the backend propagates): usage is what the
        // rules say.
        for call in s.backend.requests() {
            if (call.path.contains("authorize") || call.path.contains("authrep"))
                && call.param("user_key") == Some("uk-h")
                && call.url().contains("foo")
            {
                assert_eq!(call.param("usage[hits]"), None, "{mode}: {}", call.url());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The mock against the reference's verbatim answers.
// ---------------------------------------------------------------------------------------

/// Example D's fixtures: metric ids hits 1, get_foo 2, post_bar 3, (4), disabled_m 5.
fn example_d_state() -> State {
    State::new()
        .service(
            Service::new("1001")
                .token("st")
                .backend_version("2")
                .metric("hits", None)
                .metric("get_foo", Some("hits"))
                .metric("post_bar", Some("hits"))
                .metric("fourth", None)
                .metric("disabled_m", None),
        )
        .app(
            App::new("1001", "app1")
                .app_keys(&["key1"])
                .plan("Basic")
                .limit("hits", Period::Minute, 5)
                .limit("hits", Period::Day, 100)
                .limit("get_foo", Period::Hour, 10)
                .disable_metric("disabled_m"),
        )
}

fn mock_answer(
    state: &mut State,
    path: &str,
    query: &str,
    options: Option<&str>,
    now: i64,
) -> e2e::mock_backend::Response {
    let headers: Vec<(String, String)> = options
        .map(|o| vec![("3scale-options".to_string(), o.to_string())])
        .unwrap_or_default();
    let req = HttpRequest {
        method: "GET",
        path,
        query,
        headers: &headers,
        body: b"",
    };
    handlers::handle(&req, state, now)
}

#[test]
fn the_mock_answers_the_references_verbatim_bodies_and_headers() {
    let now = unix_from_civil(2026, 11, 23, 6, 46, 0);
    let mut state = example_d_state();
    let base = "service_token=st&service_id=1001&app_id=app1&app_key=key1";
    let q = format!("{base}&usage%5Bget_foo%5D=2");
    let d = mock_answer(&mut state, "/transactions/authrep.xml", &q, None, now);
    assert_eq!((d.status, d.body.as_str()), (200, BODY_D));
    // Route headers (§1.4): content type, CORS, CSP, nosniff; no 3scale-* without options.
    let names: Vec<&str> = d.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "content-type",
            "access-control-allow-origin",
            "access-control-expose-headers",
            "content-security-policy",
            "x-content-type-options"
        ]
    );

    // The same call again with hierarchy and app keys: stored 2 now, so current values 4.
    let mut state = example_d_state();
    let d2 = mock_answer(
        &mut state,
        "/transactions/authrep.xml",
        &q,
        Some("hierarchy=1&list_app_keys=1"),
        now,
    );
    let want = BODY_D.replace(
        "</usage_reports></status>",
        &format!("</usage_reports>{D_SECTIONS}"),
    );
    assert_eq!(d2.body, want);

    // §6.5: a call including the disabled metric, over real HTTP with every APIcast option.
    let mut state = example_d_state();
    let i = mock_answer(
        &mut state,
        "/transactions/authrep.xml",
        &format!("{base}&usage%5Bdisabled_m%5D=1"),
        Some("rejection_reason_header=1&limit_headers=1&no_body=1"),
        now,
    );
    assert_eq!((i.status, i.body.as_str()), (409, ""));
    let got: Vec<(&str, &str)> = i
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("content-type", "application/vnd.3scale-v2.0+xml"),
            ("access-control-allow-origin", "*"),
            (
                "access-control-expose-headers",
                "ETag, Link, 3scale-rejection-reason"
            ),
            ("content-security-policy", "default-src 'self'"),
            ("3scale-rejection-reason", "limits_exceeded"),
            ("3scale-limit-remaining", "0"),
            ("3scale-limit-reset", "-1"),
            ("3scale-limit-max-value", "0"),
            ("x-content-type-options", "nosniff"),
        ]
    );
    // Nothing was counted by the denied call.
    assert_eq!(
        state.counters.get("1001", "app1", "hits", Period::Day, now),
        0
    );

    // §4.5 E: a missing app key; and the raw `&` quirk.
    let mut state = example_d_state();
    let e = mock_answer(
        &mut state,
        "/transactions/authorize.xml",
        "service_token=st&service_id=1001&app_id=app1&app_key=bad%26key",
        Some("rejection_reason_header=1"),
        now,
    );
    assert_eq!(e.status, 409);
    assert!(
        e.body
            .starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><status><authorized>false</authorized><reason>application key "bad&key" is invalid</reason><plan>Basic</plan><usage_reports>"#),
        "{}",
        e.body
    );
    assert_eq!(
        e.header("3scale-rejection-reason"),
        Some("application_key_invalid")
    );
    assert_eq!(e.header("3scale-limit-remaining"), None);

    // §4.5 H: errors, with the error header set (no CSP).
    for (query, status, body) in [
        (
            "service_token=st&service_id=1001&app_id=nope",
            404,
            r#"<error code="application_not_found">application with id="nope" was not found</error>"#,
        ),
        (
            "service_token=st&service_id=1001",
            404,
            r#"<error code="application_not_found">application id is missing</error>"#,
        ),
        (
            "service_token=st&service_id=1001&app_id=app1&app_key=key1&usage%5Bnope%5D=1",
            404,
            r#"<error code="metric_invalid">metric "nope" is invalid</error>"#,
        ),
        (
            "service_token=st&service_id=1001&app_id=app1&app_key=key1&usage%5Bhits%5D=abc",
            403,
            r#"<error code="usage_value_invalid">usage value "abc" for metric "hits" is invalid</error>"#,
        ),
        (
            "service_token=wrong&service_id=1001&app_id=app1",
            403,
            r#"<error code="service_token_invalid">service token "wrong" or service id "1001" is invalid</error>"#,
        ),
        (
            "service_token=st",
            422,
            r#"<error code="service_id_missing">Service ID is missing</error>"#,
        ),
        (
            "app_id=app1",
            403,
            r#"<error code="provider_key_or_service_token_required">Provider key or service token are required</error>"#,
        ),
        (
            "service_token=st&service_id=1001&app_id=app1&user_id=u",
            400,
            r#"<error code="end_users_no_longer_supported">End-users are no longer supported, do not specify the user_id parameter</error>"#,
        ),
    ] {
        let mut state = example_d_state();
        let r = mock_answer(&mut state, "/transactions/authrep.xml", query, None, now);
        assert_eq!(
            (r.status, r.body.clone()),
            (status, format!("{PROLOG}{body}")),
            "{query}"
        );
        assert_eq!(r.header("content-security-policy"), None, "{query}");
        assert_eq!(r.header("3scale-limit-remaining"), None, "{query}");
    }
    // `usage` not a hash: an empty 403 with the route headers.
    let mut state = example_d_state();
    let r = mock_answer(
        &mut state,
        "/transactions/authrep.xml",
        "service_token=st&service_id=1001&app_id=app1&usage=1",
        None,
        now,
    );
    assert_eq!((r.status, r.body.as_str()), (403, ""));
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'")
    );

    // §6.4 worked examples: limit 100, usage 10: authorize 10, authrep 9.
    let limited = || {
        State::new()
            .service(Service::new("7").token("st").metric("hits", None))
            .app(App::new("7", "a").plan("P").limit("hits", Period::Day, 100))
    };
    let q10 = "service_token=st&service_id=7&app_id=a&usage%5Bhits%5D=10";
    let opts = Some("limit_headers=1&no_body=1");
    let mut st = limited();
    let a = mock_answer(&mut st, "/transactions/authorize.xml", q10, opts, now);
    assert_eq!(a.header("3scale-limit-remaining"), Some("10"));
    let mut st = limited();
    let a = mock_answer(&mut st, "/transactions/authrep.xml", q10, opts, now);
    assert_eq!(a.header("3scale-limit-remaining"), Some("9"));
    // usage[hits]=0 → -1/-1; a 0 still checks the limit once it is exceeded.
    let mut st = limited();
    let q0 = "service_token=st&service_id=7&app_id=a&usage%5Bhits%5D=0";
    let z = mock_answer(&mut st, "/transactions/authorize.xml", q0, opts, now);
    assert_eq!(
        (
            z.status,
            z.header("3scale-limit-remaining"),
            z.header("3scale-limit-reset")
        ),
        (200, Some("-1"), Some("-1"))
    );
    st.counters.set("7", "a", "hits", Period::Day, now, 101);
    let z = mock_answer(&mut st, "/transactions/authorize.xml", q0, opts, now);
    assert_eq!(z.status, 409);
}
