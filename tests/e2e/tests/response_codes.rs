//! `backend.report_response_codes` through real Envoy (2 workers) and the mock backend.
//!
//! With batching, every forwarded call is reported with the status its client got, as its own
//! transaction (`transactions[i][log][code]`; 3scale counts one response per transaction),
//! whichever worker served it; a call whose client went before the response is reported
//! without a code. In authrep mode the authrep is sent before the upstream answers, so it
//! carries no code (APIcast's synchronous authrep does not either), and a warning says so.

mod support;

use e2e::mock_backend::Logged;
use e2e::Request;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use support::batching::batching;
use support::cache::*;

fn with_codes(batching_block: Option<serde_json::Value>) -> serde_json::Value {
    let mut cfg = cache_config("none", batching_block);
    cfg["backend"]["report_response_codes"] = json!(true);
    cfg
}

/// The counted transactions, as (app, usage, code), in a stable order.
fn counted(logged: &[Logged]) -> Vec<(String, String, Option<String>)> {
    let mut v: Vec<_> = logged
        .iter()
        .map(|l| {
            let usage: Vec<String> = l.usage.iter().map(|(m, n)| format!("{m}={n}")).collect();
            (l.app_id.clone(), usage.join(","), l.code.clone())
        })
        .collect();
    v.sort();
    v
}

fn wait_for_logged(s: &support::Stack, n: usize) -> Vec<Logged> {
    e2e::wait_until(Duration::from_secs(20), || s.backend.logged().len() >= n);
    // Two more report intervals: nothing is reported twice.
    std::thread::sleep(Duration::from_millis(2500));
    s.backend.logged()
}

#[test]
fn batched_reports_carry_each_calls_response_code() {
    let free = |path: &str| user_path(path, FREE);
    let mut requests = Vec::new();
    let mut expected_status = Vec::new();
    for (path, status, n) in [
        ("/status/200", 200, 3),
        ("/status/503", 503, 2),
        ("/status/404/x", 404, 1),
        ("/foo", 200, 2),
    ] {
        for _ in 0..n {
            requests.push(free(path));
            expected_status.push(status);
        }
    }
    requests.push(app(APP3, APP3_KEY_A));
    expected_status.push(200);
    requests.push(
        Request::get("/status/500")
            .header("Host", "app.example.com")
            .header("app_id", APP3)
            .header("app_key", APP3_KEY_B),
    );
    expected_status.push(500);

    // At once, each on its own connection, so that both workers serve some. The kernel
    // spreads connections over the workers' sockets by hash: 11 connections all land on one
    // worker about once in 1,000 runs, so that run starts again on a fresh stack.
    let mut attempts = 0;
    let s = loop {
        attempts += 1;
        let s = start(with_codes(Some(batching(30))), cache_state());
        let responses = concurrently(s.port(), requests.clone());
        let got: Vec<u16> = responses.iter().map(|r| r.status).collect();
        assert_eq!(got, expected_status);
        let per_worker = worker_connections(&s.envoy);
        assert_eq!(per_worker.len(), 2, "{per_worker:?}");
        if per_worker.iter().all(|&n| n > 0) {
            break s;
        }
        assert!(
            attempts < 4,
            "one worker served every request {attempts} times"
        );
    };

    let logged = wait_for_logged(&s, requests.len());
    assert!(logged.iter().all(|l| l.endpoint == "report"), "{logged:?}");
    let code = |c: &str| Some(c.to_string());
    let mut want = vec![
        ("app-free".to_string(), "hits=1".to_string(), code("200")),
        ("app-free".into(), "hits=1".into(), code("200")),
        ("app-free".into(), "hits=1".into(), code("200")),
        ("app-free".into(), "hits=1".into(), code("503")),
        ("app-free".into(), "hits=1".into(), code("503")),
        ("app-free".into(), "hits=1".into(), code("404")),
        ("app-free".into(), "get_foo=2,hits=1".into(), code("200")),
        ("app-free".into(), "get_foo=2,hits=1".into(), code("200")),
        (APP3.into(), "hits=1".into(), code("200")),
        (APP3.into(), "hits=1".into(), code("500")),
    ];
    want.sort();
    assert_eq!(counted(&logged), want);
    // Usage is counted as without codes: once per call (get_foo adds to its parent hits).
    assert_eq!(s.backend.reported_hits("1", "app-free", "hits"), 8 + 2 * 2);
    assert_eq!(s.backend.reported_hits("1", "app-free", "get_foo"), 4);
    assert_eq!(s.backend.reported_hits("2", APP3, "hits"), 2);
    // Batching as usual: one authorize per (credentials, usage), no authrep.
    assert_eq!(authorizes(&s.backend).len(), 4);
    assert!(authrep_calls(&s.backend).is_empty());
    // The report bodies: one transaction per call, each with its code.
    let bodies = reports(&s.backend);
    for t in bodies.iter().flat_map(transactions) {
        let fields: Vec<&str> = t.fields.keys().map(String::as_str).collect();
        assert!(
            fields == ["log][code", "timestamp", "user_key"]
                || fields == ["app_id", "log][code", "timestamp"],
            "{t:?}"
        );
        assert_recent_minute(&t);
    }
    assert!(bodies.iter().all(|r| !r.body.contains("app_key")));
    let per_code: BTreeMap<String, usize> =
        bodies
            .iter()
            .flat_map(transactions)
            .fold(BTreeMap::new(), |mut m, t| {
                *m.entry(t.fields["log][code"].clone()).or_default() += 1;
                m
            });
    assert_eq!(
        per_code,
        BTreeMap::from([
            ("200".to_string(), 6),
            ("404".into(), 1),
            ("500".into(), 1),
            ("503".into(), 2)
        ])
    );
}

