//! Service selection confusion (an audit of s20a, 2026-12): can a client make Tollgate decide
//! with one service's rules while Envoy delivers the request as another service's? Three
//! services share a host with path routing (`path_routing: true`): a public one (`mode:
//! none`), service 2 (`app_id`/`app_key`) and service 1 (`user_key`, `ANY /`), and Envoy's
//! routes send each service's paths to its own upstream cluster, as an operator would write
//! them (a path prefix, a `query_parameters` match). Each test asserts which upstream received
//! the request and which `service_id` the backend was asked about.
//!
//! Findings, fixed (each test fails on s20a): path routing chooses the service on the normalised
//! path and the decoded URI args, Envoy's route matchers read the path and the args as sent,
//! and the filter forwards them as sent; README's `routing` section refuses exactly this
//! disagreement for the `routing` policy (`path_encoded`, `QueryArgs::encoded`), path routing
//! (`core/src/pipeline/select.rs` `select_service`, `core/src/config/routes.rs` `route`) does
//! not. Fixed: on a host path routing shares, the upstream gets the normalised path
//! (`core/src/pipeline/mod.rs` `begin`), and an encoded arg a routing rule reads is 400
//! `ambiguous argument` (`Routes::route`).
//! 1. `path_routing_on_raw_paths_...`: Envoy's default raw paths: `//public/x`, `/%70ublic/x`
//!    reach service 1's upstream with no credentials (and the public service's token);
//!    `/%74wo?app_id=..` is authorized and reported as service 2 and served by service 1.
//! 2. `path_routing_with_envoy_normalising_...`: the shipped settings (`normalize_path`,
//!    `merge_slashes`) decode unreserved escapes only: `/v1/items%3Asearch`, `/users/%40me`
//!    are the public service's rules to the filter and service 1's route to Envoy.
//! 3. `path_routing_by_a_query_arg_...`: `?type=summar%79` is the public `type=summary` rule
//!    to the filter and service 1's route to Envoy's `query_parameters` matcher.
//!
//! Found by an audit (2026-12-06), fixed (each test fails on s25a): prefix routes cannot
//! follow path routing at all, which also reads the method and the args (`DELETE /two` is
//! service 1's `ANY /`, and went to service 2's upstream). On a shared host the filter now sets
//! `x-3scale-service-id`, and `SERVICE_ID_ROUTES` route on it: `routes_on_the_service_id_...`,
//! `the_fallback_to_a_public_first_service_...`, `a_clients_service_id_header_...`. The
//! prefix-route tests above keep testing what the filter forwards.
//!
//! Held (kept as tests): `api_backend` hosts with a virtual host per upstream host route
//! every reading of the path where the filter selected (the filter's `:authority` re-routes);
//! Host port spellings not in `connection_shapes.rs` (`:+80`, `:0080`, `:0`, `:4294967295`,
//! `:-0`, `:0x50`, `:80:`, `[host]:80`, `%3A80`, a trailing dot with a port) under
//! `strip_any_host_port` and `ignore_port_in_host_matching`. Probed and held, not kept: a
//! repeated or other-case routing arg (400), `%2F` and dot segments (400), and what the other
//! audits cover (Host case, trailing dot, duplicate Host, HTTP/2 `:authority` with `host`,
//! absolute-form targets, HTTP/1.0: `connection_shapes.rs`, `request_shapes_modes.rs`).

mod support;

use e2e::{EchoUpstream, Request};
use serde_json::{json, Value};
use support::split::*;
use support::*;

// --- Findings ----------------------------------------------------------------------------

