//! The 3scale path read as upstream frameworks read a request (an audit, 2026-12-05): until
//! then Tollgate matched the mapping rules on another reading than the upstream's, so that the
//! upstream served the dear rule while the backend was told the cheap one, or read another
//! credential than the one authorized. Form args on a `headers` service and on `DELETE`, a
//! placeholder segment with `|`, PHP's arg-name mangling, `;` as a query separator, a gzipped
//! form body, and a client's `X-Original-URL`.
//!
//! Every service here has the dear rule (`get_foo`, delta 10) and the cheap catch-all (`hits`,
//! delta 1, as 3scale's default `GET /` rule). Each test sends the request an upstream framework
//! serves as the dear rule and requires either a refusal (4xx, nothing upstream, no authrep) or
//! an authrep with `usage[get_foo]=10`. Each failed on the module before the fixes.

mod support;

use e2e::http::send_raw;
use e2e::mock_backend::ReceivedRequest;
use e2e::{Request, Response};
use serde_json::{json, Value};
use support::*;

/// The usage an authrep carried, sorted: `usage[get_foo]=10&usage[hits]=1`.
fn usage_of(call: &ReceivedRequest) -> String {
    let mut u: Vec<String> = call
        .query
        .iter()
        .filter(|(k, _)| k.starts_with("usage["))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    u.sort();
    u.join("&")
}

const DEAR: &str = "usage[get_foo]=10&usage[hits]=1";
const CHEAP: &str = "usage[hits]=1";

fn rule(method: &str, pattern: &str, metric: &str, delta: u64) -> Value {
    json!({"http_method": method, "pattern": pattern, "metric_system_name": metric, "delta": delta})
}

/// Service 1 on `api.example.com` with `proxy` merged over the defaults.
fn stack(proxy: Value) -> Stack {
    Stack::start(config(vec![service(1, json!(1), proxy)]))
}

/// `None` when the request was refused before the upstream and the backend, or forwarded once
/// and metered as the dear rule; otherwise what went wrong.
fn dear_or_refused(s: &Stack, what: &str, r: &Response) -> Option<String> {
    let upstream = s.echo.requests();
    let authreps = s.authreps();
    let usage: Vec<String> = authreps.iter().map(usage_of).collect();
    s.echo.clear();
    s.backend.clear_requests();
    let seen: Vec<String> = upstream
        .iter()
        .map(|e| format!("{} {} body={:?}", e.method, e.path, e.body))
        .collect();
    match r.status {
        200 if upstream.len() == 1 && usage == [DEAR] => None,
        400..=499 if upstream.is_empty() && authreps.is_empty() => None,
        status => Some(format!(
            "{what}: client got {status}, backend metered {usage:?}, upstream received {seen:?}"
        )),
    }
}