#[test]
fn a_client_gone_before_the_response_is_reported_without_a_code() {
    let s = start(with_codes(Some(batching(30))), cache_state());
    assert_eq!(user(FREE).send(s.port()).status, 200);
    let gone = user_path("/delay/1500", FREE)
        .timeout(Duration::from_millis(300))
        .try_send(s.port());
    assert!(gone.is_err(), "{gone:?}");
    let logged = wait_for_logged(&s, 2);
    assert_eq!(
        counted(&logged),
        vec![
            ("app-free".to_string(), "hits=1".to_string(), None),
            (
                "app-free".to_string(),
                "hits=1".to_string(),
                Some("200".to_string())
            ),
        ]
    );
    assert_eq!(s.backend.reported_hits("1", "app-free", "hits"), 2);
}

#[test]
fn authrep_mode_sends_no_code_and_says_so() {
    let s = start(with_codes(None), cache_state());
    assert!(
        s.envoy.wait_for_log(
            "backend.report_response_codes: authrep mode reports each call before the upstream answers",
            Duration::from_secs(5)
        ),
        "{}",
        s.envoy.log()
    );
    for path in ["/status/200", "/status/503"] {
        let r = user_path(path, FREE).send(s.port());
        assert_eq!(r.status, if path.ends_with("200") { 200 } else { 503 });
    }
    let calls = authrep_calls(&s.backend);
    assert_eq!(calls.len(), 2);
    for c in &calls {
        assert!(!c.raw_query.contains("log"), "{}", c.url());
    }
    let logged = s.backend.logged();
    assert_eq!(logged.len(), 2);
    assert!(logged
        .iter()
        .all(|l| l.endpoint == "authrep" && l.code.is_none()));
}

#[test]
fn without_the_setting_reports_merge_calls_and_carry_no_code() {
    let s = start(cache_config("none", Some(batching(30))), cache_state());
    for path in ["/status/200", "/status/503", "/status/200"] {
        user_path(path, FREE).send(s.port());
    }
    let logged = wait_for_logged(&s, 1);
    // Merged: fewer transactions than calls (a report tick may fall between the calls, which
    // splits them over two reports, never three), every hit once, no code.
    assert!(logged.len() < 3, "{:?}", counted(&logged));
    let hits: u64 = logged
        .iter()
        .flat_map(|l| &l.usage)
        .filter(|(m, _)| m == "hits")
        .filter_map(|(_, n)| n.parse::<u64>().ok())
        .sum();
    assert_eq!(hits, 3, "{:?}", counted(&logged));
    assert!(logged
        .iter()
        .all(|l| l.app_id == "app-free" && l.code.is_none()));
    assert!(!s.envoy.log().contains("report_response_codes"));
}
