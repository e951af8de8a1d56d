//! The `rate_limit_headers` policy through the worker (APIcast's
//! t/apicast-policy-rate_limit_headers.t, natively): what the client gets on forwards and on
//! the filter's own replies, in authrep mode (the request's own answer) and with batching
//! (the cached entry counted down across two workers sharing one store).

use super::tests::APICAST;
use super::*;
use crate::backend::BackendAnswer;
use crate::cache::store::Conflict;
use crate::cache::{MemoryStore, SharedStore};
use crate::config::Config;
use crate::pipeline::{Clock, RequestId, RequestLine, Step, Steps, Worker};
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

struct Store(Rc<MemoryStore>);
impl SharedStore for Store {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
        self.0.get(key)
    }
    fn set(&self, key: &str, value: &[u8], version: u32) -> Result<(), Conflict> {
        self.0.set(key, value, version)
    }
}

struct FakeClock(Rc<Cell<u64>>);
impl Clock for FakeClock {
    fn now_ms(&self) -> Option<u64> {
        Some(self.0.get())
    }
}

struct NoHeaders;
impl HeaderSource for NoHeaders {
    fn header(&self, _: &str) -> Option<String> {
        None
    }
}

const RATE_LIMIT: fn() -> Value = || json!({"name": "rate_limit_headers"});

/// Service 1 with `chain`: `/` is hits 1, `/two` is hits 2 and foo 1 (two metrics).
fn config(chain: Value, batching: bool) -> Value {
    let mut backend = json!({"cluster": "b"});
    if batching {
        backend["batching"] = json!({"auths_ttl": 30, "batch_report_seconds": 1});
    }
    let v = json!({
        "backend": backend,
        "services": [{"id": 1, "backend_version": 1,
            "backend_authentication_type": "service_token", "backend_authentication_value": "tok",
            "proxy": {"hosts": ["api"], "policy_chain": chain,
              "proxy_rules": [
                {"http_method": "GET", "pattern": "/$", "metric_system_name": "hits", "delta": 1},
                {"http_method": "GET", "pattern": "/two", "metric_system_name": "hits", "delta": 2},
                {"http_method": "GET", "pattern": "/two", "metric_system_name": "foo", "delta": 1}]}}]
    });
    v
}

/// Workers on one store and one clock; requests are answered as the adapter would.
struct Gateway {
    workers: Vec<Worker>,
    clock: Rc<Cell<u64>>,
    /// Calls in flight: (worker, token, path).
    calls: Vec<(usize, u32, String)>,
    next_token: u32,
    /// The status each request got (200: forwarded).
    status: HashMap<RequestId, u16>,
    /// Where each request went: its worker.
    on: HashMap<RequestId, usize>,
}

impl Gateway {
    fn new(chain: Value, batching: bool, workers: usize) -> Gateway {
        Gateway::with(config(chain, batching), workers)
    }

    fn with(config: Value, workers: usize) -> Gateway {
        let config = Config::parse(config.to_string().as_bytes()).unwrap().config;
        let config = Rc::new(config);
        let store = Rc::new(MemoryStore::default());
        let clock = Rc::new(Cell::new(1_000_000));
        let new = |_| {
            let (store, clock) = (Store(store.clone()), FakeClock(clock.clone()));
            Worker::new(config.clone(), Box::new(store), Box::new(clock))
        };
        Gateway {
            workers: (0..workers).map(new).collect(),
            clock,
            calls: Vec::new(),
            next_token: 1,
            status: HashMap::new(),
            on: HashMap::new(),
        }
    }

    fn send(&mut self, w: usize, id: RequestId, path: &str) {
        self.on.insert(id, w);
        let line = RequestLine {
            method: "GET",
            authority: "api",
            path,
        };
        let steps = self.workers[w].on_request_headers(id, line, &NoHeaders, true);
        self.carry_out(w, id, steps);
    }

