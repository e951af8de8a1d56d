//! Public access through real Envoy (2 workers): `authentication.public_paths` in every mode
//! (3scale user_key in a header or the query, app_id/app_key, local API keys, local JWT) and
//! `authentication.mode: none`.
//!
//! A public request passes with no credential and no backend call, reaches the upstream with
//! the path it sent (a leading `//` merged), its body intact and the service's secret token (a forged one replaced),
//! and is counted in `tollgate.requests_public`. Paths that try to climb out of a public
//! prefix (`/health/../private`, `/health%2F..%2Fprivate`), another case (`/Health`), a
//! longer segment (`/healthz`) or a prefix's missing trailing slash (`/docs`) are refused,
//! with nothing upstream, in every request shape (bodies, chunked, trailers,
//! `Expect: 100-continue`, HTTP/2).

mod support;

use e2e::Request;
use serde_json::{json, Value};
use std::time::Duration;
use support::adversarial::*;
use support::Stack;

const PUBLIC: &str = "wasmcustom.tollgate.requests_public";
const AUTHORIZED: &str = "wasmcustom.tollgate.requests_authorized";

/// The services every mode is tested with: (host, service), each with `/health` and `/docs/` public.
fn public_services() -> Vec<(&'static str, Value)> {
    let mut services: Vec<Value> = three_scale_services();
    services.extend(local_services().into_iter().take(2));
    for s in &mut services {
        s["authentication"]["public_paths"] = json!(["/health", "/docs/"]);
    }
    let hosts = [
        "hdr.example.com",
        "app.example.com",
        "basic.example.com",
        "query.example.com",
        "local.example.com",
        "jwt.example.com",
    ];
    hosts.into_iter().zip(services).collect()
}

/// A service with `mode: none`: `GET`/`POST /items` are mapped, `/health` is public.
fn open_service() -> Value {
    let rule = |m: &str| json!({"http_method": m, "pattern": "/items", "metric_system_name": "hits", "delta": 1});
    json!({"id": 20, "system_name": "open",
           "authentication": {"mode": "none", "public_paths": ["/health"]},
           "proxy": {"hosts": ["open.example.com"], "secret_token": SECRET,
                     "proxy_rules": [rule("GET"), rule("POST")]}})
}

