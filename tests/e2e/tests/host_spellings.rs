//! Service hosts as configured and as clients send them (an audit of the configuration
//! reader, 2026-12-07). The request's host is read as nginx's `$host` (lower-cased, without its
//! port and one trailing dot); each test asserts what the client got, what the upstream
//! received and what the backend was asked.
//!
//! Findings (each test fails on s31a):
//! - a `proxy.hosts` entry no request's host can be (`*.example.com` or `.example.com`, read
//!   as a wildcard; a space; a URL; `..`) was accepted: the service was never selected, its
//!   requests all 404. Now refused with its path; from 3scale System that service alone is
//!   skipped, its other hosts held;
//! - `API.Example.com.` (a trailing dot) was listed as written, and no request matched it;
//! - `Host: api.example.com.` selected no service (nginx serves it as `api.example.com`), and
//!   `X-Forwarded-Host: api.example.com.` on another service's host was let through, though
//!   upstreams (Django) read it as `api.example.com`. Now the dot is dropped: the request is
//!   its service's, and it goes upstream without the dot, so that Envoy's virtual hosts (which
//!   do not match `public.example.com.`) route it where the filter selected, never to a
//!   catch-all's upstream; a forwarded host with the dot is `400 ambiguous host`.
//! - red team of those fixes (fails on the module before it, not on s31a): two services
//!   listing one host with and without the dot shared it, the first service's checks passing
//!   requests to the other's virtual host. A static configuration doing so is refused.
//! - (thirty-second session) the same two services from 3scale System shared the host, the
//!   first in System's order (which a deploy changes) serving it. Now neither serves it
//!   (404), their other hosts are served (fails on s32a).

mod support;

use e2e::system::{self, MockSystem, Stored, WithSystem};
use e2e::{wait_steady, EchoRequest, EchoUpstream, Request, Response};
use serde_json::{json, Value};
use std::time::Duration;
use support::refusals::*;
use support::*;

const API_SECRET: &str = "api-secret-token";
const PUBLIC_SECRET: &str = "public-secret-token";

#[test]
fn hosts_no_request_can_have_are_refused_with_their_path() {
    for (host, shown, sent) in [
        ("*.example.com", "a wildcard", "www.example.com"),
        (".example.com", "a wildcard", "www.example.com"),
        (
            "api example.com",
            "never a request's host",
            "api.example.com",
        ),
        (
            "https://shop.example.com",
            "never a request's host",
            "shop.example.com",
        ),
        ("shop..example.com", "empty label", "shop.example.com"),
    ] {
        let svc = service(1, json!(1), json!({"hosts": ["api.example.com", host]}));
        match start_or_refused(&config(vec![svc]).to_string(), backend_state()) {
            Err(log) => assert!(
                log.contains("invalid configuration: services[0].proxy.hosts[1]: ")
                    && log.contains(shown),
                "{host:?}: refused, but not at the host: {log}"
            ),
            Ok(s) => {
                let r = Request::get(&format!("/?user_key={USER_KEY}"))
                    .header("Host", sent)
                    .send(s.port());
                panic!(
                    "accepted with {host:?}: GET / on {sent} {}; the upstream got {} request(s)",
                    describe(&r),
                    s.echo.request_count()
                );
            }
        }
    }
}

/// From 3scale System: the service listing a wildcard is skipped, and the host it lists
/// beside it held (404, also as `api.example.com.`); the other service is served.
#[test]
fn a_system_service_with_a_wildcard_host_alone_is_skipped() {
    let (s, _mock) = served_beside(json!({"hosts": ["*.example.com", "api.example.com"]}));
    assert!(
        s.envoy.wait_for_log("a wildcard", Duration::from_secs(2)),
        "the service with a wildcard host was not skipped"
    );
    for host in ["api.example.com", "api.example.com.", "*.example.com"] {
        let r = Request::get(&format!("/?user_key={USER_KEY}"))
            .header("Host", host)
            .send(s.port());
        assert_eq!(r.status, 404, "{host}: {}", describe(&r));
    }
    only_service_two_served(&s);
}