    /// The backend answers the oldest call: `status` and its `3scale-limit-*` headers
    /// (max-value, remaining, reset). Returns the call's path.
    fn answer(&mut self, status: u16, limits: [Option<&str>; 3]) -> String {
        let (w, token, path) = self.calls.remove(0);
        let [max, remaining, reset] = limits.map(|v| v.map(str::to_string));
        let answer = BackendAnswer {
            status: Some(status),
            rejection_reason: (status == 409).then(|| "limits_exceeded".to_string()),
            limit_max_value: max,
            limit_remaining: remaining,
            limit_reset: reset,
            foreign: false,
        };
        let steps = self.workers[w].on_backend_answer(token, Some(answer));
        self.carry_out(w, 0, steps);
        path
    }

    fn carry_out(&mut self, w: usize, home: RequestId, steps: Steps) {
        for step in steps.list {
            match step {
                Step::Reply { request, reply } => {
                    self.status.insert(request, reply.status);
                }
                Step::Forward { request, .. } => {
                    self.status.insert(request, 200);
                }
                Step::Call { call, purpose } => {
                    let token = self.next_token;
                    self.next_token += 1;
                    self.calls.push((w, token, call.path.clone()));
                    self.workers[w].on_call_sent(token, purpose, home);
                }
                Step::Notify(key) => {
                    for i in 0..self.workers.len() {
                        let steps = self.workers[i].on_wake(key.as_str());
                        self.carry_out(i, 0, steps);
                    }
                }
                Step::ReadBody { .. } | Step::ScanBody { .. } => panic!("no bodies here"),
            }
        }
    }

    /// The `RateLimit-*` headers request `id` got, as (limit, remaining, reset); `None`
    /// when none; panics when only some are there.
    fn got(&self, id: RequestId) -> Option<(String, String, String)> {
        let status = self.status[&id];
        let worker = &self.workers[self.on[&id]];
        let (_, ops) = worker
            .response_policies(id)?
            .response(Some(status), &|_| false);
        let value = |name: &str| {
            let found = ops.iter().find(|(_, n, _)| n == name);
            found.map(|(op, _, v)| {
                assert_eq!(*op, EditOp::Set);
                v.clone()
            })
        };
        let limit = value("RateLimit-Limit");
        let remaining = value("RateLimit-Remaining");
        let reset = value("RateLimit-Reset");
        match (limit, remaining, reset) {
            (Some(l), Some(r), Some(s)) => Some((l, r, s)),
            (None, None, None) => None,
            other => panic!("some headers only: {other:?}"),
        }
    }
}

fn figures(limit: &str, remaining: &str, reset: &str) -> Option<(String, String, String)> {
    Some((limit.into(), remaining.into(), reset.into()))
}

const OK: u16 = 200;

#[test]
fn authrep_gives_each_request_its_own_answer() {
    let mut g = Gateway::new(json!([RATE_LIMIT(), APICAST()]), false, 1);
    // TEST 1.
    g.send(0, 1, "/?user_key=k");
    assert!(g
        .answer(OK, [Some("10"), Some("9"), Some("60")])
        .contains("authrep.xml"));
    assert_eq!((g.status[&1], g.got(1)), (200, figures("10", "9", "60")));
    // TEST 2: another usage, its own figures; TEST 3 in authrep mode: no auth cache, the
    // backend's next answer (there is no local countdown to go stale).
    g.send(0, 2, "/two?user_key=k");
    g.answer(OK, [Some("100"), Some("99"), Some("3600")]);
    assert_eq!(g.got(2), figures("100", "99", "3600"));
    g.send(0, 3, "/?user_key=k");
    g.answer(OK, [Some("10"), Some("8"), Some("57")]);
    assert_eq!(g.got(3), figures("10", "8", "57"));
    // TEST 7: no limit headers, no RateLimit headers; nor with the backend's "no limit
    // applies" (-1/-1), a disabled metric's 0/-1/0 or a reset of 0.
    for (id, limits) in [
        (4, [None, None, None]),
        (5, [None, Some("-1"), Some("-1")]),
        (6, [Some("10"), Some("9"), Some("0")]),
    ] {
        g.send(0, id, "/?user_key=k");
        g.answer(OK, limits);
        assert_eq!((g.status[&id], g.got(id)), (200, None), "{limits:?}");
    }
    g.send(0, 7, "/?user_key=k");
    g.answer(409, [Some("0"), Some("0"), Some("-1")]);
    assert_eq!((g.status[&7], g.got(7)), (403, None), "a disabled metric");
    // Negative figures are 0.
    g.send(0, 8, "/?user_key=k");
    g.answer(OK, [Some("-3"), Some("-1"), Some("5")]);
    assert_eq!(g.got(8), figures("0", "0", "5"));
}