fn start(services: Vec<Value>, batching: bool, raw: bool) -> Stack {
    let mut cfg = adv_config(services, false);
    if batching {
        cfg["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    }
    Stack::start_with(cfg, adv_state(), |b| {
        let b = b.concurrency(2).http1_trailers();
        if raw {
            b.raw_paths()
        } else {
            b
        }
    })
}

const SHAPES_TRIED: [Shape; 7] = [
    Shape::NoBody,
    Shape::Form,
    Shape::Chunked,
    Shape::Trailers,
    Shape::Expect100,
    Shape::H2,
    Shape::H2Trailers,
];

/// Public targets: they pass, and the upstream gets exactly this target, but for a leading
/// `//`: URL parsers read it as a host (`//health/admin`: host `health`, path `/admin` to
/// Node's `new URL(req.url, base)` and Python's `urlsplit`), so the upstream gets the path the
/// public prefix matched (found by an audit, 2026-12-06: it got `//health/admin`).
const OPEN: [(&str, &str); 7] = [
    ("/health", "/health"),
    ("/health/live?probe=1", "/health/live?probe=1"),
    ("/health/", "/health/"),
    ("/docs/index.html", "/docs/index.html"),
    ("//health", "/health"),
    ("//health/admin", "/health/admin"),
    ("/%68ealth", "/%68ealth"),
];

/// Targets that try to escape a public prefix, and what the filter answers.
const ESCAPES: [(&str, (u16, &str)); 8] = [
    ("/health/../private", (400, AMBIGUOUS)),
    ("/health%2F..%2Fprivate", (400, AMBIGUOUS)),
    ("/health/%2e%2e/private", (400, AMBIGUOUS)),
    ("/health/..;/private", (400, AMBIGUOUS)),
    ("/Health", AUTH_MISSING),
    ("/healthz", AUTH_MISSING),
    ("/docs", AUTH_MISSING),
    ("/private?path=/health", AUTH_MISSING),
];

/// Wrong credentials of every kind: a public request does not read them.
fn with_bogus_credentials(case: Case) -> Case {
    case.header("user_key", "bogus")
        .header("app_id", "bogus")
        .header("app_key", "bogus")
        .header("APIKey", "bogus")
        .header("Authorization", "Bearer bogus.token.here")
        .header("X-3scale-Proxy-Secret-Token", "forged")
}

#[test]
fn public_paths_pass_in_every_mode_and_escapes_are_refused() {
    let services = public_services();
    let s = start(
        services.iter().map(|(_, v)| v.clone()).collect(),
        false,
        true,
    );
    let mut cases = Vec::new();
    for (h, (host, _)) in services.iter().enumerate() {
        for (i, shape) in SHAPES_TRIED.iter().enumerate() {
            for (t, (target, _)) in OPEN.iter().enumerate() {
                let case = with_bogus_credentials(Case::new(host, target));
                cases.push((format!("open-{h}-{i}-{t}"), *shape, case, Expect::Allowed));
            }
            for (t, (target, (status, body))) in ESCAPES.iter().enumerate() {
                let case = Case::new(host, target).header("X-3scale-Proxy-Secret-Token", "forged");
                cases.push((
                    format!("esc-{h}-{i}-{t}"),
                    *shape,
                    case,
                    Expect::Denied(*status, body),
                ));
            }
        }
    }
    let failures = run_and_check(&s, &cases, 8);
    assert_none("public paths", &failures, cases.len());

    // What the upstream received for each public case: the path as sent (but a leading
    // `//`), the real secret token (the forged one replaced), and the credentials as the
    // client sent them.
    let upstream = s.echo.requests();
    for (mark, _, case, expect) in &cases {
        if *expect != Expect::Allowed {
            continue;
        }
        let got = seen(&upstream, mark);
        let upstream_target = OPEN.iter().find(|(sent, _)| *sent == case.target);
        assert_eq!(
            Some(got[0].path.as_str()),
            upstream_target.map(|(_, u)| *u),
            "{mark}"
        );
        let tokens: Vec<&str> = got[0]
            .headers
            .iter()
            .filter(|(k, _)| k == "x-3scale-proxy-secret-token")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(tokens, vec![SECRET], "{mark}");
        assert_eq!(got[0].header("user_key"), Some("bogus"), "{mark}");
    }
    assert!(
        s.backend.requests().is_empty(),
        "no backend call: {:?}",
        s.backend.requests()
    );
    let allowed = public_forwards(&s, &cases);
    assert_eq!(
        s.envoy
            .wait_for_stat(PUBLIC, allowed, Duration::from_secs(5)),
        Some(allowed)
    );
    assert_eq!(s.envoy.stat(AUTHORIZED).unwrap_or(0), 0);
}

#[test]
fn credentials_still_work_beside_public_paths() {
    let services = public_services();
    let s = start(
        services.iter().map(|(_, v)| v.clone()).collect(),
        false,
        true,
    );
    let r = Request::get("/api/x")
        .header("Host", "hdr.example.com")
        .header("user_key", "uk-ok-1")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.authreps().len(), 1);
    let r = Request::get("/api/x")
        .header("Host", "local.example.com")
        .header("APIKey", WRITER_KEY)
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = Request::get("/health")
        .header("Host", "hdr.example.com")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.authreps().len(), 1, "a public request makes no call");
    assert_eq!(
        s.envoy.wait_for_stat(PUBLIC, 1, Duration::from_secs(5)),
        Some(1)
    );
    assert_eq!(
        s.envoy.wait_for_stat(AUTHORIZED, 2, Duration::from_secs(5)),
        Some(2)
    );
}

#[test]
fn mode_none_forwards_matched_requests_and_answers_no_match() {
    let s = start(vec![open_service()], false, true);
    let mut cases = Vec::new();
    for (i, shape) in SHAPES_TRIED.iter().enumerate() {
        let matched = Case::new("open.example.com", "/items/7?x=1")
            .header("X-3scale-Proxy-Secret-Token", "forged");
        // GET and POST rules only: PUT is not mapped.
        let expect = if matches!(shape.method(), "GET" | "POST") {
            Expect::Allowed
        } else {
            Expect::Denied(NO_MATCH.0, NO_MATCH.1)
        };
        cases.push((format!("m-{i}"), *shape, matched, expect));
        cases.push((
            format!("nm-{i}"),
            *shape,
            Case::new("open.example.com", "/other"),
            Expect::Denied(NO_MATCH.0, NO_MATCH.1),
        ));
        cases.push((
            format!("h-{i}"),
            *shape,
            Case::new("open.example.com", "/health/x"),
            Expect::Allowed,
        ));
        cases.push((
            format!("esc-{i}"),
            *shape,
            Case::new("open.example.com", "/items/..%2F..%2Fadmin"),
            Expect::Denied(400, AMBIGUOUS),
        ));
    }
    let failures = run_and_check(&s, &cases, 8);
    assert_none("mode none", &failures, cases.len());
    let upstream = s.echo.requests();
    for (mark, _, case, expect) in &cases {
        if *expect == Expect::Allowed {
            let got = seen(&upstream, mark);
            assert_eq!(got[0].path, case.target, "{mark}");
            assert_eq!(
                got[0].header("x-3scale-proxy-secret-token"),
                Some(SECRET),
                "{mark}"
            );
        }
    }
    let r = Request::put("/items")
        .header("Host", "open.example.com")
        .send(s.port());
    assert_eq!((r.status, r.body.as_str()), NO_MATCH);
    assert!(s.backend.requests().is_empty());
    let allowed = public_forwards(&s, &cases);
    assert_eq!(
        s.envoy
            .wait_for_stat(PUBLIC, allowed, Duration::from_secs(5)),
        Some(allowed)
    );
    // Every no-match case and the PUT, each counted once per try: an HTTP/2 shape may be sent
    // again (up to 3 tries) when curl loses Envoy's early answer.
    let no_match = cases
        .iter()
        .filter(|c| c.3 == Expect::Denied(NO_MATCH.0, NO_MATCH.1))
        .count() as u64
        + 1;
    let counted = s
        .envoy
        .stat("wasmcustom.tollgate.requests_denied.no_match")
        .unwrap_or(0);
    assert!(
        (no_match..=3 * no_match).contains(&counted),
        "{counted} no-match denials counted for {no_match} requests"
    );
}