// Found by an audit (2026-12-06), fixed: with Envoy's default raw paths, `//public/x` and `/%70ublic/x` are the public service to path routing (which reads the normalised path) and service 1's route to Envoy (which reads the path as sent): service 1's upstream gets them with no credentials; `/%74wo` with service 2's app is authorized and reported as service 2 and served by service 1's upstream.
#[test]
fn path_routing_on_raw_paths_delivers_each_request_to_the_upstream_of_the_service_that_checked_it()
{
    let s = start_split(
        path_routed(json!([rule("ANY", "/public")])),
        &prefix_routes(&["/public"]),
        true,
    );
    controls_hold(&s, "/public/x");
    let app2 = format!("?app_id={APP_ID}&app_key={APP_KEY}");
    let (slashes2, encoded2) = (format!("//two{app2}"), format!("/%74wo{app2}"));
    let wrong = misdelivered(
        &s,
        &[
            ("//public/x", &[], PUBLIC),
            ("/%70ublic/x", &[], PUBLIC),
            ("/pub%6Cic/orders", &[], PUBLIC),
            (&slashes2, &[], TWO),
            (&encoded2, &[], TWO),
        ],
    );
    assert!(
        wrong.is_empty(),
        "Envoy delivered these to another service's upstream than the one whose checks \
         applied (authreps by service_id: {:?}): {wrong:#?}",
        s.authrep_services()
    );
    // The upstream reads the path the rules read: the filter forwards it normalised.
    for (target, path) in [("//public/x", "/public/x"), ("/%70ublic/x", "/public/x")] {
        let p = s.probe(target, &[]);
        let got = p.receiver.as_ref().map(|(who, r)| (*who, r.path.as_str()));
        assert_eq!((p.status, got), (200, Some((PUBLIC, path))), "{p:?}");
    }
    let p = s.probe(&encoded2, &[]);
    let got = p.receiver.as_ref().map(|(who, r)| (*who, r.path.clone()));
    assert_eq!(
        (p.status, got),
        (200, Some((TWO, format!("/two{app2}")))),
        "{p:?}"
    );
}

// Found by an audit (2026-12-06), fixed: with Envoy normalising paths (`normalize_path` and `merge_slashes`, the shipped settings), Envoy still keeps percent-encoded reserved characters (`%3A`, `%40`) that path routing decodes: `/v1/items%3Asearch` is the public service's `/v1/items:search` to the filter and service 1's route to Envoy, whose upstream gets it with no credentials.
#[test]
fn path_routing_with_envoy_normalising_delivers_each_request_to_the_upstream_of_the_service_that_checked_it(
) {
    let public = ["/public", "/v1/items:search", "/users/@me"];
    let rules: Vec<Value> = public.iter().map(|p| rule("ANY", p)).collect();
    let s = start_split(path_routed(json!(rules)), &prefix_routes(&public), false);
    controls_hold(&s, "/v1/items:search");
    let app2 = format!("?app_id={APP_ID}&app_key={APP_KEY}");
    let encoded2 = format!("/%74wo{app2}");
    // Held: Envoy merges the slashes and decodes the unreserved `%70` and `%74` first.
    let held = misdelivered(
        &s,
        &[
            ("//public/x", &[], PUBLIC),
            ("/%70ublic/x", &[], PUBLIC),
            ("/users/@me", &[], PUBLIC),
            (&encoded2, &[], TWO),
        ],
    );
    assert!(held.is_empty(), "{held:#?}");
    let wrong = misdelivered(
        &s,
        &[
            ("/v1/items%3Asearch", &[], PUBLIC),
            ("/v1/items%3asearch", &[], PUBLIC),
            ("/users/%40me", &[], PUBLIC),
        ],
    );
    assert!(
        wrong.is_empty(),
        "Envoy delivered these to another service's upstream than the one whose checks \
         applied: {wrong:#?}"
    );
    assert_eq!(s.authrep_services(), ["1", "2", "2"]);
}