#[test]
fn a_limits_exceeded_reply_carries_remaining_0_and_an_auth_failure_nothing() {
    let mut g = Gateway::new(json!([APICAST(), RATE_LIMIT()]), false, 1);
    g.send(0, 1, "/?user_key=k");
    g.answer(409, [Some("10"), Some("0"), Some("42")]);
    assert_eq!((g.status[&1], g.got(1)), (429, figures("10", "0", "42")));
    // The backend sends no limit headers with an auth failure.
    g.send(0, 2, "/?user_key=bad");
    g.answer(403, [None, None, None]);
    assert_eq!((g.status[&2], g.got(2)), (403, None));
    // The filter's own denials: no backend, no figures.
    g.send(0, 3, "/");
    assert_eq!((g.status[&3], g.got(3)), (401, None));
    g.send(0, 4, "/nothing-matches?user_key=k");
    assert_eq!((g.status[&4], g.got(4)), (404, None));
}

#[test]
fn the_headers_come_before_the_chains_header_operations_wherever_the_policy_stands() {
    let headers = json!({"name": "headers", "configuration": {"response": [
        {"op": "set", "header": "RateLimit-Reset", "value": ""},
        {"op": "add", "header": "RateLimit-Limit", "value": "extra"}]}});
    let mut g = Gateway::new(json!([headers, APICAST(), RATE_LIMIT()]), false, 1);
    g.send(0, 1, "/?user_key=k");
    g.answer(OK, [Some("10"), Some("9"), Some("60")]);
    let p = g.workers[0].response_policies(1).unwrap();
    let (_, ops) = p.response(Some(200), &|_| false);
    let op = |op, n: &str, v: &str| (op, n.to_string(), v.to_string());
    assert_eq!(
        ops,
        [
            op(EditOp::Set, "RateLimit-Limit", "10"),
            op(EditOp::Set, "RateLimit-Remaining", "9"),
            op(EditOp::Set, "RateLimit-Reset", "60"),
            op(EditOp::Delete, "RateLimit-Reset", ""),
            // `add` sees the header the policy set.
            op(EditOp::Push, "RateLimit-Limit", "extra"),
        ]
    );
    // A chain without the policy: no headers, whatever the backend says.
    let mut g = Gateway::new(json!([APICAST()]), false, 1);
    g.send(0, 1, "/?user_key=k");
    g.answer(OK, [Some("10"), Some("9"), Some("60")]);
    assert_eq!((g.status[&1], g.got(1)), (200, None));
}

