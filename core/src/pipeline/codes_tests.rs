//! Response codes in batched reports (`backend.report_response_codes`), natively: a call is
//! counted once its response's status is known, with that code; without a response (the
//! client went first) or with an unreadable status, without one. The status is read only
//! when a call waits for it.

use super::fake_envoy::Store;
use super::*;
use crate::backend::BackendAnswer;
use crate::cache::MemoryStore;
use serde_json::json;
use std::cell::Cell;
use std::rc::Rc;

struct NoHeaders;
impl HeaderSource for NoHeaders {
    fn header(&self, _: &str) -> Option<String> {
        None
    }
}

struct TestClock(Rc<Cell<u64>>);
impl Clock for TestClock {
    fn now_ms(&self) -> Option<u64> {
        Some(self.0.get())
    }
}

fn worker(codes: bool, batching: bool) -> (Worker, Rc<Cell<u64>>) {
    let (w, clock, _) = worker_on(codes, batching);
    (w, clock)
}

fn worker_on(codes: bool, batching: bool) -> (Worker, Rc<Cell<u64>>, Rc<MemoryStore>) {
    let mut backend = json!({"cluster": "backend", "report_response_codes": codes});
    if batching {
        backend["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    }
    let config = json!({"backend": backend, "services": [{
        "id": "42", "backend_version": 1,
        "proxy": {"hosts": ["api"], "proxy_rules": [
            {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}}]});
    let config = Config::parse(config.to_string().as_bytes()).unwrap().config;
    let clock = Rc::new(Cell::new(1_000_000));
    let store = Rc::new(MemoryStore::default());
    let shared = Box::new(Store(store.clone()));
    let w = Worker::new(Rc::new(config), shared, Box::new(TestClock(clock.clone())));
    (w, clock, store)
}

/// Sends a request; answers its backend call (if any) with 200; says whether it went upstream.
fn forwarded(w: &mut Worker, id: RequestId, path: &str) -> bool {
    let line = RequestLine {
        method: "GET",
        authority: "api",
        path,
    };
    let mut steps = w.on_request_headers(id, line, &NoHeaders, true);
    if let [Step::Call { .. }] = &steps.list[..] {
        let Some(Step::Call { purpose, .. }) = steps.list.pop() else {
            unreachable!()
        };
        w.on_call_sent(id + 1000, purpose, id);
        let ok = BackendAnswer {
            status: Some(200),
            limit_remaining: Some("100".into()),
            ..Default::default()
        };
        steps = w.on_backend_answer(id + 1000, Some(ok));
        // The answer is announced to every waiter (this one included): the wake-up decides.
        let woken: Vec<Steps> = steps
            .list
            .iter()
            .filter_map(|s| match s {
                Step::Notify(key) => Some(key.as_str().to_string()),
                _ => None,
            })
            .map(|key| w.on_wake(&key))
            .collect();
        for more in woken {
            steps.extend(more);
        }
    }
    steps
        .list
        .iter()
        .any(|s| matches!(s, Step::Forward { request, .. } if *request == id))
}

/// The next report's body, brackets decoded (the worker is the only one, so it is elected).
fn report(w: &mut Worker, clock: &Cell<u64>) -> String {
    clock.set(clock.get() + 2_000);
    let steps = w.on_tick();
    match &steps.list[..] {
        [Step::Call { call, .. }] => call.body.replace("%5B", "[").replace("%5D", "]"),
        other => panic!("expected one report, got {other:?}"),
    }
}

#[test]
fn each_call_is_reported_with_the_status_its_client_got() {
    let (mut w, clock) = worker(true, true);
    // A miss (authorize, then forwarded), then hits from the cache.
    for id in 1..=5 {
        assert!(forwarded(&mut w, id, "/a?user_key=k"), "{id}");
    }
    // Every forwarded call waits for its response: the host must hand it over.
    assert_eq!(w.requests_remembered(), 5);
    assert!((1..=5).all(|id| w.remembers(id)));
    w.on_response(1, || Some(200));
    w.on_response(2, || Some(503));
    w.on_response(3, || Some(200));
    // An unreadable status: counted without a code.
    w.on_response(4, || None);
    // A second look at the same response reads nothing more.
    w.on_response(1, || panic!("read twice"));
    for id in 1..=4 {
        w.on_request_done(id);
    }
    // Request 5's client went before the response: counted without a code.
    w.on_request_done(5);
    assert_eq!(w.requests_remembered(), 0);
    assert_eq!(
        report(&mut w, &clock),
        "transactions[0][user_key]=k&transactions[0][timestamp]=960&transactions[0][usage][hits]=2\
         &transactions[1][user_key]=k&transactions[1][timestamp]=960&transactions[1][usage][hits]=1&transactions[1][log][code]=200\
         &transactions[2][user_key]=k&transactions[2][timestamp]=960&transactions[2][usage][hits]=1&transactions[2][log][code]=200\
         &transactions[3][user_key]=k&transactions[3][timestamp]=960&transactions[3][usage][hits]=1&transactions[3][log][code]=503"
    );
}

#[test]
fn without_codes_calls_are_counted_when_forwarded_and_no_status_is_read() {
    for (codes, batching) in [(false, true), (true, false), (false, false)] {
        let (mut w, clock) = worker(codes, batching);
        assert!(forwarded(&mut w, 1, "/a?user_key=k"), "{codes} {batching}");
        assert_eq!(w.requests_remembered(), 0, "nothing waits for the response");
        // So the host may skip the response phase and the end (the cached path does).
        assert!(!w.remembers(1));
        w.on_response(1, || panic!("status read"));
        w.on_request_done(1);
        if batching {
            assert_eq!(
                report(&mut w, &clock),
                "transactions[0][user_key]=k&transactions[0][timestamp]=960&transactions[0][usage][hits]=1"
            );
        }
    }
}

#[test]
fn authrep_mode_warns_that_no_code_is_sent() {
    let text = br#"{"backend":{"cluster":"b","report_response_codes":true},"services":[]}"#;
    let parsed = Config::parse(text).unwrap();
    assert!(parsed.config.backend.report_response_codes);
    assert!(
        parsed.warnings.iter().any(|w| w.starts_with(
            "backend.report_response_codes: authrep mode reports each call before the upstream answers"
        )),
        "{:?}",
        parsed.warnings
    );
    let text =
        br#"{"backend":{"cluster":"b","report_response_codes":true,"batching":{}},"services":[]}"#;
    assert!(Config::parse(text).unwrap().warnings.is_empty());
    let text = br#"{"backend":{"cluster":"b","report_response_codes":"yes"},"services":[]}"#;
    assert_eq!(
        Config::parse(text).unwrap_err().to_string(),
        "backend.report_response_codes: expected a boolean"
    );
}
