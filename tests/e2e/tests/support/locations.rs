//! Services that each read credentials at one location, on `s<id>.example.com` with one rule
//! for every method, and the mock backend's caller and admin applications (the credential
//! location tests).

use super::{config, service, Stack, TOKEN};
use e2e::mock_backend::{App, Service, State};
use e2e::Request;
use serde_json::{json, Value};

/// Service `id`'s host.
pub fn host(id: u64) -> String {
    format!("s{id}.example.com")
}

/// Service `id`'s proxy: its host, `credentials_location`, a rule `ANY /` counting hits.
pub fn located(id: u64, location: &str) -> Value {
    json!({"hosts": [host(id)], "credentials_location": location,
        "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits",
            "delta": 1}]})
}

/// `proxy` with APIcast's batcher (authorizations and reports every 30 s).
pub fn batched(mut proxy: Value) -> Value {
    proxy["policy_chain"] = json!([{"name": "apicast", "version": "builtin"},
        {"name": "3scale_batcher", "configuration": {"auths_ttl": 30, "batch_report_seconds": 30}}]);
    proxy
}

/// Service `id` of `version` at the mock backend with the caller's and an admin application:
/// `uk-mine` and `uk-admin` (version 1), `mine`/`k-mine` and `admin`/`k-admin` (version 2).
pub fn mine_and_admin(state: State, id: &str, version: &str) -> State {
    let svc = Service::new(id).token(TOKEN).backend_version(version);
    let state = state.service(svc.metric("hits", None));
    let app = |name: String| App::new(id, &name).plan("Basic");
    match version {
        "1" => state
            .app(app(format!("app-{id}")).user_key("uk-mine"))
            .app(app(format!("admin-{id}")).user_key("uk-admin")),
        _ => state
            .app(app("mine".into()).app_keys(&["k-mine"]))
            .app(app("admin".into()).app_keys(&["k-admin"])),
    }
}

/// `r` with `headers` added.
pub fn with_headers(r: Request, headers: &[(&str, &str)]) -> Request {
    (headers.iter()).fold(r, |r, (k, v)| r.header(k, v))
}

/// `default_credentials` (`uk-anon`) before `apicast`, and the batcher after it when
/// `batching`.
pub fn anonymous_chain(batching: bool) -> Value {
    let mut chain = vec![
        json!({"name": "default_credentials",
            "configuration": {"auth_type": "user_key", "user_key": "uk-anon"}}),
        json!({"name": "apicast", "version": "builtin"}),
    ];
    if batching {
        chain.push(json!({"name": "3scale_batcher",
            "configuration": {"auths_ttl": 30, "batch_report_seconds": 30}}));
    }
    Value::Array(chain)
}

/// Version 1 service `id` at the mock backend with the default credentials' application
/// (`uk-anon`) and an admin one (`uk-admin`).
pub fn anon_and_admin(state: State, id: &str) -> State {
    let svc = Service::new(id).token(TOKEN).backend_version("1");
    let app = |name: String| App::new(id, &name).plan("Basic");
    state
        .service(svc.metric("hits", None))
        .app(app(format!("anon-{id}")).user_key("uk-anon"))
        .app(app(format!("admin-{id}")).user_key("uk-admin"))
}

/// The callers of [`mine_and_admin`] on five services, two workers. 1: version 1, query, authrep; 2: the same, batching; 3: version 2, headers, authrep;
/// 4: version 2, `Authorization`, batching; 5: version 1, headers, `default_credentials`.
pub fn every_location_stack() -> Stack {
    let mut anonymous: Value = located(5, "headers");
    anonymous["policy_chain"] = anonymous_chain(false);
    let services = vec![
        service(1, json!(1), located(1, "query")),
        service(2, json!(1), batched(located(2, "query"))),
        service(3, json!(2), located(3, "headers")),
        service(4, json!(2), batched(located(4, "authorization"))),
        service(5, json!(1), anonymous),
    ];
    let state = [("1", "1"), ("2", "1"), ("3", "2"), ("4", "2")]
        .iter()
        .fold(State::new(), |st, (id, v)| mine_and_admin(st, id, v));
    let state = anon_and_admin(state, "5");
    Stack::start_with(config(services), state, |b| b.concurrency(2))
}
