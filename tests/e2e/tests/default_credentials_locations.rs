//! `default_credentials` beside a credential sent where the service does not read it (found
//! by an audit, 2026-12-07): a service reading `user_key` from the headers got
//! `?user_key=<another app's key>` authorized and charged as the default application, and the
//! upstream read the query's key; the same for a header on a service reading the query, and
//! for either on one reading `Authorization`. Such a request carries a credential: auth
//! missing (401), as without the policy, with nothing at the upstream or the backend, in
//! authrep and batching mode.

mod support;

use e2e::mock_backend::{App, Service, State};
use e2e::Request;
use serde_json::{json, Value};
use support::locations::*;
use support::*;

const MISSING: &str = "Authentication parameters missing";

/// Version 1 services reading the headers (1), the query (2) and `Authorization` (3),
/// version 2 ones reading the headers (4) and the query (5); each has the default
/// application (`uk-anon`, `anon`/`k-anon`) and another one (`uk-admin`, `admin`/`k-admin`).
fn stack(batching: bool) -> Stack {
    let v1 = json!({"name": "default_credentials", "configuration": {
        "auth_type": "user_key", "user_key": "uk-anon"}});
    let v2 = json!({"name": "default_credentials", "configuration": {
        "auth_type": "app_id_and_app_key", "app_id": "anon", "app_key": "k-anon"}});
    let proxy = |id: u64, location: &str, defaults: &Value| -> Value {
        let mut p = located(id, location);
        p["policy_chain"] = json!([defaults, {"name": "apicast"}]);
        p
    };
    let services = vec![
        service(1, json!(1), proxy(1, "headers", &v1)),
        service(2, json!(1), proxy(2, "query", &v1)),
        service(3, json!(1), proxy(3, "authorization", &v1)),
        service(4, json!(2), proxy(4, "headers", &v2)),
        service(5, json!(2), proxy(5, "query", &v2)),
    ];
    let mut state = State::new();
    for (id, version) in [("1", "1"), ("2", "1"), ("3", "1"), ("4", "2"), ("5", "2")] {
        let svc = Service::new(id).token(TOKEN).backend_version(version);
        state = match version {
            "1" => anon_and_admin(state, id),
            _ => (state.service(svc.metric("hits", None)))
                .app(App::new(id, "anon").app_keys(&["k-anon"]).plan("Basic"))
                .app(App::new(id, "admin").app_keys(&["k-admin"]).plan("Basic")),
        };
    }
    let mut cfg = config(services);
    if batching {
        cfg["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    }
    Stack::start_with(cfg, state, |b| b.concurrency(2))
}

fn on(service: u64, target: &str, headers: &[(&str, &str)]) -> Request {
    with_headers(Request::get(target).header("Host", &host(service)), headers)
}

/// A form `POST` (or, `typed` false, a `POST` without a content type, a form to Rack).
fn form(service: u64, body: &str, typed: bool) -> Request {
    let r = Request::post("/a").header("Host", &format!("s{service}.example.com"));
    let r = match typed {
        true => r.header("Content-Type", "application/x-www-form-urlencoded"),
        false => r,
    };
    r.body(body)
}

/// The backend's authorizations (reports excluded: batching sends them on its own clock).
fn asked(s: &Stack) -> usize {
    let calls = s.backend.requests();
    calls
        .iter()
        .filter(|c| c.path != "/transactions.xml")
        .count()
}

#[test]
fn default_credentials_do_not_replace_a_credential_sent_where_the_service_does_not_read_it() {
    for batching in [false, true] {
        let s = stack(batching);
        // Anonymous, twice (batching: the second from the cache), and beside other args and
        // headers: the default application.
        for _ in 0..2 {
            for id in 1..=5 {
                let r = on(id, "/a?x=1", &[("X-Other", "1")]).send(s.port());
                assert_eq!(r.status, 200, "batching {batching}: control s{id}: {r}");
            }
            for id in [1, 3, 4] {
                let r = form(id, "x=1&user_keys=2", true).send(s.port());
                assert_eq!(
                    r.status, 200,
                    "batching {batching}: form control s{id}: {r}"
                );
            }
        }
        let (upstream, backend) = (s.echo.request_count(), asked(&s));
        let cases = [
            ("headers, ?user_key", on(1, "/a?user_key=uk-admin", &[])),
            ("headers, ?user.key", on(1, "/a?x=1&user.key=uk-admin", &[])),
            ("headers, ;user_key", on(1, "/a?x=1;user_key=uk-admin", &[])),
            ("query, User-Key", on(2, "/a", &[("User-Key", "uk-admin")])),
            ("query, user_key", on(2, "/a", &[("user_key", "uk-admin")])),
            (
                "authorization, ?user_key",
                on(3, "/a?user_key=uk-admin", &[]),
            ),
            (
                "authorization, User_Key",
                on(3, "/a", &[("User_Key", "uk-admin")]),
            ),
            ("v2 headers, ?app_id", on(4, "/a?app_id=admin", &[])),
            ("v2 headers, ?APP_KEY", on(4, "/a?APP_KEY=k-admin", &[])),
            ("v2 query, App-Id", on(5, "/a", &[("App-Id", "admin")])),
            ("v2 query, app_key", on(5, "/a", &[("app_key", "k-admin")])),
            (
                "headers, form user_key",
                form(1, "x=1&user_key=uk-admin", true),
            ),
            (
                "headers, untyped user.key",
                form(1, "user.key=uk-admin", false),
            ),
            (
                "authorization, form user_key",
                form(3, "user_key=uk-admin", true),
            ),
            ("v2 headers, form app_id", form(4, "app_id=admin", true)),
        ];
        for (what, r) in cases {
            let r = r.send(s.port());
            assert_eq!(
                (r.status, r.body.as_str()),
                (401, MISSING),
                "batching {batching}: {what}: {r}"
            );
        }
        assert_eq!(
            s.echo.request_count(),
            upstream,
            "batching {batching}: the upstream got a request carrying another app's credential"
        );
        assert_eq!(
            asked(&s),
            backend,
            "batching {batching}: the backend was asked"
        );
        // The controls went as the default applications; no call names the other ones.
        let calls = s.backend.requests();
        let asked_as = |k: &str, v: &str| calls.iter().any(|c| c.param(k) == Some(v));
        assert!(asked_as("user_key", "uk-anon") && asked_as("app_id", "anon"));
        // (batched reports carry theirs in the body)
        let named = |c: &e2e::mock_backend::ReceivedRequest| {
            c.query.iter().any(|(_, v)| v.contains("admin")) || c.body.contains("admin")
        };
        assert!(!calls.iter().any(named), "batching {batching}: {calls:?}");
    }
}