/// `API.Example.com.` is the host `api.example.com`, as a request's host is read.
#[test]
fn a_listed_host_in_upper_case_with_a_trailing_dot_is_served() {
    let s = Stack::start(config(vec![service(
        1,
        json!(1),
        json!({"hosts": ["API.Example.com."]}),
    )]));
    let r = Request::get(&format!("/?user_key={USER_KEY}"))
        .header("Host", "api.example.com")
        .send(s.port());
    assert_eq!(r.status, 200, "{}", describe(&r));
    let got: Vec<String> = (s.echo.requests().iter())
        .map(|r| format!("{} {}", r.header("host").unwrap_or_default(), r.path))
        .collect();
    assert_eq!(got, [format!("api.example.com /?user_key={USER_KEY}")]);
    assert_one_authrep_for_service_one(&s);
}

/// Service 1 on `api.example.com` (user_key in a header), service 20 open on
/// `public.example.com`; Envoy has a virtual host for `public.example.com` (its upstream)
/// and a catch-all to `upstream`, service 1's.
fn split_hosts() -> (Stack, EchoUpstream) {
    let rule =
        json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let api = service(
        1,
        json!(1),
        json!({"hosts": ["api.example.com"], "secret_token": API_SECRET,
               "credentials_location": "headers", "proxy_rules": rule}),
    );
    let public = json!({"id": 20, "system_name": "public",
        "authentication": {"mode": "none"},
        "proxy": {"hosts": ["public.example.com"], "secret_token": PUBLIC_SECRET,
                  "proxy_rules": rule}});
    let public_upstream = EchoUpstream::start().unwrap();
    let port = public_upstream.port();
    let s = Stack::start_with(config(vec![api, public]), backend_state(), |b| {
        (b.extra_cluster("upstream_public", port))
            .virtual_host(&["public.example.com"], "upstream_public")
    });
    (s, public_upstream)
}

fn seen(requests: &[EchoRequest]) -> Vec<String> {
    (requests.iter())
        .map(|r| {
            let host = r.header("host").unwrap_or_default();
            let secret = r.header_all("x-3scale-proxy-secret-token").join(",");
            format!("{} {host} secret {secret}", r.path)
        })
        .collect()
}

/// `Host: public.example.com.` is the public service, as nginx reads it, and Envoy delivers it
/// to the public upstream: the filter sends it without the dot (Envoy's virtual host would
/// not match the dot, and the catch-all would give the protected upstream a request nobody
/// checked). `api.example.com.` is service 1's, checked and reported as service 1.
#[test]
fn a_client_host_with_a_trailing_dot_is_its_service_and_routed_there() {
    let (s, public) = split_hosts();
    let send = |path: &str, host: &str, key: Option<&str>| {
        let r = Request::get(path).header("Host", host);
        let r = match key {
            Some(key) => r.header("user_key", key),
            None => r,
        };
        r.send(s.port())
    };
    let r = send("/open", "public.example.com.", None);
    assert_eq!(r.status, 200, "{}", describe(&r));
    let r = send("/keyed", "api.example.com.", Some(USER_KEY));
    assert_eq!(r.status, 200, "{}", describe(&r));
    let r = send("/no-key", "api.example.com.", None);
    assert_eq!(r.status, 401, "{}", describe(&r));
    // Two dots: no host (nginx answers 400).
    let r = send("/two-dots", "public.example.com..", None);
    assert_eq!(r.status, 404, "{}", describe(&r));
    assert_eq!(
        seen(&public.requests()),
        [format!("/open public.example.com secret {PUBLIC_SECRET}"),]
    );
    assert_eq!(
        seen(&s.echo.requests()),
        [format!("/keyed api.example.com secret {API_SECRET}")]
    );
    assert_one_authrep_for_service_one(&s);
}

/// `X-Forwarded-Host: api.example.com.` names service 1's host to an upstream that drops the
/// dot (Django): on the public host it is `400 ambiguous host`, as without the dot.
#[test]
fn a_forwarded_host_with_a_trailing_dot_names_its_host() {
    let (s, public) = split_hosts();
    for (header, value) in [
        ("X-Forwarded-Host", "api.example.com."),
        ("X-Forwarded-Host", "API.example.com.:443"),
        ("Forwarded", "host=api.example.com."),
    ] {
        let r = Request::get("/open")
            .header("Host", "public.example.com")
            .header(header, value)
            .send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (400, "Bad Request: ambiguous host"),
            "{header}: {value}"
        );
    }
    assert!(
        public.requests().is_empty(),
        "{:?}",
        seen(&public.requests())
    );
    assert!(
        s.echo.requests().is_empty(),
        "{:?}",
        seen(&s.echo.requests())
    );
    assert!(s.authreps().is_empty());
    // Control: a forwarded host no service lists passes.
    let r = Request::get("/open")
        .header("Host", "public.example.com")
        .header("X-Forwarded-Host", "cdn.example.net.")
        .send(s.port());
    assert_eq!(r.status, 200, "{}", describe(&r));
}

