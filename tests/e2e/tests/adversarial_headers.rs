//! An attacker's view of the upstream's headers: the client can never set the upstream's
//! secret-token or debug headers in any spelling (canonical, case, underscores, duplicates),
//! over HTTP/1.1 and HTTP/2, in authrep and batching mode, with credentials in headers or only
//! in a form body; and a forwarded host naming another service is refused. Credential
//! parsing and injection are in `adversarial_credentials.rs`.

mod support;

use e2e::curl::Curl;
use e2e::{EchoRequest, Request, Response};
use serde_json::json;
use support::adversarial::*;
use support::TOKEN;

fn normalise(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// What is wrong with the secret-token and debug headers the upstream received: exactly one
/// secret token, the configured one (none on `nosecret.example.com`), and no debug header.
fn header_problems(seen: &EchoRequest, host: &str) -> Option<String> {
    let tokens: Vec<&(String, String)> = seen
        .headers
        .iter()
        .filter(|(k, _)| normalise(k) == "x-3scale-proxy-secret-token")
        .collect();
    let debug: Vec<&(String, String)> = seen
        .headers
        .iter()
        .filter(|(k, _)| normalise(k) == "x-3scale-debug")
        .collect();
    let token_ok = if host == "nosecret.example.com" {
        tokens.is_empty()
    } else {
        tokens.len() == 1 && tokens[0].1 == SECRET
    };
    let ok = token_ok && debug.is_empty();
    (!ok).then(|| format!("secret-token headers {tokens:?}, debug headers {debug:?}"))
}

#[test]
fn the_client_cannot_set_the_secret_token_or_debug_headers_upstream() {
    let spoofs: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("canonical", vec![("X-3scale-proxy-secret-token", "evil")]),
        ("lowercase", vec![("x-3scale-proxy-secret-token", "evil")]),
        ("underscores", vec![("X_3scale_proxy_secret_token", "evil")]),
        ("mixed", vec![("x-3scale_proxy-secret_token", "evil")]),
        ("upper", vec![("X-3SCALE-PROXY-SECRET-TOKEN", "evil")]),
        (
            "duplicates",
            vec![
                ("x-3scale-proxy-secret-token", "evil1"),
                ("x-3scale-proxy-secret-token", "evil2"),
            ],
        ),
        (
            "every_spelling",
            vec![
                ("X_3SCALE_PROXY_SECRET_TOKEN", "e1"),
                ("x-3scale-proxy-secret-token", "e2"),
                ("x_3scale-proxy_secret-token", "e3"),
                ("x-3scale-proxy-secret_token", "e4"),
            ],
        ),
        ("debug", vec![("X-3scale-Debug", TOKEN)]),
        ("debug_underscores", vec![("x_3scale_debug", TOKEN)]),
        ("debug_mixed", vec![("X-3SCALE_DEBUG", "x")]),
        (
            "debug_both",
            vec![("x-3scale-debug", "a"), ("x_3scale_debug", "b")],
        ),
        (
            "all",
            vec![
                ("x_3scale_proxy_secret_token", "e1"),
                ("X-3scale-Proxy-Secret-Token", "e2"),
                ("x_3scale_debug", TOKEN),
                ("X-3scale-Debug", TOKEN),
            ],
        ),
    ];
    let targets: Vec<(&str, Vec<(String, String)>)> = vec![
        (
            "hdr.example.com",
            vec![("user_key".into(), "uk-ok-1".into())],
        ),
        (
            "local.example.com",
            vec![("APIKey".into(), WRITER_KEY.into())],
        ),
        (
            "nosecret.example.com",
            vec![("APIKey".into(), WRITER_KEY.into())],
        ),
        (
            "jwt.example.com",
            vec![(
                "Authorization".into(),
                format!("Bearer {}", token(&["admin"])),
            )],
        ),
    ];
    let mut failures = Vec::new();
    let mut total = 0;
    for batching in [false, true] {
        let mode = if batching { "batching" } else { "authrep" };
        let s = adv_stack(adv_config(header_services(), batching));
        // Batching: the first round is a cache miss, the second a hit.
        for round in 0..(1 + usize::from(batching)) {
            for (host, creds) in &targets {
                for (spoof, extra) in &spoofs {
                    for h2 in [false, true] {
                        total += 1;
                        let mark = format!(
                            "{mode}/{round}/{host}/{spoof}/{}",
                            if h2 { "h2" } else { "h1" }
                        );
                        let mut headers: Vec<(String, String)> = creds.clone();
                        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
                        headers.push((MARK.into(), mark.clone()));
                        let resp = send(s.port(), host, "/api/x", &headers, h2);
                        let upstream = s.echo.requests();
                        let got = seen(&upstream, &mark);
                        match (&resp, got.as_slice()) {
                            (Ok(r), [one]) if r.status == 200 => {
                                if let Some(p) = header_problems(one, host) {
                                    failures.push(format!("{mark}: {p}"));
                                }
                            }
                            (r, got) => failures.push(format!(
                                "{mark}: {:?}, upstream saw it {} time(s)",
                                r.as_ref().map(|r| (r.status, r.body.clone())),
                                got.len()
                            )),
                        }
                    }
                }
            }
        }
        // Credentials only in a form body: the verdict (and the header changes) come from
        // the body callback, over HTTP/1.1 and HTTP/2 (trailers end the body).
        let spoof_all = &spoofs.last().unwrap().1;
        for (i, proto) in ["h1", "h2", "h2-trailers"].iter().enumerate() {
            total += 1;
            let mark = format!("{mode}/form-creds/{proto}");
            let body = format!("a=1&user_key=uk-q-{}&b=2", 20 + i);
            let mut headers: Vec<(&str, &str)> = spoof_all.clone();
            headers.extend([
                ("content-type", "application/x-www-form-urlencoded"),
                (MARK, mark.as_str()),
            ]);
            let status = match *proto {
                "h1" => {
                    let mut r = Request::post("/api/x").header("Host", "query.example.com");
                    for (k, v) in &headers {
                        r = r.header(k, v);
                    }
                    r.body(body.clone()).try_send(s.port()).map(|r| r.status)
                }
                _ => e2e::h2::send_with_trailers(
                    s.port(),
                    "POST",
                    "query.example.com",
                    "/api/x",
                    &headers,
                    body.as_bytes(),
                    if *proto == "h2" { &[] } else { &[("x-t", "1")] },
                )
                .map(|r| r.status),
            };
            let upstream = s.echo.requests();
            match (status, seen(&upstream, &mark).as_slice()) {
                (Ok(200), [one]) if one.body == body => {
                    if let Some(p) = header_problems(one, "query.example.com") {
                        failures.push(format!("{mark}: {p}"));
                    }
                }
                (status, got) => failures.push(format!(
                    "{mark}: {status:?}, upstream saw it {} time(s)",
                    got.len()
                )),
            }
        }
    }
    assert_none("secret-token and debug headers", &failures, total);
}