#[test]
fn batching_counts_the_cached_budget_down_across_workers() {
    let mut g = Gateway::new(json!([RATE_LIMIT(), APICAST()]), true, 2);
    // TEST 6: the first request is authorized by an `authorize`, which does not count it:
    // 10 left before it, 9 after.
    g.send(0, 1, "/?user_key=k");
    assert!(g
        .answer(OK, [Some("10"), Some("10"), Some("60")])
        .contains("authorize.xml"));
    assert_eq!((g.status[&1], g.got(1)), (200, figures("10", "9", "60")));
    // Then from the cache, one call less each, on either worker (a budget under 32 is
    // leased one call at a time: exact), the reset counting down from its deadline.
    g.clock.set(1_000_000 + 4_500);
    g.send(1, 2, "/?user_key=k");
    assert_eq!(g.got(2), figures("10", "8", "56"));
    g.send(0, 3, "/?user_key=k");
    assert_eq!(g.got(3), figures("10", "7", "56"));
    assert!(g.calls.is_empty(), "no more backend calls");
    // TEST 4: a usage of two metrics is one more call of that usage, counted down by one;
    // TEST 2: its own entry and figures.
    g.send(1, 4, "/two?user_key=k");
    g.answer(OK, [Some("100"), Some("20"), Some("3600")]);
    g.send(0, 5, "/two?user_key=k");
    assert_eq!(g.got(4), figures("100", "19", "3600"));
    assert_eq!(g.got(5), figures("100", "18", "3600"));
    // Another application with the same usage: its own entry (APIcast would share one).
    g.send(0, 6, "/?user_key=other");
    g.answer(OK, [Some("10"), Some("3"), Some("60")]);
    assert_eq!(g.got(6), figures("10", "2", "60"));
    g.send(1, 7, "/?user_key=k");
    assert_eq!(g.got(7), figures("10", "6", "56"));
}

#[test]
fn batching_ends_the_budget_with_a_429_that_says_0_left() {
    let mut g = Gateway::new(json!([RATE_LIMIT(), APICAST()]), true, 2);
    g.send(0, 1, "/?user_key=k");
    g.answer(OK, [Some("10"), Some("2"), Some("60")]);
    g.send(1, 2, "/?user_key=k");
    assert_eq!(g.got(1), figures("10", "1", "60"));
    assert_eq!(g.got(2), figures("10", "0", "60"));
    // The budget is spent: the next request asks again; the backend says limits exceeded.
    g.send(0, 3, "/?user_key=k");
    g.answer(409, [Some("10"), Some("0"), Some("60")]);
    assert_eq!((g.status[&3], g.got(3)), (429, figures("10", "0", "60")));
    // And the cached denial says so too, on the other worker.
    g.clock.set(1_000_000 + 1_000);
    g.send(1, 4, "/?user_key=k");
    assert_eq!((g.status[&4], g.got(4)), (429, figures("10", "0", "59")));
}

#[test]
fn batching_without_figures_sends_no_headers() {
    let mut g = Gateway::new(json!([RATE_LIMIT(), APICAST()]), true, 1);
    // TEST 7: no limit headers: an unlimited authorization.
    g.send(0, 1, "/?user_key=k");
    g.answer(OK, [None, None, None]);
    g.send(0, 2, "/?user_key=k");
    assert_eq!((g.status[&1], g.got(1)), (200, None));
    assert_eq!((g.status[&2], g.got(2)), (200, None));
    // A budget without a reset: no headers either.
    g.send(0, 3, "/two?user_key=k");
    g.answer(OK, [Some("10"), Some("5"), None]);
    assert_eq!((g.status[&3], g.got(3)), (200, None));
    // An auth failure.
    g.send(0, 4, "/?user_key=bad");
    g.answer(403, [None, None, None]);
    g.send(0, 5, "/?user_key=bad");
    assert_eq!((g.status[&4], g.got(4)), (403, None));
    assert_eq!((g.status[&5], g.got(5)), (403, None));
}

#[test]
fn batching_budgets_leased_in_slices_count_down_per_worker() {
    // 100 left: each worker leases 6 calls at a time. A worker counts its own slice down and
    // sees the shared budget as it was when it took the slice: worker 1's figure leaves out
    // the 5 calls worker 0 still holds (93, where 98 are left), worker 0's second figure
    // misses worker 1's call (98, where 97 are left).
    let mut g = Gateway::new(json!([RATE_LIMIT(), APICAST()]), true, 2);
    g.send(0, 1, "/?user_key=k");
    g.answer(OK, [Some("100"), Some("100"), Some("60")]);
    g.send(1, 2, "/?user_key=k");
    g.send(0, 3, "/?user_key=k");
    let remaining = |g: &Gateway, id| g.got(id).map(|(_, r, _)| r);
    assert_eq!(remaining(&g, 1).as_deref(), Some("99"));
    assert_eq!(remaining(&g, 2).as_deref(), Some("93"));
    assert_eq!(remaining(&g, 3).as_deref(), Some("98"));
}