/// The backend got one authrep: service 1's, with its caller's key.
fn assert_one_authrep_for_service_one(s: &Stack) {
    let asked: Vec<(String, String)> = (s.authreps().iter())
        .map(|r| {
            let param = |n| r.param(n).unwrap_or("?").to_string();
            (param("service_id"), param("user_key"))
        })
        .collect();
    assert_eq!(asked, [("1".to_string(), USER_KEY.to_string())]);
}

/// An open service listing `public.example.com.` before service 1 listing
/// `public.example.com`: one host once the dot is dropped, and Envoy's catch-all (service 1's
/// upstream) routes `public.example.com`. Refused at service 1's host (found by a red team,
/// 2026-12-07: `Host: public.example.com` without a key was forwarded as the open service to
/// service 1's upstream with the open service's secret token; s31a served each host as
/// listed, so this fails on the module before the fix, not on s31a).
#[test]
fn one_host_listed_with_and_without_a_trailing_dot_by_two_services_is_refused() {
    let rule =
        json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let open = json!({"id": 20, "system_name": "open",
        "authentication": {"mode": "none"},
        "proxy": {"hosts": ["public.example.com."], "secret_token": PUBLIC_SECRET,
                  "proxy_rules": rule}});
    let api = service(
        1,
        json!(1),
        json!({"hosts": ["public.example.com"], "secret_token": API_SECRET,
               "credentials_location": "headers", "proxy_rules": rule}),
    );
    let paths = ["services[1].proxy.hosts[0]: public.example.com is services[0]'s"];
    refused_at_or(config(vec![open, api]), backend_state(), &paths, |s| {
        let r = Request::get("/no-key")
            .header("Host", "public.example.com")
            .send(s.port());
        assert_eq!(r.status, 401, "{}", describe(&r));
        assert!(
            s.echo.requests().is_empty(),
            "{:?}",
            seen(&s.echo.requests())
        );
        assert!(s.authreps().is_empty());
    });
}

/// Service 1 on `public.example.com` and `api.example.com`, `user_key` in a header.
fn keyed_service(rules: Value) -> Value {
    service(
        1,
        json!(1),
        json!({"hosts": ["public.example.com", "api.example.com"], "secret_token": API_SECRET,
               "credentials_location": "headers", "proxy_rules": rules}),
    )
}

/// Service 20, open, on `public.example.com.` and `open.example.com`.
fn open_service() -> Value {
    json!({"id": 20, "system_name": "open", "authentication": {"mode": "none"},
        "proxy": {"hosts": ["public.example.com.", "open.example.com"],
                  "secret_token": PUBLIC_SECRET, "proxy_rules": any_rule()}})
}

fn any_rule() -> Value {
    json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}])
}

/// Envoy (2 workers) loading from `mock`: a virtual host for `open.example.com` (service
/// 20's upstream, returned) and the catch-all to service 1's (`Stack::echo`).
fn from_system(mock: &MockSystem) -> (Stack, EchoUpstream) {
    let open = EchoUpstream::start().unwrap();
    let port = open.port();
    let cfg = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": system::block(1)
    });
    let s = Stack::start_with(cfg, backend_state(), |b| {
        (b.with_system(mock).concurrency(2))
            .extra_cluster("upstream_open", port)
            .virtual_host(&["open.example.com"], "upstream_open")
    });
    (s, open)
}

fn on(s: &Stack, path: &str, host: &str, key: bool) -> Response {
    let r = Request::get(path).header("Host", host);
    match key {
        true => r.header("user_key", USER_KEY).send(s.port()),
        false => r.send(s.port()),
    }
}

