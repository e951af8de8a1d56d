//! The twenty-third session's new denials crossed with every request shape (bodies of each
//! kind, chunked, trailers, `Expect: 100-continue`, HTTP/2) in authrep and batching mode: an
//! arg spelled another way than a rule's nested name (`[filter][status]` for
//! `filter[status]`), a `url_rewriting` command's arg behind a `;`, and a repeated `X-Real-IP`
//! under `ip_check`. Each is answered by the filter and the upstream and the backend see
//! nothing; the allowed controls reach the upstream exactly once. In local mode too (a hashed
//! API key read from the same query arg): the backend sees nothing at all.

mod support;

use e2e::mock_backend::{App, Service, State};
use serde_json::{json, Value};
use support::adversarial::{assert_none, run_and_check, traps, Case, Expect, SHAPES};
use support::*;
use tollgate_core::auth::digest::stored_form;

/// Where the application is authorized.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Authrep,
    Batching,
    /// `authentication.mode: local`, an API key in the `user_key` query arg.
    Local,
}

const AMBIGUOUS: &str = "Bad Request: ambiguous argument";
const IP_DENIED: &str = "IP address not allowed\n";

fn host(id: u64) -> String {
    format!("s{id}.example.com")
}

/// Service 1: a rule on a nested arg; 2: `url_rewriting` setting `tenant`; 3: `ip_check`
/// letting in 127.0.0.1 as `X-Real-IP` says.
fn stack(mode: Mode) -> Stack {
    let any = |pattern: &str, metric: &str, delta: u64| json!({"http_method": "ANY", "pattern": pattern, "metric_system_name": metric, "delta": delta});
    let apicast = json!({"name": "apicast", "version": "builtin"});
    let chains = [
        json!([apicast]),
        json!([{"name": "url_rewriting", "configuration": {"query_args_commands": [
            {"op": "set", "arg": "tenant", "value": "acme"}]}}, apicast]),
        json!([{"name": "ip_check", "configuration": {"check_type": "whitelist",
            "ips": ["127.0.0.1"], "client_ip_sources": ["X-Real-IP"]}}, apicast]),
    ];
    let services: Vec<Value> = (1..=3)
        .zip(chains)
        .map(|(id, chain)| {
            let mut svc = service(
                id,
                json!(1),
                json!({"hosts": [host(id)], "policy_chain": chain, "proxy_rules": [
                    any("/orders?filter[status]=archived", "get_foo", 10), any("/", "hits", 1)]}),
            );
            if mode == Mode::Local {
                svc["authentication"] = json!({"mode": "local", "api_keys": {"query": "user_key",
                    "keys": [{"id": "k1", "hash": stored_form(USER_KEY)}]}});
            }
            svc
        })
        .collect();
    let mut cfg = config(services);
    if mode == Mode::Batching {
        cfg["backend"]["batching"] = json!({"auths_ttl": 30, "batch_report_seconds": 30});
    }
    let mut state = State::new();
    for id in ["1", "2", "3"] {
        let svc = Service::new(id).token(TOKEN).backend_version("1");
        state = state
            .service(svc.metric("hits", None).metric("get_foo", Some("hits")))
            .app(
                App::new(id, &format!("app-{id}"))
                    .user_key(USER_KEY)
                    .plan("Basic"),
            );
    }
    Stack::start_with(cfg, state, |b| b.http1_trailers().concurrency(2))
}

fn crossed(mode: Mode) {
    let s = stack(mode);
    let key = format!("user_key={USER_KEY}");
    let mut cases = Vec::new();
    for shape in SHAPES {
        let real_ip = |values: &[&str]| {
            (values.iter()).fold(Case::new(&host(3), &format!("/things?{key}")), |c, v| {
                c.header("X-Real-IP", v)
            })
        };
        for (name, case, expect) in [
            (
                "nested spelling",
                Case::new(
                    &host(1),
                    &format!("/orders?%5Bfilter%5D%5Bstatus%5D=archived&{key}"),
                ),
                Expect::Denied(400, AMBIGUOUS),
            ),
            (
                "nested rule",
                Case::new(
                    &host(1),
                    &format!("/orders?filter%5Bstatus%5D=archived&{key}"),
                ),
                Expect::Allowed,
            ),
            (
                "rewrite behind ;",
                Case::new(&host(2), &format!("/new?{key}&x=1;tenant=evil")),
                Expect::Denied(400, AMBIGUOUS),
            ),
            (
                "X-Real-IP twice",
                real_ip(&["127.0.0.1", "10.9.9.9"]),
                Expect::Denied(403, IP_DENIED),
            ),
            ("X-Real-IP", real_ip(&["127.0.0.1"]), Expect::Allowed),
        ] {
            cases.push((format!("{name}/{shape:?}"), shape, case, expect));
        }
    }
    let failures = run_and_check(&s, &cases, 4);
    assert_none("new denials", &failures, cases.len());
    assert!(traps(&s).is_empty(), "{:?}", traps(&s));
    if mode == Mode::Local {
        assert!(
            s.backend.requests().is_empty(),
            "{:?}",
            s.backend.requests()
        );
        return;
    }
    // The backend was asked only for the allowed services' applications.
    let asked: Vec<String> = (s.backend.requests().iter())
        .filter_map(|r| r.param("service_id").map(str::to_string))
        .collect();
    assert!(!asked.iter().any(|id| id == "2"), "{asked:?}");
    assert!(!asked.is_empty());
    // The nested rule's own spelling counts its metric.
    if mode == Mode::Authrep {
        let one = (s.backend.requests().into_iter())
            .filter(|r| r.param("service_id") == Some("1"))
            .map(|r| r.param("usage[get_foo]").map(str::to_string))
            .collect::<Vec<_>>();
        assert_eq!(one, vec![Some("10".to_string()); SHAPES.len()]);
    }
}

#[test]
fn new_denials_hold_across_request_shapes_in_authrep_mode() {
    crossed(Mode::Authrep);
}

#[test]
fn new_denials_hold_across_request_shapes_in_batching_mode() {
    crossed(Mode::Batching);
}

#[test]
fn new_denials_hold_across_request_shapes_in_local_mode() {
    crossed(Mode::Local);
}
