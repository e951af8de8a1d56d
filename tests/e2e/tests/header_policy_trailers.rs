//! A `headers` policy's request `set` and `delete` against the same header sent as a request
//! TRAILER (found by an audit, 2026-12-07): Envoy forwards request trailers (HTTP/2 always;
//! HTTP/1.1 with `enable_trailers`), and upstreams that merge trailers into the headers
//! (Apache httpd before 2.4.11, or with `MergeTrailers on`: CVE-2013-5704 is this very bypass
//! of `RequestHeader unset`) then read the client's value where the operator set or removed
//! it. nginx (APIcast) forwards no request trailers. The filter now removes such trailers,
//! in any spelling, as it removes the secret token's; a harmless trailer still arrives. So
//! are trailers named as a header the decision reads (a credential, `Authorization`, a method
//! override: thirty-first session).

mod support;

use e2e::{EchoRequest, Response};
use serde_json::json;
use support::*;

const MARK: &str = "x-case";

/// Service 1 (`user_key` in a header) whose chain sets `X-Consumer-Tier` and deletes
/// `X-User-Id` before the upstream; `batching`: the authorization cache.
fn stack(batching: bool) -> Stack {
    let headers = json!({"name": "headers", "configuration": {"request": [
        {"op": "set", "header": "X-Consumer-Tier", "value": "gold"},
        {"op": "delete", "header": "X-User-Id"}]}});
    let mut cfg = config(vec![service(
        1,
        json!(1),
        json!({"credentials_location": "headers",
            "policy_chain": [{"name": "apicast"}, headers],
            "proxy_rules": [{"http_method": "POST", "pattern": "/", "metric_system_name": "hits",
                "delta": 1}]}),
    )]);
    if batching {
        cfg["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    }
    Stack::start_with(cfg, backend_state(), |b| {
        b.concurrency(2).http1_trailers().upstream_trailers()
    })
}

const TRAILERS: [(&str, &str); 5] = [
    ("X-Consumer-Tier", "platinum"),
    ("x_consumer_tier", "platinum-2"),
    ("X-User-Id", "admin"),
    ("X_User-Id", "admin-2"),
    ("x-checksum", "abc"),
];

fn send(port: u16, h2: bool, mark: &str, trailers: &[(&str, &str)]) -> Result<Response, String> {
    let headers = [("user_key", USER_KEY), (MARK, mark)];
    let to = ("api.example.com", "/things");
    body_shapes::post_with_trailers(port, h2, to, &headers, "{}", trailers)
}

fn folded(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// What is wrong with what the upstream got: the operator's value alone for the tier, no
/// user id, in headers and trailers; the harmless trailer there.
fn problems(seen: &EchoRequest) -> Vec<String> {
    let mut out = Vec::new();
    let named = |list: &[(String, String)], name: &str| -> Vec<String> {
        (list.iter())
            .filter(|(k, _)| folded(k) == name)
            .map(|(k, v)| format!("{k}: {v}"))
            .collect()
    };
    if seen.trailer_all("x-checksum") != ["abc"] {
        out.push(format!("trailers not forwarded: {:?}", seen.trailers));
    }
    for name in ["x-consumer-tier", "x-user-id"] {
        let t = named(&seen.trailers, name);
        if !t.is_empty() {
            out.push(format!("trailers {t:?}"));
        }
    }
    if named(&seen.headers, "x-consumer-tier") != ["x-consumer-tier: gold"] {
        out.push(format!(
            "headers {:?}",
            named(&seen.headers, "x-consumer-tier")
        ));
    }
    if !named(&seen.headers, "x-user-id").is_empty() {
        out.push(format!("headers {:?}", named(&seen.headers, "x-user-id")));
    }
    out
}

#[test]
fn a_header_policys_set_or_delete_is_not_dodged_with_a_trailer() {
    every_mode_and_protocol(&TRAILERS, problems);
}

/// Trailers named as headers the decision reads (found in the thirty-first session): a
/// credential, `Authorization`, a method override, in any spelling. The decision saw the
/// headers' `user_key`; an upstream merging trailers would read the client's trailer.
const READ_AS_HEADERS: [(&str, &str); 6] = [
    ("user_key", "uk-admin"),
    ("User-Key", "uk-admin-2"),
    ("Authorization", "Basic dWstYWRtaW46"),
    ("X-HTTP-Method-Override", "DELETE"),
    ("x_http_method", "PUT"),
    ("x-checksum", "abc"),
];

/// What is wrong with what the upstream got: a trailer named as a header the decision reads,
/// another `user_key` header than the one authorized, the harmless trailer missing.
fn read_as_header_problems(seen: &EchoRequest) -> Vec<String> {
    let mut out = Vec::new();
    if seen.trailer_all("x-checksum") != ["abc"] {
        out.push(format!("trailers not forwarded: {:?}", seen.trailers));
    }
    let read = [
        "user-key",
        "authorization",
        "x-http-method-override",
        "x-http-method",
    ];
    let bad: Vec<&(String, String)> = (seen.trailers.iter())
        .filter(|(k, _)| read.contains(&folded(k).as_str()))
        .collect();
    if !bad.is_empty() {
        out.push(format!("trailers {bad:?}"));
    }
    let keys: Vec<&(String, String)> = (seen.headers.iter())
        .filter(|(k, _)| folded(k) == "user-key")
        .collect();
    if keys.len() != 1 || keys[0].1 != USER_KEY {
        out.push(format!("user_key headers {keys:?}"));
    }
    out
}

#[test]
fn a_trailer_named_as_a_header_the_decision_reads_is_removed() {
    every_mode_and_protocol(&READ_AS_HEADERS, read_as_header_problems);
}

/// `trailers` after a `POST` body, in authrep and batching mode (a miss, then a hit), over
/// HTTP/1.1 and HTTP/2: each answered 200, and what the upstream got has no `problems`.
fn every_mode_and_protocol(trailers: &[(&str, &str)], problems: fn(&EchoRequest) -> Vec<String>) {
    let mut failures = Vec::new();
    for batching in [false, true] {
        let s = stack(batching);
        // Batching: round 0 a cache miss, round 1 a hit.
        for round in 0..2 {
            for h2 in [false, true] {
                let mark = format!("batching {batching}/{round}/h2 {h2}");
                match send(s.port(), h2, &mark, trailers) {
                    Ok(r) if r.status == 200 => {}
                    other => {
                        failures.push(format!("{mark}: {:?}", other.map(|r| r.status)));
                        continue;
                    }
                }
                let upstream = s.echo.requests();
                let seen: Vec<&EchoRequest> = (upstream.iter())
                    .filter(|r| r.header(MARK) == Some(mark.as_str()))
                    .collect();
                match seen.as_slice() {
                    [one] => {
                        let p = problems(one);
                        if !p.is_empty() {
                            failures.push(format!("{mark}: {}", p.join("; ")));
                        }
                    }
                    other => failures.push(format!("{mark}: seen {} times", other.len())),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