fn assert_none(problems: Vec<Option<String>>) {
    let problems: Vec<String> = problems.into_iter().flatten().collect();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The control every test starts with: the plain dear request is metered as the dear rule.
fn control(s: &Stack, r: Response) {
    assert_eq!(r.status, 200, "control: {r}");
    assert_eq!(dear_or_refused(s, "control", &r), None);
}

fn raw_get(s: &Stack, target: &str, headers: &str) -> Response {
    let raw = format!(
        "GET {target} HTTP/1.1\r\nHost: api.example.com\r\n{headers}Connection: close\r\n\r\n"
    );
    send_raw(s.port(), raw.as_bytes()).unwrap()
}

/// A `credentials_location: headers` service with a rule on a form arg. APIcast's mapping
/// rules read the form body of every non-GET request whatever the credentials location
/// (`get_auth_params` in apicast/configuration/service.lua); Tollgate reads it only for
/// `credentials_location: query`. `POST /reports` with the form body `scope=all` is metered as
/// the catch-all, and the upstream (Express `req.body`, Flask `request.form`, Rails `params`,
/// Spring `@RequestParam`, PHP `$_POST`) serves `scope=all`.
#[test]
fn a_form_arg_on_a_headers_service_is_metered_by_its_rule() {
    let s = stack(json!({"credentials_location": "headers", "proxy_rules": [
        rule("POST", "/reports?scope=all", "get_foo", 10),
        rule("ANY", "/", "hits", 1)
    ]}));
    let post = |target: &str, body: &str| {
        Request::post(target)
            .header("Host", "api.example.com")
            .header("User-Key", USER_KEY)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send(s.port())
    };
    control(&s, post("/reports?scope=all", ""));
    let r = post("/reports", "scope=all");
    // What happens today: forwarded with the body intact, metered as the catch-all.
    assert_none(vec![dear_or_refused(
        &s,
        "POST /reports, form scope=all",
        &r,
    )]);
}

/// A `credentials_location: query` service: the form body is read for `POST`, `PUT` and
/// `PATCH` only. APIcast's rules read it for every method but `GET`, and Rails, Spring's
/// `FormContentFilter`, Flask and Express parse a form body on `DELETE` too.
#[test]
fn a_form_arg_on_delete_is_metered_by_its_rule() {
    let s = stack(json!({"proxy_rules": [
        rule("DELETE", "/items?purge=true", "get_foo", 10),
        rule("ANY", "/", "hits", 1)
    ]}));
    let delete = |target: &str, body: &str| {
        Request::delete(target)
            .header("Host", "api.example.com")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send(s.port())
    };
    control(
        &s,
        delete(&format!("/items?purge=true&user_key={USER_KEY}"), ""),
    );
    let r = delete(&format!("/items?user_key={USER_KEY}"), "purge=true");
    assert_none(vec![dear_or_refused(
        &s,
        "DELETE /items, form purge=true",
        &r,
    )]);
}

/// `{id}` matches a segment of `[A-Za-z0-9_\-.~%!$&'()*+,;=@:]` only, and the rules see the
/// path percent-decoded: `/users/1%7C/export` (or `%22`, `%5B..%5D`, `%60`, `%7B`, `%5E`) matches
/// no `{id}` rule and falls to the catch-all. The upstream routes it to `/users/:id/export`
/// (Express, Rails, Flask, Spring, Go 1.22 patterns match any segment) with `id = "1|"`,
/// which Rails' `find` (`"1|".to_i`), PHP's `(int)` and JavaScript's `parseInt` read as 1.
#[test]
fn a_placeholder_segment_with_a_character_outside_its_class_is_metered_by_its_rule() {
    let s = stack(json!({"proxy_rules": [
        rule("GET", "/users/{id}/export", "get_foo", 10),
        rule("ANY", "/", "hits", 1)
    ]}));
    let k = format!("user_key={USER_KEY}");
    control(&s, raw_get(&s, &format!("/users/1/export?{k}"), ""));
    let mut problems = Vec::new();
    for id in ["1%7C", "1%22", "%5B1%5D", "1%60", "1%7B%7D", "1%5E", "1|"] {
        let target = format!("/users/{id}/export?{k}");
        let r = raw_get(&s, &target, "");
        problems.push(dear_or_refused(&s, &target, &r));
    }
    assert_none(problems);
}

/// PHP turns ` `, `.` and `[` in an arg name into `_` (and drops leading spaces):
/// `?report.type=full` is `$_GET['report_type']`. Tollgate's rules compare names exactly (and
/// refuse another case as ambiguous), so the rule on `report_type=full` is dodged.
#[test]
fn php_arg_name_mangling_cannot_dodge_an_arg_rule() {
    let s = stack(json!({"proxy_rules": [
        rule("GET", "/reports?report_type=full", "get_foo", 10),
        rule("ANY", "/", "hits", 1)
    ]}));
    let k = format!("user_key={USER_KEY}");
    control(
        &s,
        raw_get(&s, &format!("/reports?report_type=full&{k}"), ""),
    );
    let mut problems = Vec::new();
    for name in [
        "report.type",
        "report%20type",
        "report[type",
        "%20report_type",
    ] {
        let target = format!("/reports?{name}=full&{k}");
        let r = raw_get(&s, &target, "");
        problems.push(dear_or_refused(&s, &target, &r));
    }
    assert_none(problems);
}

/// The same mangling on the credential: `?user_key=<valid>&user.key=<other>` is authorized
/// as the valid key while PHP's `$_GET['user_key']` (the last) is the other one. README:
/// "A credential sent twice with different values is refused (auth failed): the upstream
/// cannot read another key or app id than the one authorized."
#[test]
fn php_arg_name_mangling_cannot_show_the_upstream_another_credential() {
    let s = stack(json!({}));
    let mut problems = Vec::new();
    for other in ["user.key", "user%20key", "user[key"] {
        let target = format!("/x?user_key={USER_KEY}&{other}=someone-elses-key");
        let r = raw_get(&s, &target, "");
        let upstream = s.echo.requests();
        let authreps = s.authreps();
        s.echo.clear();
        s.backend.clear_requests();
        if r.status != 403 || !upstream.is_empty() || !authreps.is_empty() {
            problems.push(Some(format!(
                "{target}: client got {}, backend asked with user_key {:?}, upstream received {:?}",
                r.status,
                authreps
                    .iter()
                    .map(|a| a.param("user_key"))
                    .collect::<Vec<_>>(),
                upstream.iter().map(|e| &e.path).collect::<Vec<_>>()
            )));
        }
    }
    assert_none(problems);
}

/// Rack 2 (Rails up to 7.0) splits queries on `;` as well as `&` (and Python before 3.9.2,
/// `cgi`/`parse_qs`): `?x=1;scope=all` is `params[:scope] == "all"` there; Tollgate reads one
/// arg `x` = `1;scope=all`, so the rule on `scope=all` is dodged, and a credential after a `;`
/// is one the rules' reader never sees (`?user_key=<valid>&x=;user_key=<other>`: Rack's last
/// value wins).
#[test]
fn a_semicolon_separated_arg_cannot_dodge_an_arg_rule_or_the_credential_check() {
    let s = stack(json!({"proxy_rules": [
        rule("GET", "/reports?scope=all", "get_foo", 10),
        rule("ANY", "/", "hits", 1)
    ]}));
    let k = format!("user_key={USER_KEY}");
    control(&s, raw_get(&s, &format!("/reports?scope=all&{k}"), ""));
    let target = format!("/reports?x=1;scope=all&{k}");
    let r = raw_get(&s, &target, "");
    let mut problems = vec![dear_or_refused(&s, &target, &r)];
    let target = format!("/x?{k}&x=;user_key=someone-elses-key");
    let r = raw_get(&s, &target, "");
    let upstream = s.echo.requests();
    let authreps = s.authreps();
    if r.status == 200 {
        problems.push(Some(format!(
            "{target}: client got 200, backend asked with user_key {:?}, upstream received {:?}",
            authreps
                .iter()
                .map(|a| a.param("user_key"))
                .collect::<Vec<_>>(),
            upstream.iter().map(|e| &e.path).collect::<Vec<_>>()
        )));
    }
    assert_none(problems);
}

/// CRC-32 (IEEE), for the gzip trailer.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `data` gzipped, as one stored (uncompressed) deflate block.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let len = u16::try_from(data.len()).unwrap();
    out.push(1);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out
}

