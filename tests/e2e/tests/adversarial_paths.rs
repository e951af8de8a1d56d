//! An attacker's view of paths: encoded slashes, backslashes, matrix parameters, encoded dot
//! segments and control bytes must not let a request be charged (or authorized) for one rule
//! while the upstream routes it to another.
//!
//! Rules `/admin` (metric `admin`, namespace `admin`, role `admin`, header secret) and
//! `/public`. For each corpus path, under Envoy's path normalisation on and off, either the
//! request is refused (4xx, nothing upstream, nothing charged), or the path the upstream got
//! routes, in an upstream that decodes `%2F`/`%5C`, treats `\` as `/`, strips `;params` and
//! resolves dot segments, to the rule the filter charged or authorized. With normalisation
//! off the filter sees the raw path, and an ambiguous one is answered 400
//! `Bad Request: ambiguous path` before anything else, for every service.

mod support;

use e2e::jwt::{self, Signer};
use e2e::{Request, Response};
use serde_json::{json, Value};
use support::adversarial::*;
use support::Stack;
use tollgate_core::auth::digest::stored_form;
use tollgate_core::auth::signed_url;

const PUBLIC_KEY: &str = "pk_adv_public_only_0123456789abcdef01234567";
const SIGNING: &str = "adversarial-url-signing-secret";