#[test]
fn services_without_the_3scale_backend_get_no_headers() {
    for mode in ["none", "local"] {
        let mut c = config(json!([RATE_LIMIT(), APICAST()]), false);
        c["services"][0]["authentication"] = json!({"mode": mode});
        if mode == "local" {
            c["services"][0]["authentication"]["basic_users"] = json!([{"username": "u",
                "hash": crate::auth::digest::stored_form("p")}]);
        }
        let mut g = Gateway::with(c, 1);
        g.send(0, 1, "/?user_key=k");
        assert!(g.calls.is_empty());
        let status = if mode == "none" { 200 } else { 401 };
        assert_eq!((g.status[&1], g.got(1)), (status, None), "{mode}");
    }
}

#[test]
fn a_request_not_authorized_by_the_backend_gets_no_headers() {
    // Requests that were never asked about (no credentials) and the failure policy.
    let mut g = Gateway::new(json!([RATE_LIMIT(), APICAST()]), false, 1);
    g.send(0, 1, "/?user_key=k");
    let (w, token, _) = g.calls.remove(0);
    let steps = g.workers[w].on_backend_answer(token, Some(BackendAnswer::default()));
    g.carry_out(w, 0, steps);
    assert_eq!((g.status[&1], g.got(1)), (403, None));
}

/// The failure policy decides from the last known answer, not from a budget: no figures,
/// whatever this worker's copy of the entry still held from its last lease (found by an
/// audit, 2026-12-06: a request forwarded by `resilient` got the last lease's 10/1/60).
#[test]
fn the_failure_policys_forwards_get_no_figures() {
    for caching_type in ["resilient", "allow"] {
        let mut c = config(json!([RATE_LIMIT(), APICAST()]), true);
        c["backend"]["caching_type"] = json!(caching_type);
        let mut g = Gateway::with(c, 2);
        g.send(0, 1, "/?user_key=k");
        g.answer(OK, [Some("10"), Some("2"), Some("60")]);
        g.send(1, 2, "/?user_key=k");
        assert_eq!(g.got(2), figures("10", "0", "60"));
        g.send(0, 3, "/?user_key=k");
        g.answer(503, [None, None, None]);
        assert_eq!((g.status[&3], g.got(3)), (200, None), "{caching_type}");
        // And from the policy's answer without asking (the backend failed under 1 s ago).
        g.send(0, 4, "/?user_key=k");
        assert!(g.calls.is_empty());
        assert_eq!((g.status[&4], g.got(4)), (200, None), "{caching_type}");
    }
}

/// A remembered limit: the policy's 429 says nothing either (the backend is down).
#[test]
fn the_failure_policys_429_gets_no_figures() {
    let mut c = config(json!([RATE_LIMIT(), APICAST()]), true);
    c["backend"]["caching_type"] = json!("resilient");
    let mut g = Gateway::with(c, 2);
    g.send(0, 1, "/?user_key=k");
    g.answer(OK, [Some("10"), Some("2"), Some("60")]);
    g.send(1, 2, "/?user_key=k");
    g.send(1, 3, "/?user_key=k");
    g.answer(409, [Some("10"), Some("0"), Some("5")]);
    assert_eq!((g.status[&3], g.got(3)), (429, figures("10", "0", "5")));
    g.clock.set(1_000_000 + 6_000);
    g.send(0, 4, "/?user_key=k");
    g.answer(503, [None, None, None]);
    assert_eq!((g.status[&4], g.got(4)), (429, None));
}