fn send(
    port: u16,
    host: &str,
    target: &str,
    headers: &[(String, String)],
    h2: bool,
) -> Result<Response, String> {
    if h2 {
        let mut c = Curl::new("GET", target).http2().header("Host", host);
        for (k, v) in headers {
            c = c.header(k, v);
        }
        c.try_send(port).map_err(|e| e.to_string())
    } else {
        let mut r = Request::get(target).header("Host", host);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        r.try_send(port).map_err(|e| e.to_string())
    }
}

/// Two services on one upstream (the shipped examples route every host to one cluster):
/// `public.example.com` open (`mode: none`), `api.example.com` guarded by a user key. An
/// upstream that reads the host from `X-Forwarded-Host` or `Forwarded: host=` (Rails always,
/// Express, Django, Symfony, Laravel behind trusted proxies) served a request checked as the
/// public service as the guarded one (found by an audit, 2026-12-06, module s25a): 400
/// before any backend call. A front proxy's own name (no service lists it) still passes.
#[test]
fn a_forwarded_host_naming_another_service_is_refused() {
    let rule =
        json!([{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let public = json!({"id": 20, "authentication": {"mode": "none"},
        "proxy": {"hosts": ["public.example.com"], "proxy_rules": rule}});
    let guarded = support::service(
        1,
        json!(1),
        json!({"hosts": ["api.example.com", "api.internal"]}),
    );
    let s = support::Stack::start(support::config(vec![public, guarded]));
    let smuggled: [&[(&str, &str)]; 6] = [
        // Spring's and Vert.x's regex finds `host=` anywhere; Express cuts at the first `:`
        // (found by a review, 2026-12-06).
        &[("Forwarded", "for=\"host=api.example.com\"")],
        &[("X-Forwarded-Host", "api.example.com:abc")],
        &[("X-Forwarded-Host", "api.example.com")],
        &[("X-Forwarded-Host", "cdn.example.net, API.example.com:443")],
        &[
            ("X-Forwarded-Host", "cdn.example.net"),
            ("X-Forwarded-Host", "api.example.com"),
        ],
        &[(
            "Forwarded",
            "for=192.0.2.1;Host=\"api.example.com:443\";proto=https",
        )],
    ];
    for headers in smuggled {
        let mut r = Request::get("/admin").header("Host", "public.example.com");
        for (k, v) in headers {
            r = r.header(k, v);
        }
        let r = r.send(s.port());
        assert_eq!(
            (r.status, r.body.as_str(), r.header("content-type")),
            (
                400,
                "Bad Request: ambiguous host",
                Some("text/plain; charset=utf-8")
            ),
            "{headers:?}: {}",
            if r.from_echo() {
                "forwarded to the upstream"
            } else {
                ""
            }
        );
    }
    // The same refusal for a request with a body (chunked form, HTTP/2 with trailers): it is
    // decided on the headers, before any body is read.
    let chunked = Request::post("/admin")
        .header("Host", "public.example.com")
        .header("X-Forwarded-Host", "api.example.com")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Transfer-Encoding", "chunked")
        .body("3\r\na=1\r\n0\r\n\r\n")
        .send(s.port());
    assert_eq!(
        (chunked.status, chunked.body.as_str()),
        (400, "Bad Request: ambiguous host")
    );
    let h2 = e2e::h2::send_with_trailers(
        s.port(),
        "POST",
        "public.example.com",
        "/admin",
        &[
            ("forwarded", "host=api.example.com"),
            ("content-type", "application/json"),
        ],
        b"{}",
        &[("x-t", "1")],
    )
    .map(|r| (r.status, r.body));
    assert_eq!(
        h2.ok(),
        Some((400, "Bad Request: ambiguous host".to_string()))
    );
    assert_eq!(
        s.echo.request_count(),
        0,
        "the upstream got a smuggled request"
    );
    assert_eq!(s.backend.requests().len(), 0, "the backend was asked");

    // A CDN's name, and the request's own host on another port: forwarded as sent.
    for forwarded in ["cdn.example.net", "public.example.com:8443"] {
        let r = Request::get("/docs")
            .header("Host", "public.example.com")
            .header("X-Forwarded-Host", forwarded)
            .send(s.port());
        assert_eq!(r.status, 200, "{forwarded}: {} {:?}", r.status, r.body);
        assert_eq!(r.echo().header("x-forwarded-host"), Some(forwarded));
    }
    assert_eq!(s.echo.request_count(), 2);
    assert_eq!(
        s.backend.requests().len(),
        0,
        "the public service asks no backend"
    );

    // A front proxy rewriting `Host` to another host of the same service, forwarding the
    // public one: no confusion, forwarded and authorized as that service.
    let r = Request::get(&format!("/docs?user_key={}", support::USER_KEY))
        .header("Host", "api.internal")
        .header("X-Forwarded-Host", "api.example.com")
        .send(s.port());
    assert_eq!(r.status, 200, "{} {:?}", r.status, r.body);
    assert_eq!(r.echo().header("x-forwarded-host"), Some("api.example.com"));
    let calls = s.backend.requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].param("service_id"), Some("1"));
    assert_eq!(calls[0].param("user_key"), Some(support::USER_KEY));
}