/// A form body with `Content-Encoding: gzip`: Tollgate parses the compressed bytes (no arg, no
/// credential), Express's `urlencoded()` parser inflates gzip and deflate bodies by default
/// (`inflate: true`) and reads `scope=all`, and a `user_key` in it that differs from the
/// query's is never compared.
#[test]
fn a_compressed_form_body_cannot_dodge_an_arg_rule_or_the_credential_check() {
    let s = stack(json!({"proxy_rules": [
        rule("POST", "/reports?scope=all", "get_foo", 10),
        rule("ANY", "/", "hits", 1)
    ]}));
    let post = |target: &str, body: Vec<u8>, encoding: Option<&str>| {
        let mut r = Request::post(target)
            .header("Host", "api.example.com")
            .header("Content-Type", "application/x-www-form-urlencoded");
        if let Some(e) = encoding {
            r = r.header("Content-Encoding", e);
        }
        r.body(body).send(s.port())
    };
    let k = format!("user_key={USER_KEY}");
    control(
        &s,
        post(&format!("/reports?{k}"), b"scope=all".to_vec(), None),
    );
    let r = post(&format!("/reports?{k}"), gzip(b"scope=all"), Some("gzip"));
    let mut problems = vec![dear_or_refused(
        &s,
        "POST /reports, gzip form scope=all",
        &r,
    )];
    // The plain body that disagrees with the query is refused; the gzipped one is not.
    let r = post(
        &format!("/x?{k}"),
        b"user_key=someone-elses-key".to_vec(),
        None,
    );
    assert_eq!(r.status, 403, "control: {r}");
    s.echo.clear();
    s.backend.clear_requests();
    let r = post(
        &format!("/x?{k}"),
        gzip(b"user_key=someone-elses-key"),
        Some("gzip"),
    );
    if r.status == 200 {
        problems.push(Some(format!(
            "POST /x?{k}, gzip form user_key=someone-elses-key: client got 200, upstream received {} requests",
            s.echo.requests().len()
        )));
    }
    assert_none(problems);
}

/// `X-Original-URL` / `X-Rewrite-URL` name the path for IIS's URL Rewrite and the frameworks
/// that read them (Zend Framework 1 and zend-http before 2.8.1, Symfony before 2.7.49 / 3.4.14
/// / 4.1.3, older Drupal, Laminas' IIS mode): the rules match `/x` (the catch-all), the
/// upstream serves `/reports?scope=all`. The client's copy reaches the upstream untouched.
#[test]
fn client_sent_url_override_headers_do_not_reach_the_upstream() {
    let s = stack(json!({"proxy_rules": [
        rule("GET", "/reports?scope=all", "get_foo", 10),
        rule("ANY", "/", "hits", 1)
    ]}));
    let k = format!("user_key={USER_KEY}");
    control(&s, raw_get(&s, &format!("/reports?scope=all&{k}"), ""));
    let mut problems = Vec::new();
    for header in ["X-Original-URL", "X-Rewrite-URL"] {
        let r = raw_get(
            &s,
            &format!("/x?{k}"),
            &format!("{header}: /reports?scope=all\r\n"),
        );
        let upstream = s.echo.requests();
        let usage: Vec<String> = s.authreps().iter().map(usage_of).collect();
        s.echo.clear();
        s.backend.clear_requests();
        let leaked = upstream.iter().any(|e| e.has_header(header));
        if r.status == 200 && leaked {
            problems.push(Some(format!(
                "{header}: client got 200, backend metered {usage:?} (catch-all is {CHEAP}), upstream received {:?}",
                upstream
                    .iter()
                    .map(|e| (e.path.clone(), e.header(header).map(str::to_string)))
                    .collect::<Vec<_>>()
            )));
        }
    }
    assert_none(problems);
}
