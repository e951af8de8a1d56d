//! Envoy's routes on `x-3scale-service-id` (README, `path_routing`): on a host path routing
//! shares, the filter names the service it chose, and Envoy re-routes on it after the filter
//! set it. Found by an audit (2026-12-06), fixed (each test fails on s25a): prefix routes cannot
//! follow path routing, which also reads the method and the args (`DELETE /two` is service 1's
//! `ANY /`, and went to service 2's upstream). The services and upstreams are
//! `service_selection_confusion.rs`'s (`support/split.rs`).

mod support;

use e2e::Request;
use serde_json::json;
use support::split::*;
use support::*;

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