/// The attacker's corpus.
fn corpus() -> Vec<String> {
    let mut c: Vec<String> = [
        "/admin%2F..%2Fpublic",
        "/admin/..%2Fpublic",
        "/admin%2f%2e%2e%2fpublic",
        "/admin%20/..%2f..%2fpublic",
        "/public/..;/admin",
        "/public%5c..%5cadmin",
        "/public\\..\\admin",
        "/public/%2e%2e/admin",
        "/public/.%2e/admin",
        "/public//../admin",
        "/public;x=1/../admin",
        "/admin%00/public",
        "/%2e%2e/admin",
        // Our own.
        "/public%2F..%2fadmin",
        "/public/%2E%2e/admin",
        "/public/%2E./admin",
        "/public/..%5Cadmin",
        "/public%5Cadmin",
        "/public/%2e/admin",
        "/public/./admin",
        "/public/../admin",
        "/admin/%2e%2e/public",
        "/public;/admin",
        "/public/%09/../admin",
        "/public/%7F/../admin",
        "/public/%1f..%1fadmin",
        "/public/\t/../admin",
        "/public/%C3%A9/../admin",
        "/public/é/../admin",
        "/public/%252F..%252Fadmin",
        "/public/%252e%252e/admin",
        "/public/%3b..%3badmin",
        "//admin",
        "/public?x=/../admin",
        "/public/..%2F..%2F..%2Fadmin",
        "/public#/../admin",
        "/public/x#/../../admin",
        "/public%23/../admin",
        "/public/%2e%2e%3f/admin",
        "/public/..%00/admin",
        "/%2fadmin",
        "/public/%u002e%u002e/admin",
        "/public/%c0%ae%c0%ae/admin",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Very long: thousands of segments climbed back out of.
    c.push(format!(
        "/public/{}{}admin",
        "x/".repeat(3000),
        "../".repeat(3001)
    ));
    c.push(format!("/public/{}%2F..%2Fadmin", "y".repeat(20_000)));
    c
}

/// Paths that must keep working (200) and the metric they are charged.
const PLAIN: &[(&str, &str)] = &[
    ("/public", "public"),
    ("/public/x%20y", "public"),
    ("/public//x", "public"),
    ("/public/%41", "public"),
    ("/public/caf%C3%A9", "public"),
    ("/public/%252F", "public"),
    ("/%61dmin", "admin"),
    ("/admin/users", "admin"),
];

/// The spec's ambiguity rule, applied to a raw path (query excluded).
fn ambiguous(target: &str) -> bool {
    let path = target.split('?').next().unwrap_or("");
    let lower = path.to_ascii_lowercase();
    if path.contains('\\') || lower.contains("%5c") || lower.contains("%2f") || path.contains(';') {
        return true;
    }
    let decoded = percent_decode(path);
    if decoded.iter().any(|b| *b < 0x20 || *b == 0x7f) && has_encoded_control(&lower) {
        return true;
    }
    decoded
        .split(|b| *b == b'/')
        .any(|seg| seg == b"." || seg == b"..")
}

fn has_encoded_control(lower: &str) -> bool {
    let b = lower.as_bytes();
    (0..b.len().saturating_sub(2)).any(|i| {
        b[i] == b'%'
            && ((b[i + 1] == b'0' || b[i + 1] == b'1') && b[i + 2].is_ascii_hexdigit()
                || (b[i + 1] == b'7' && b[i + 2] == b'f'))
    })
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// What a lenient upstream routes the received path to: decoded once, `\` as `/`, `;params`
/// stripped from segments, dot segments resolved, slashes merged.
fn upstream_view(received: &str) -> String {
    let path = received.split('?').next().unwrap_or("");
    let decoded = String::from_utf8_lossy(&percent_decode(path)).replace('\\', "/");
    let mut segs: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg.split(';').next().unwrap_or("") {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    format!("/{}", segs.join("/"))
}

/// The rule (prefix, as APIcast matches) the upstream's view falls under.
fn route(view: &str) -> &'static str {
    if view.starts_with("/admin") {
        "admin"
    } else if view.starts_with("/public") {
        "public"
    } else {
        "none"
    }
}

fn rules(extra: &str) -> Value {
    let r = |p: &str, m: &str| {
        let mut r =
            json!({"http_method": "ANY", "pattern": p, "metric_system_name": m, "delta": 1});
        match extra {
            "namespace" => r["namespace"] = json!(m),
            "roles" if m == "admin" => r["roles"] = json!(["admin"]),
            _ => {}
        }
        r
    };
    json!([r("/admin", "admin"), r("/public", "public")])
}

fn services() -> Vec<Value> {
    let hs = Signer::hs256(HS_SECRET, "adv-hs");
    vec![
        three_scale(1, 1, "s3.example.com", "headers", rules("")),
        json!({"id": 10, "authentication": {"mode": "local", "api_keys": {"header": "APIKey", "keys": [
                {"id": "pub", "hash": stored_form(PUBLIC_KEY), "grants": [{"namespace": "public", "actions": ["*"]}]}]}},
               "proxy": {"hosts": ["grants.example.com"], "proxy_rules": rules("namespace")}}),
        json!({"id": 11, "authentication": {"mode": "local", "jwt": {"jwks": Signer::jwks(&[&hs])}},
               "proxy": {"hosts": ["roles.example.com"], "proxy_rules": rules("roles")}}),
        json!({"id": 12, "authentication": {"mode": "local", "api_keys": {"header": "APIKey", "keys": [
                {"id": "pub", "hash": stored_form(PUBLIC_KEY)}]},
                "header_secrets": [{"path_prefix": "/admin", "header": "X-Admin-Secret", "secret": ADMIN_SECRET}]},
               "proxy": {"hosts": ["hsecret.example.com"], "proxy_rules": [
                   {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}}),
        json!({"id": 13, "authentication": {"mode": "local", "signed_urls": {"secret": SIGNING}},
               "proxy": {"hosts": ["signed.example.com"]}}),
    ]
}

/// One request through one service: its answer, what the upstream got, what was charged.
struct Probe {
    resp: Result<Response, String>,
    upstream: Vec<String>,
    charged: Vec<String>,
    backend_calls: usize,
}

fn probe(s: &Stack, host: &str, target: &str, mark: &str) -> Probe {
    let before = s.backend.requests().len();
    let mut r = Request::get(target).header("Host", host).header(MARK, mark);
    r = match host {
        "s3.example.com" => r.header("user_key", "uk-ok-0"),
        "grants.example.com" | "hsecret.example.com" => r.header("APIKey", PUBLIC_KEY),
        "roles.example.com" => r.header("Authorization", &format!("Bearer {}", token(&["reader"]))),
        _ => r,
    };
    let resp = r.try_send(s.port()).map_err(|e| e.to_string());
    let calls: Vec<_> = s.backend.requests().into_iter().skip(before).collect();
    Probe {
        resp,
        upstream: seen(&s.echo.requests(), mark)
            .iter()
            .map(|r| r.path.clone())
            .collect(),
        charged: calls
            .iter()
            .flat_map(usage)
            .filter(|(_, v)| v != "0")
            .map(|(m, _)| m)
            .collect(),
        backend_calls: calls.len(),
    }
}

/// The target sent to a service (signed URLs get their signature).
fn target_for(host: &str, path: &str) -> String {
    if host == "signed.example.com" {
        signed_url::sign(SIGNING.as_bytes(), "GET", path, jwt::now() + 600).unwrap()
    } else {
        path.to_string()
    }
}

const HOSTS: [&str; 5] = [
    "s3.example.com",
    "grants.example.com",
    "roles.example.com",
    "hsecret.example.com",
    "signed.example.com",
];

/// The filter's own refusal of a path: 400 ambiguous, or 414 for one over `max_path_bytes`
/// (8 KB by default), which comes first. Both count as `requests_denied.bad_request`.
fn is_filter_refusal(r: &e2e::Response) -> bool {
    (r.status, r.body.as_str()) == (400, AMBIGUOUS)
        || (r.status, r.body.as_str()) == (414, TOO_LONG)
}

const TOO_LONG: &str = "URI Too Long";

fn check_setting(raw: bool) -> (Vec<String>, usize) {
    let setting = if raw { "raw" } else { "normalized" };
    let s = adv_stack_paths(adv_config(services(), false), raw);
    let mut failures = Vec::new();
    let mut total = 0;
    let mut filter_400s = 0;
    let short = |p: &str| p.chars().take(70).collect::<String>();
    for (i, path) in corpus().iter().enumerate() {
        for host in HOSTS {
            total += 1;
            let mark = format!("{setting}/{host}/{i}");
            let target = target_for(host, path);
            let p = probe(&s, host, &target, &mark);
            let who = format!("{setting} {host} {:?}", short(path));
            let resp = match &p.resp {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{who}: no answer ({e})"));
                    continue;
                }
            };
            if is_filter_refusal(resp) {
                filter_400s += 1;
                if resp.header("content-type") != Some("text/plain; charset=utf-8") {
                    failures.push(format!(
                        "{who}: 400 with content-type {:?}",
                        resp.header("content-type")
                    ));
                }
            }
            // With Envoy's normalisation off, the filter sees the raw path: an ambiguous one
            // is refused with the path check's 400 (unless Envoy's codec refused it first).
            if raw && ambiguous(path) {
                let codec_refusal = resp.status == 400
                    && path
                        .bytes()
                        .any(|b| b <= b' ' || b >= 0x7f || b == b'\\' || b == b'#');
                if !is_filter_refusal(resp) && !codec_refusal {
                    failures.push(format!(
                        "{who}: ambiguous raw path answered {} {:?}, expected 400 {AMBIGUOUS:?}",
                        resp.status,
                        short(&resp.body)
                    ));
                }
            }
            if resp.status >= 400 {
                if !p.upstream.is_empty() || p.backend_calls != 0 {
                    failures.push(format!(
                        "{who}: refused {} but upstream got {:?}, backend called {} time(s)",
                        resp.status, p.upstream, p.backend_calls
                    ));
                }
                continue;
            }
            if resp.status != 200 || p.upstream.len() != 1 {
                failures.push(format!(
                    "{who}: answered {}, upstream got it {} time(s)",
                    resp.status,
                    p.upstream.len()
                ));
                continue;
            }
            let view = upstream_view(&p.upstream[0]);
            let routed = route(&view);
            let bad = match host {
                "s3.example.com" => p.charged != vec![routed.to_string()],
                "grants.example.com" | "roles.example.com" => routed != "public",
                "hsecret.example.com" => routed == "admin",
                _ => false, // a signed URL authorizes exactly the request its signer made
            };
            if bad {
                failures.push(format!(
                    "{who}: forwarded as {:?} (routes to {routed}: {:?}) but charged {:?}",
                    short(&p.upstream[0]),
                    short(&view),
                    p.charged
                ));
            }
        }
    }
    // Plain paths keep working and are charged the right metric.
    for (path, metric) in PLAIN {
        for host in HOSTS {
            total += 1;
            let mark = format!("{setting}/{host}/plain{path}");
            let p = probe(&s, host, &target_for(host, path), &mark);
            let ok_status = p.resp.as_ref().is_ok_and(|r| r.status == 200);
            // Local services only grant `public`. A signed URL covers the path as sent, which
            // Envoy's normalisation may rewrite (`//`, `%41`) before the filter sees it.
            let local_admin =
                *metric == "admin" && host != "s3.example.com" && host != "signed.example.com";
            let rewritten_signature = host == "signed.example.com" && !raw;
            let expect_ok = !local_admin && !rewritten_signature;
            if expect_ok && (!ok_status || p.upstream.len() != 1) {
                failures.push(format!(
                    "{setting} {host} plain {path:?}: {:?}, upstream got {:?}",
                    p.resp
                        .as_ref()
                        .map(|r| (r.status, r.body.chars().take(60).collect::<String>())),
                    p.upstream
                ));
            }
            if host == "s3.example.com" && ok_status && p.charged != vec![metric.to_string()] {
                failures.push(format!(
                    "{setting} s3 plain {path:?}: charged {:?}",
                    p.charged
                ));
            }
            if host == "s3.example.com" && ok_status {
                if let Some(up) = p.upstream.first() {
                    if raw && up != path {
                        failures.push(format!(
                            "{setting} s3 plain {path:?}: forwarded as {up:?}, not unchanged"
                        ));
                    }
                }
            }
        }
    }
    // The path check comes before service selection.
    if raw {
        for path in [
            "/admin%2F..%2Fpublic",
            "/public/..;/admin",
            "/public/%2e%2e/admin",
        ] {
            total += 1;
            let r = Request::get(path)
                .header("Host", "unknown.example.com")
                .send(s.port());
            if (r.status, r.body.as_str()) != (400, AMBIGUOUS) {
                failures.push(format!(
                    "raw unknown host {path:?}: {} {:?}, expected 400 first",
                    r.status, r.body
                ));
            } else {
                filter_400s += 1;
            }
        }
    }
    let counted = support::cache::wait_stat(
        &s.envoy,
        "requests_denied.bad_request",
        filter_400s,
        std::time::Duration::from_secs(2),
    );
    if counted != filter_400s {
        failures.push(format!(
            "{setting}: tollgate.requests_denied.bad_request is {counted}, the filter answered {filter_400s} ambiguous-path 400s"
        ));
    }
    if raw && filter_400s == 0 {
        failures.push("raw: the filter never answered 400 ambiguous path".into());
    }
    failures.extend(still_serving_s3(&s));
    (failures, total)
}

fn still_serving_s3(s: &Stack) -> Vec<String> {
    (0..4)
        .filter_map(|i| {
            let r = Request::get("/public/alive")
                .header("Host", "s3.example.com")
                .header("user_key", "uk-ok-1")
                .send(s.port());
            (r.status != 200).then(|| format!("follow-up #{i}: {} {:?}", r.status, r.body))
        })
        .collect()
}

#[test]
fn path_tricks_never_dodge_a_rule_with_envoy_normalising() {
    let (failures, total) = check_setting(false);
    assert_none(
        "paths, Envoy normalize_path + merge_slashes",
        &failures,
        total,
    );
}

#[test]
fn path_tricks_never_dodge_a_rule_on_raw_paths() {
    let (failures, total) = check_setting(true);
    assert_none("paths, raw (no Envoy normalisation)", &failures, total);
}

#[test]
fn the_model_of_the_upstream_is_what_the_suite_assumes() {
    assert_eq!(upstream_view("/public/..;/admin"), "/admin");
    assert_eq!(upstream_view("/admin%2F..%2Fpublic"), "/public");
    assert_eq!(upstream_view("/public\\..\\admin"), "/admin");
    assert_eq!(
        upstream_view("/public/%252F..%252Fadmin"),
        "/public/%2F..%2Fadmin"
    );
    assert!(ambiguous("/public/.%2e/admin") && ambiguous("/a%00b") && ambiguous("/a;b"));
    assert!(
        !ambiguous("/public/x%20y") && !ambiguous("/public/%41") && !ambiguous("/public?x=/../a")
    );
    assert!(!ambiguous("/public/%252F..%252Fadmin") && !ambiguous("/public/caf%C3%A9"));
}

/// The backend calls a request can cause in batching mode (authorizations): reports are left
/// out, since they carry earlier requests' usage on the reporting timer (the first one at the
/// first tick after boot, whichever case is running then).
fn decision_calls(s: &Stack) -> usize {
    let requests = s.backend.requests();
    requests
        .iter()
        .filter(|r| !(r.method == "POST" && r.path == "/transactions.xml"))
        .count()
}

/// The path check holds in batching mode and over HTTP/2 too: every ambiguous corpus path
/// is refused with the 400 before any backend call (raw paths), plain ones are forwarded.
#[test]
fn ambiguous_paths_are_refused_in_batching_mode_and_over_http2() {
    let s = adv_stack_paths(adv_config(services(), true), true);
    let mut failures = Vec::new();
    let mut total = 0;
    let ambiguous_paths: Vec<String> = corpus()
        .into_iter()
        .filter(|p| {
            ambiguous(p)
                && p.bytes()
                    .all(|b| b > b' ' && b < 0x7f && b != b'\\' && b != b'#')
        })
        .collect();
    for h2 in [false, true] {
        let proto = if h2 { "h2" } else { "h1" };
        for (i, path) in ambiguous_paths.iter().enumerate() {
            total += 1;
            let mark = format!("batching/{proto}/{i}");
            let before = decision_calls(&s);
            let resp = if h2 {
                e2e::curl::Curl::new("GET", path)
                    .http2()
                    .header("Host", "s3.example.com")
                    .header("user_key", "uk-ok-2")
                    .header(MARK, &mark)
                    .try_send(s.port())
                    .map_err(|e| e.to_string())
            } else {
                Request::get(path)
                    .header("Host", "s3.example.com")
                    .header("user_key", "uk-ok-2")
                    .header(MARK, &mark)
                    .try_send(s.port())
                    .map_err(|e| e.to_string())
            };
            let upstream = seen(&s.echo.requests(), &mark).len();
            let calls = decision_calls(&s) - before;
            match resp {
                Ok(r) if is_filter_refusal(&r) && upstream == 0 && calls == 0 => {}
                other => failures.push(format!(
                    "{proto} {:?}: {:?}, upstream {upstream}, backend calls {calls}",
                    path.chars().take(60).collect::<String>(),
                    other.map(|r| (r.status, r.body.chars().take(60).collect::<String>()))
                )),
            }
        }
        for (path, _) in PLAIN {
            total += 1;
            let r = Request::get(path)
                .header("Host", "s3.example.com")
                .header("user_key", "uk-ok-2")
                .send(s.port());
            if r.status != 200 {
                failures.push(format!("{proto} plain {path:?}: {} {:?}", r.status, r.body));
            }
        }
    }
    // HTTP/2 lets a client put bytes in `:path` that HTTP/1.1 cannot carry (raw frames, as
    // curl would clean them up): refused by Envoy or the filter, never forwarded.
    for (i, path) in [
        "/public#/../admin",
        "/public/ /../admin",
        "/public/\t/../admin",
        "/public\\..\\admin",
        "/public/%2e%2e/admin",
        "/public/..;/admin",
        "/admin%2F..%2Fpublic",
    ]
    .iter()
    .enumerate()
    {
        total += 1;
        let mark = format!("batching/h2raw/{i}");
        let before = decision_calls(&s);
        let r = e2e::h2::send_with_trailers(
            s.port(),
            "GET",
            "s3.example.com",
            path,
            &[("user_key", "uk-ok-2"), (MARK, &mark)],
            b"",
            &[],
        );
        let upstream = seen(&s.echo.requests(), &mark).len();
        let calls = decision_calls(&s) - before;
        // Envoy's HTTP/2 codec drops the connection on a space or tab in `:path`.
        let refused = r.as_ref().map_or(true, |r| (400..500).contains(&r.status));
        if !refused || upstream != 0 || calls != 0 {
            failures.push(format!(
                "h2 raw :path {path:?}: {r:?}, upstream {upstream}, backend calls {calls}"
            ));
        }
    }
    assert_none("paths in batching mode", &failures, total);
}
