//! A service id given twice (found by an audit, 2026-12-06, module s25a): the later service
//! was skipped with a warning before its hosts were indexed, so its hosts and, with path
//! routing, its rules' paths went to the other services. A static configuration is now
//! refused, naming both; from 3scale System only the later one is skipped, and it holds the
//! hosts it is the first to list, as any skipped System service does (404, never forwarded).

mod support;

use e2e::document_server::DocumentServer;
use e2e::system;
use e2e::{wait_steady, Request, Response};
use serde_json::{json, Value};
use std::time::Duration;
use support::refusals::{describe, start_or_refused};
use support::*;

const API: &str = "api.example.com";

fn on(port: u16, host: &str, target: &str) -> Response {
    Request::get(target).header("Host", host).send(port)
}

fn rule(pattern: &str) -> Value {
    json!({"http_method": "GET", "pattern": pattern, "metric_system_name": "hits", "delta": 1})
}

/// Path routing on api.example.com: service 1 public (`mode: none`, `GET /`), then a
/// copy of it with the id left as it was, guarding `GET /admin` with a user key (Envoy's
/// `/admin` route would send it to the guarded upstream). Skipped, the copy let `GET /admin`
/// fall back to the public service and reach the upstream unchecked.
#[test]
fn a_static_service_id_given_twice_is_refused_naming_both() {
    let public = json!({"id": "1", "authentication": {"mode": "none"},
        "proxy": {"hosts": [API], "proxy_rules": [rule("/")]}});
    let guarded = service(
        1,
        json!(1),
        json!({"hosts": [API], "proxy_rules": [rule("/admin")]}),
    );
    let mut c = config(vec![public, guarded]);
    c["path_routing"] = json!(true);
    match start_or_refused(&c.to_string(), backend_state()) {
        Err(log) => {
            assert!(
                log.contains(
                    "invalid configuration: services[1].id: service 1 is defined twice (services[0])"
                ),
                "{log}"
            );
            assert!(
                log.contains("Unable to create Wasm plugin tollgate"),
                "{log}"
            );
        }
        Ok(s) => {
            let r = on(s.port(), API, "/admin");
            panic!(
                "accepted; GET /admin without a key got {} (upstream saw {} request(s), backend {} call(s))",
                describe(&r),
                s.echo.request_count(),
                s.backend.requests().len()
            );
        }
    }
}

fn entry(row: u64, content: &Value) -> String {
    json!({"proxy_config": {"id": row, "version": 1, "environment": "production",
        "content": content}})
    .to_string()
}

fn without_id(host: &str) -> Value {
    let mut s = service(0, json!(1), json!({"hosts": [host]}));
    s.as_object_mut().map(|s| s.remove("id"));
    s
}

/// From System (served verbatim): two services without an id, on one.example.com and
/// held.example.com, then service 1 (user_key) on api.example.com and held.example.com. The
/// second without id is skipped; held.example.com stays its (404), not service 1's, whose key
/// reached the upstream there on s25a.
#[test]
fn a_duplicate_from_system_holds_its_hosts() {
    let one = service(1, json!(1), json!({"hosts": ["held.example.com", API]}));
    let page = format!(
        "{{\"proxy_configs\":[{},{},{}]}}",
        entry(11, &without_id("one.example.com")),
        entry(12, &without_id("held.example.com")),
        entry(13, &one)
    );
    let doc = DocumentServer::start(&page).unwrap();
    let config = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": system::block(1)
    });
    let s = Stack::start_with(config, backend_state(), |b| {
        b.extra_cluster(system::CLUSTER, doc.port()).concurrency(2)
    });
    let port = s.port();
    let key = format!("/?user_key={USER_KEY}");
    assert!(
        wait_steady(Duration::from_secs(8), || on(port, API, &key).status == 200),
        "service 1 never served {API}"
    );
    let upstream_before = s.echo.request_count();
    let authreps_before = s.authreps().len();
    let r = on(port, "held.example.com", &key);
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, ""),
        "held.example.com is the skipped duplicate's: {}",
        describe(&r)
    );
    assert_eq!(
        s.echo.request_count(),
        upstream_before,
        "the upstream was reached"
    );
    assert_eq!(s.authreps().len(), authreps_before, "the backend was asked");
    let log = s.envoy.log();
    assert!(
        log.contains("a second service without id is skipped"),
        "{log}"
    );
}