/// Neither service serves `public.example.com` (any spelling; with or without a key):
/// 404, nothing upstream, no authrep. Their other hosts are served.
/// Waits (up to `secs`) until `/` on `host` answers 200 steadily.
fn until_served(s: &Stack, secs: u64, host: &str, key: bool, what: &str) {
    let served = || on(s, "/", host, key).status == 200;
    assert!(wait_steady(Duration::from_secs(secs), served), "{what}");
}

fn public_served_by_neither(s: &Stack, open: &EchoUpstream) {
    let (echo, opened, asked) = (
        s.echo.request_count(),
        open.request_count(),
        s.authreps().len(),
    );
    for host in [
        "public.example.com",
        "public.example.com.",
        "PUBLIC.example.com:80",
    ] {
        for key in [false, true] {
            let r = on(s, "/public", host, key);
            assert_eq!(r.status, 404, "{host}, key {key}: {}", describe(&r));
        }
    }
    assert_eq!(seen(&s.echo.requests()[echo..]), Vec::<String>::new());
    assert_eq!(seen(&open.requests()[opened..]), Vec::<String>::new());
    assert_eq!(s.authreps().len(), asked, "the backend was asked");
    assert_eq!(on(s, "/api", "api.example.com", false).status, 401);
    assert_eq!(on(s, "/api", "api.example.com", true).status, 200);
    assert_eq!(on(s, "/open", "open.example.com", false).status, 200);
    assert_eq!(
        seen(&s.echo.requests()[echo..]),
        [format!("/api api.example.com secret {API_SECRET}")]
    );
    assert_eq!(
        seen(&open.requests()[opened..]),
        [format!("/open open.example.com secret {PUBLIC_SECRET}")]
    );
}

/// From 3scale System, the open service 20 listing `public.example.com.` before service 1
/// listing `public.example.com` (the catch-all routes it to service 1's upstream): neither
/// serves the host, with a warning naming both listings (s32a: the open service served it,
/// and a request without a key reached service 1's upstream).
#[test]
fn a_system_host_two_services_spell_with_and_without_a_dot_is_served_by_neither() {
    let mock = system::start();
    mock.publish(Stored::Production, open_service()).unwrap();
    mock.publish(Stored::Production, keyed_service(any_rule()))
        .unwrap();
    let (s, open) = from_system(&mock);
    until_served(
        &s,
        8,
        "api.example.com",
        true,
        "service 1 never served api.example.com",
    );
    public_served_by_neither(&s, &open);
    let listing =
        |i, id| format!("proxy_configs[{i}].proxy_config.content.proxy.hosts[0] (service {id})");
    let warning = format!(
        "{} and {}: public.example.com with and without a trailing dot",
        listing(1, 1),
        listing(0, 20)
    );
    assert!(
        s.envoy.wait_for_log(&warning, Duration::from_secs(2)),
        "no warning: {warning}"
    );
}

/// A refresh adds the open service after service 1, which served `public.example.com`:
/// neither serves it from then on, also once a deploy of service 1 puts it after the open
/// service in System's order (s32a: service 1 kept it, then the open service took it).
#[test]
fn a_refresh_adding_the_other_spelling_of_a_system_host_leaves_it_served_by_neither() {
    let mock = system::start();
    mock.publish(Stored::Production, keyed_service(any_rule()))
        .unwrap();
    let (s, open) = from_system(&mock);
    until_served(
        &s,
        8,
        "public.example.com",
        true,
        "service 1 never served public.example.com",
    );
    mock.publish(Stored::Production, open_service()).unwrap();
    assert!(s
        .envoy
        .wait_for_log("service 20 (open) added", Duration::from_secs(8)));
    until_served(
        &s,
        4,
        "open.example.com",
        false,
        "a worker never installed the open service",
    );
    public_served_by_neither(&s, &open);
    let mut rules = any_rule();
    rules.as_array_mut().unwrap().push(
        json!({"http_method": "GET", "pattern": "/v2", "metric_system_name": "hits", "delta": 1}),
    );
    mock.publish(Stored::Production, keyed_service(rules))
        .unwrap();
    assert!(s.envoy.wait_for_log(
        "service 1 (service-1): production configuration version 1 -> 2",
        Duration::from_secs(8)
    ));
    std::thread::sleep(Duration::from_millis(600));
    public_served_by_neither(&s, &open);
}