#[test]
fn debug_headers_on_public_requests_and_the_debug_token_never_reaches_the_upstream() {
    let services = public_services();
    let s = start(
        services.iter().map(|(_, v)| v.clone()).collect(),
        false,
        true,
    );
    let r = Request::get("/health")
        .header("Host", "hdr.example.com")
        .header("X-3scale-Debug", support::TOKEN)
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("x-3scale-service-id"), Some("1"));
    assert_eq!(r.header("x-3scale-service-name"), Some("adv-1"));
    assert_eq!(r.header("x-3scale-credentials"), Some(""));
    assert_eq!(r.header("x-3scale-usage"), Some(""));
    let seen = r.echo();
    assert_eq!(seen.header("x-3scale-debug"), None);
    let r = Request::get("/health")
        .header("Host", "hdr.example.com")
        .header("X-3scale-Debug", "wrong")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("x-3scale-service-id"), None);
}

#[test]
fn with_envoy_normalising_paths_the_upstream_gets_the_normalised_path() {
    let services = public_services();
    let s = start(
        services.iter().map(|(_, v)| v.clone()).collect(),
        false,
        false,
    );
    let send = |target: &str| {
        Request::get(target)
            .header("Host", "hdr.example.com")
            .send(s.port())
    };
    let r = send("//health//live");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.echo().path, "/health/live");
    // Envoy resolves the dot segment first: `/private` needs credentials.
    let r = send("/health/../private");
    assert_eq!((r.status, r.body.as_str()), AUTH_MISSING, "{r}");
    let r = send("/docs/a/../../private");
    assert_eq!((r.status, r.body.as_str()), AUTH_MISSING, "{r}");
    assert_eq!(s.echo.requests().len(), 1);
}

#[test]
fn batching_public_requests_are_neither_authorized_nor_reported() {
    let mut services: Vec<Value> = public_services().into_iter().map(|(_, v)| v).collect();
    services.push(open_service());
    let s = start(services, true, true);
    for host in [
        "hdr.example.com",
        "app.example.com",
        "local.example.com",
        "open.example.com",
    ] {
        for target in ["/health", "/health/x?user_key=uk-ok-2"] {
            let r = Request::post(target)
                .header("Host", host)
                .form(&[("user_key", "uk-ok-3"), ("n", "1")])
                .send(s.port());
            assert_eq!(r.status, 200, "{host}{target}: {r}");
            assert_eq!(r.echo().body, "user_key=uk-ok-3&n=1");
        }
    }
    let r = Request::get("/items")
        .header("Host", "open.example.com")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    // Two report intervals: nothing is asked or reported for any of them.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        s.backend.requests().is_empty(),
        "{:?}",
        s.backend.requests()
    );
    assert_eq!(
        s.envoy.wait_for_stat(PUBLIC, 9, Duration::from_secs(5)),
        Some(9)
    );
}

/// The public requests the upstream received for the allowed cases: one per case, plus any
/// try the HTTP/2 shapes send again after curl loses an answer (each try is forwarded and
/// counted in `requests_public`).
fn public_forwards(s: &Stack, cases: &[(String, Shape, Case, Expect)]) -> u64 {
    let upstream = s.echo.requests();
    let forwards: usize = cases
        .iter()
        .filter(|c| c.3 == Expect::Allowed)
        .map(|(mark, ..)| seen(&upstream, mark).len().max(1))
        .sum();
    forwards as u64
}