// Found by an audit (2026-12-06), fixed: path routing decodes URI args (`?type=summar%79` is `type=summary`), Envoy's `query_parameters` route matcher does not: the public service's rule chose the service, and Envoy sent the request to service 1's upstream, which decodes `type=summary`, with no credentials. The `routing` policy refuses encoded args for this reason (README, `routing`); path routing does not.
#[test]
fn path_routing_by_a_query_arg_delivers_each_request_to_the_upstream_of_the_service_that_checked_it(
) {
    let routes = "              routes:
              - match: { prefix: \"/reports\", query_parameters: [{name: type, string_match: {exact: summary}}] }
                route: { cluster: upstream_public, timeout: 15s }
              - match: { prefix: \"/two\" }
                route: { cluster: upstream_two, timeout: 15s }
              - match: { prefix: \"/\" }
                route: { cluster: upstream, timeout: 15s }
";
    let s = start_split(
        path_routed(json!([rule("GET", "/reports?type=summary")])),
        routes,
        false,
    );
    controls_hold(&s, "/reports?type=summary");
    let p = s.probe("/reports?type=full", &[]);
    assert_eq!((p.status, p.reached()), (401, None), "{p:?}");
    // Held: a repeated or other-case `type` is refused before any service is chosen.
    for target in ["/reports?TYPE=summary", "/reports?type=summary;type=full"] {
        let p = s.probe(target, &[]);
        assert_eq!((p.status, p.reached()), (400, None), "{p:?}");
    }
    let wrong = misdelivered(
        &s,
        &[
            ("/reports?type=summar%79", &[], PUBLIC),
            ("/reports?typ%65=summary", &[], PUBLIC),
            ("/reports?type=%73ummary&x=1", &[], PUBLIC),
        ],
    );
    assert!(
        wrong.is_empty(),
        "Envoy delivered these to another service's upstream than the one whose checks \
         applied: {wrong:#?}"
    );
    // Refused as the `routing` policy refuses them: 400, before any service is chosen.
    let r = Request::get("/reports?type=summar%79")
        .header("Host", HOST)
        .send(s.port);
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Bad Request: ambiguous argument"),
        "{r}"
    );
    assert_eq!(s.authrep_services(), ["1", "2"]);
}

// Found by an audit (2026-12-06), fixed: path routing chose with Tollgate's wider reading of the rules (`/status$` also matches `/status/`), so the public service's `GET /status$` took `/status/`, which APIcast gives service 1 (`ANY /`), and Envoy's exact `/status` route sent it to service 1's upstream with no credentials. A `/x$` rule taking `/x/` for another service than the one chosen without it is now 400 `ambiguous path`.
#[test]
fn path_routing_never_lets_the_wider_reading_of_a_rule_choose_another_service() {
    let routes = "              routes:
              - match: { path: \"/status\" }
                route: { cluster: upstream_public, timeout: 15s }
              - match: { prefix: \"/two\" }
                route: { cluster: upstream_two, timeout: 15s }
              - match: { prefix: \"/\" }
                route: { cluster: upstream, timeout: 15s }
";
    let s = start_split(path_routed(json!([rule("GET", "/status$")])), routes, true);
    controls_hold(&s, "/status");
    let p = s.probe("/status/", &[]);
    assert_eq!((p.status, p.reached()), (400, None), "{p:?}");
    let r = Request::get("/status/").header("Host", HOST).send(s.port);
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Bad Request: ambiguous path"),
        "{r}"
    );
    let r = Request::head("/status/").header("Host", HOST).send(s.port);
    assert_eq!(r.status, 400, "{r}");
    // Other spellings of `/status/`, and HTTP/2: refused alike.
    for target in ["/st%61tus/", "//status/", "/status/?x=1"] {
        let p = s.probe(target, &[]);
        assert_eq!((p.status, p.reached()), (400, None), "{p:?}");
    }
    let r = e2e::curl::Curl::new("GET", "/status/")
        .http2()
        .header("Host", HOST)
        .send(s.port);
    assert_eq!(r.status, 400, "{r}");
    // `HEAD` is served as `GET`: the `GET /status$` rule's service takes it.
    let r = Request::head("/status").header("Host", HOST).send(s.port);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.public.requests().len(), 2);
    assert_eq!(s.protected.requests().len(), 1, "only the control");
    // With service 1's key the request is still refused: which service's is it?
    let p = s.probe("/status/", &[("user_key", USER_KEY)]);
    assert_eq!((p.status, p.reached()), (400, None), "{p:?}");
    assert_eq!(s.authrep_services(), ["1", "2"]);
}

// Found by an audit (2026-12-06), fixed: a service skipped from 3scale System on a host path routing shares left the host unshared to the forwarding step, so `//two` chosen as service 2 went upstream as sent, and Envoy's `/two` route did not take it: service 1's upstream got service 2's request.
#[test]
fn a_skipped_system_service_keeps_its_host_shared_for_path_routing() {
    let mock = e2e::system::start();
    let two = service(
        2,
        json!(2),
        json!({"hosts": [HOST], "secret_token": TWO_SECRET, "proxy_rules": [rule("GET", "/two")]}),
    );
    let protected = service(
        1,
        json!(1),
        json!({"hosts": [HOST], "secret_token": API_SECRET, "credentials_location": "headers",
               "proxy_rules": [rule("ANY", "/orders")]}),
    );
    let skipped = service(
        3,
        json!(1),
        json!({"hosts": [HOST], "policy_chain": [
            {"name": "my_custom_policy", "version": "1.0.0", "configuration": {}},
            {"name": "apicast"}]}),
    );
    for s in [protected, two, skipped] {
        mock.publish(e2e::system::Stored::Production, s).unwrap();
    }
    let cfg = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": e2e::system::block(60),
        "path_routing": true
    });
    use e2e::system::WithSystem;
    let s = start_split_with(cfg, &prefix_routes(&[]), true, |b| b.with_system(&mock));
    let app2 = format!("?app_id={APP_ID}&app_key={APP_KEY}");
    let two_target = format!("/two{app2}");
    assert!(
        e2e::wait_until(std::time::Duration::from_secs(8), || {
            s.probe(&two_target, &[]).status != 503
        }),
        "the configuration from System never loaded"
    );
    let p = s.probe(&two_target, &[]);
    assert_eq!((p.status, p.reached()), (200, Some(TWO)), "{p:?}");
    let p = s.probe(&format!("//two{app2}"), &[]);
    let got = p.receiver.as_ref().map(|(who, r)| (*who, r.path.clone()));
    assert_eq!(
        (p.status, got),
        (200, Some((TWO, two_target.clone()))),
        "{p:?}"
    );
}

/// Envoy's routes for a host path routing shares (README, `path_routing`): on the service the
/// filter names in `x-3scale-service-id`, exactly; a request without it is no service's.
const SERVICE_ID_ROUTES: &str = "              routes:
              - match: { prefix: \"/\", headers: [{name: x-3scale-service-id, string_match: {exact: \"20\"}}] }
                route: { cluster: upstream_public, timeout: 15s }
              - match: { prefix: \"/\", headers: [{name: x-3scale-service-id, string_match: {exact: \"2\"}}] }
                route: { cluster: upstream_two, timeout: 15s }
              - match: { prefix: \"/\", headers: [{name: x-3scale-service-id, string_match: {exact: \"1\"}}] }
                route: { cluster: upstream, timeout: 15s }
              - match: { prefix: \"/\" }
                direct_response: { status: 404 }
";

/// Who received the probe, with the secret tokens and service ids it carried.
fn delivered(p: &Probe) -> Option<(&'static str, String, Vec<&str>, Vec<&str>)> {
    let (who, r) = p.receiver.as_ref()?;
    let ids = (r.headers.iter())
        .filter(|(k, _)| k.replace('_', "-") == "x-3scale-service-id")
        .map(|(_, v)| v.as_str())
        .collect();
    let token = r.header_all("x-3scale-proxy-secret-token");
    Some((*who, format!("{} {}", r.method, r.path), token, ids))
}

// Found by an audit (2026-12-06), fixed: path routing chooses by method, path and args, Envoy's prefix routes by path alone: `DELETE /two` with service 1's key is service 1's (`ANY /`; service 2 has `GET /two` only), was authorized and reported as service 1, and Envoy's `/two` route gave it to service 2's upstream, which no rule of service 2 let a `DELETE` reach. On a shared host the filter now names the service in `x-3scale-service-id`, and Envoy re-routes on it after the filter set it (after the authrep too).
#[test]
fn routes_on_the_service_id_header_deliver_each_request_where_path_routing_chose() {
    let s = start_split(
        path_routed(json!([rule("ANY", "/public")])),
        SERVICE_ID_ROUTES,
        false,
    );
    controls_hold(&s, "/public/x");
    let key = [("user_key", USER_KEY)];
    let p = s.probe_method("DELETE", "/two", &key);
    assert_eq!(p.status, 200, "{p:?}");
    assert_eq!(
        delivered(&p),
        Some((
            "service 1's",
            "DELETE /two".into(),
            vec![API_SECRET],
            vec!["1"]
        )),
        "{p:?}"
    );
    let p = s.probe("/public/x", &[]);
    assert_eq!(
        delivered(&p),
        Some((
            PUBLIC,
            "GET /public/x".into(),
            vec![PUBLIC_SECRET],
            vec!["20"]
        )),
        "{p:?}"
    );
    let two = format!("/two?app_id={APP_ID}&app_key={APP_KEY}");
    let p = s.probe(&two, &[]);
    assert_eq!(
        delivered(&p),
        Some((TWO, format!("GET {two}"), vec![TWO_SECRET], vec!["2"])),
        "{p:?}"
    );
    assert!((s.two.requests().iter()).all(|r| r.method == "GET"));
    assert_eq!(s.authrep_services(), ["1", "2", "1", "2"]);
}

// Found by an audit (2026-12-06), fixed: the host's first service public with no rules takes what no rule matches: `DELETE /two/7` fell back to it, unchecked, and Envoy's `/two` route gave it to service 2's upstream.
#[test]
fn the_fallback_to_a_public_first_service_is_routed_to_its_upstream() {
    let mut c = path_routed(json!([]));
    c["services"][2]["proxy"]["proxy_rules"] = json!([rule("ANY", "/orders")]);
    let s = start_split(c, SERVICE_ID_ROUTES, false);
    let p = s.probe_method("DELETE", "/two/7", &[]);
    assert_eq!(p.status, 200, "{p:?}");
    assert_eq!(
        delivered(&p),
        Some((
            PUBLIC,
            "DELETE /two/7".into(),
            vec![PUBLIC_SECRET],
            vec!["20"]
        )),
        "{p:?}"
    );
    let p = s.probe("/orders", &[("user_key", USER_KEY)]);
    assert_eq!(p.reached(), Some("service 1's"), "{p:?}");
    assert!(s.two.requests().is_empty(), "{:#?}", s.two.requests());
    assert_eq!(s.authrep_services(), ["1"]);
}

// Found by an audit (2026-12-06), fixed: with routes on `x-3scale-service-id`, a client's copy must not steer the request: it is stripped in every spelling, and the upstream sees the filter's value only.
#[test]
fn a_clients_service_id_header_never_steers_the_route() {
    let s = start_split(
        path_routed(json!([rule("ANY", "/public")])),
        SERVICE_ID_ROUTES,
        false,
    );
    for name in ["x-3scale-service-id", "X_3scale_Service_Id"] {
        let p = s.probe("/orders", &[("user_key", USER_KEY), (name, "2")]);
        assert_eq!(p.status, 200, "{name}: {p:?}");
        assert_eq!(
            delivered(&p),
            Some((
                "service 1's",
                "GET /orders".into(),
                vec![API_SECRET],
                vec!["1"]
            )),
            "{name}: {p:?}"
        );
        let p = s.probe("/public/x", &[(name, "1")]);
        assert_eq!(
            delivered(&p),
            Some((
                PUBLIC,
                "GET /public/x".into(),
                vec![PUBLIC_SECRET],
                vec!["20"]
            )),
            "{name}: {p:?}"
        );
        // Refused requests go nowhere, whatever they name.
        let p = s.probe("/orders", &[(name, "2")]);
        assert_eq!((p.status, p.reached()), (401, None), "{name}: {p:?}");
    }
    assert!(s.two.requests().is_empty(), "{:#?}", s.two.requests());
    assert_eq!(s.authrep_services(), ["1", "1"]);
}

// --- Held --------------------------------------------------------------------------------

fn exchange_status(port: u16, request: &str) -> u16 {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_millis(1500)))
        .unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = c.read(&mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    let s = String::from_utf8_lossy(&out);
    (s.split(' ').nth(1))
        .and_then(|x| x.parse().ok())
        .unwrap_or(0)
}

/// Port spellings `connection_shapes.rs` does not try, with a virtual host per service and
/// either setting README asks for (`strip_any_host_port`, `ignore_port_in_host_matching`):
/// `:+80` (Envoy's `SimpleAtoi` strips it, the filter does not), leading zeros, `:0`, the
/// largest 32-bit port, and spellings neither strips. Whatever the filter selects, the
/// protected upstream never gets an unauthenticated request, and every request the public
/// upstream gets carries the public service's token.
#[test]
fn host_port_spellings_never_reach_the_protected_upstream_unchecked() {
    for strip in [true, false] {
        let public = EchoUpstream::start().unwrap();
        let port = public.port();
        let open = json!({"id": 20, "system_name": "public",
            "authentication": {"mode": "none"},
            "proxy": {"hosts": ["public.example.com"], "secret_token": PUBLIC_SECRET,
                      "proxy_rules": [rule("ANY", "/")]}});
        let protected = service(
            1,
            json!(1),
            json!({"hosts": [HOST], "secret_token": API_SECRET, "credentials_location": "headers",
                   "proxy_rules": [rule("ANY", "/")]}),
        );
        let s = Stack::start_with(config(vec![protected, open]), backend_state(), |b| {
            let b = (b.extra_cluster("upstream_public", port))
                .virtual_host(&["public.example.com"], "upstream_public");
            if strip {
                b.strip_any_host_port()
            } else {
                b.ignore_port_in_host_matching()
            }
        });
        // (Host, status with strip_any_host_port, with ignore_port_in_host_matching)
        let cases: [(&str, u16, u16); 11] = [
            ("public.example.com:+80", 200, 404),
            ("public.example.com:0080", 200, 200),
            ("public.example.com:0", 200, 200),
            ("public.example.com:80 ", 200, 200),
            ("public.example.com:4294967295", 200, 200),
            ("public.example.com:-0", 404, 404),
            ("public.example.com:0x50", 404, 404),
            ("public.example.com:80:", 404, 404),
            ("Public.Example.Com.:80", 404, 404),
            ("public.example.com%3A80", 404, 404),
            ("[public.example.com]:80", 404, 404),
        ];
        for (i, (host, with_strip, with_ignore)) in cases.iter().enumerate() {
            let want = if strip { *with_strip } else { *with_ignore };
            let request =
                format!("GET /c{i} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            let got = exchange_status(s.port(), &request);
            assert_eq!(got, want, "strip_any_host_port {strip}, {host:?}");
            let reached = (public.requests().iter()).any(|r| r.path == format!("/c{i}"));
            assert_eq!(
                reached,
                want == 200,
                "strip_any_host_port {strip}, {host:?}"
            );
        }
        let protected = s.echo.requests();
        assert!(
            protected.is_empty(),
            "strip_any_host_port {strip}: {protected:#?}"
        );
        for r in public.requests() {
            assert_eq!(r.header_all("x-3scale-proxy-secret-token"), [PUBLIC_SECRET]);
        }
        assert!(s.authreps().is_empty(), "{:?}", s.authreps());
    }
}

/// The configuration that makes Envoy route what path routing selected: each service's
/// `api_backend` names its own upstream host, and Envoy has a virtual host per upstream host.
/// The filter sets `:authority` to the selected service's, and Envoy re-routes on it (it
/// clears the route cache when a filter changes a request header), so every reading of a
/// path, raw, encoded or reserved, lands on the upstream of the service that checked it, with
/// that service's Host.
#[test]
fn path_routing_with_api_backend_hosts_lands_where_the_filter_selected() {
    let mut c = path_routed(json!([
        rule("ANY", "/public"),
        rule("ANY", "/v1/items:search")
    ]));
    for (i, host) in ["public.internal", "two.internal", "protected.internal"]
        .iter()
        .enumerate()
    {
        c["services"][i]["proxy"]["api_backend"] = json!(format!("http://{host}"));
    }
    let s = start_split_with(c, HARNESS_ROUTE, true, |b| {
        (b.virtual_host(&["public.internal"], "upstream_public"))
            .virtual_host(&["two.internal"], "upstream_two")
    });
    controls_hold(&s, "/public/x");
    let app2 = format!("?app_id={APP_ID}&app_key={APP_KEY}");
    let (slashes2, encoded2) = (format!("//two{app2}"), format!("/%74wo{app2}"));
    let cases: [(&str, &str); 7] = [
        ("//public/x", PUBLIC),
        ("/%70ublic/x", PUBLIC),
        ("/pub%6Cic/orders", PUBLIC),
        ("/v1/items%3Asearch", PUBLIC),
        (&slashes2, TWO),
        (&encoded2, TWO),
        ("/%6Frders", ""),
    ];
    for (target, owner) in cases {
        let p = s.probe(target, &[]);
        if owner.is_empty() {
            assert_eq!((p.status, p.reached()), (401, None), "{p:?}");
            continue;
        }
        assert_eq!((p.status, p.reached()), (200, Some(owner)), "{p:?}");
        let (_, seen) = p.receiver.as_ref().unwrap();
        let want_host = if owner == PUBLIC {
            "public.internal"
        } else {
            "two.internal"
        };
        assert_eq!(seen.header("host"), Some(want_host), "{p:?}");
    }
    assert_eq!(s.authrep_services(), ["1", "2", "2", "2"]);
}

/// The service header through every request shape whose verdict waits for its body (a form
/// `POST` is read for `_method`): over HTTP/1.1 with a length, chunked, with `Expect:
/// 100-continue`, and over HTTP/2 with and without trailers. `POST /two` is service 1's (`ANY
/// /`; service 2 has `GET /two`), set after the body and the authrep, and Envoy routes on it:
/// service 2's upstream never gets one, and a client's `x-3scale-service-id: 2` is gone.
#[test]
fn the_service_header_routes_requests_decided_on_their_body() {
    let s = start_split(
        path_routed(json!([rule("ANY", "/public")])),
        SERVICE_ID_ROUTES,
        false,
    );
    let form = [
        ("user_key", USER_KEY),
        ("content-type", "application/x-www-form-urlencoded"),
        ("x-3scale-service-id", "2"),
    ];
    for shape in ["length", "chunked", "expect", "h2", "h2-trailers"] {
        let mark = format!("body-{shape}");
        let status = match shape {
            "h2" | "h2-trailers" => {
                let mut headers = form.to_vec();
                headers.push((MARK, &mark));
                let trailers: &[(&str, &str)] = match shape {
                    "h2" => &[],
                    _ => &[("x-t", "1")],
                };
                let r = e2e::h2::send_with_trailers(
                    s.port, "POST", HOST, "/two", &headers, b"a=1&b=2", trailers,
                );
                r.map(|r| r.status).unwrap_or(0)
            }
            _ => {
                let mut r = Request::post("/two")
                    .header("Host", HOST)
                    .header(MARK, &mark);
                for (k, v) in form {
                    r = r.header(k, v);
                }
                let r = match shape {
                    "chunked" => r
                        .header("Transfer-Encoding", "chunked")
                        .body("7\r\na=1&b=2\r\n0\r\n\r\n"),
                    "expect" => r.header("Expect", "100-continue").body("a=1&b=2"),
                    _ => r.body("a=1&b=2"),
                };
                r.send(s.port).status
            }
        };
        let (who, got) = s
            .receiver(&mark)
            .unwrap_or_else(|| panic!("{shape}: not delivered"));
        assert_eq!((status, who), (200, "service 1's"), "{shape}");
        assert_eq!(got.header_all("x-3scale-service-id"), ["1"], "{shape}");
        assert_eq!(got.header_all("x-3scale-proxy-secret-token"), [API_SECRET]);
        assert_eq!((got.method.as_str(), got.path.as_str()), ("POST", "/two"));
    }
    assert_eq!(s.two.requests().len(), 0, "service 2's upstream got a POST");
    assert_eq!(s.authrep_services(), ["1"; 5]);
}
