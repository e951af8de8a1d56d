//! Request bodies read as upstream frameworks read them (an audit, 2026-12-05): a `POST` without
//! a content type (Rack reads it as a form), UTF-16 form bodies (ASP.NET Core and Spring decode
//! the charset), and PHP's spellings of `_method`: each was served as something else than what
//! the mapping rules matched and the backend was told. (JSON bodies, which Laravel reads for
//! `_method` and `input()`, are a documented limitation.)
//!
//! Service 1 (`user_key` in the query) has a dear rule per case (`get_foo`, delta 10) and the
//! cheap catch-all `ANY /` (`hits`, delta 1). Each request below is served by a named upstream
//! framework as the dear call; each test requires either a refusal (4xx, nothing upstream, no
//! authrep) or an authrep with the dear usage. Each failed on the module before the fixes.

mod support;

use e2e::http::send_raw;
use e2e::mock_backend::ReceivedRequest;
use e2e::Response;
use serde_json::{json, Value};
use support::*;

const FORM: &str = "application/x-www-form-urlencoded";
const DEAR: &str = "usage[get_foo]=10&usage[hits]=1";

fn usage_of(call: &ReceivedRequest) -> String {
    let mut u: Vec<String> = (call.query.iter())
        .filter(|(k, _)| k.starts_with("usage["))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    u.sort();
    u.join("&")
}

fn rule(method: &str, pattern: &str, metric: &str, delta: u64) -> Value {
    json!({"http_method": method, "pattern": pattern, "metric_system_name": metric, "delta": delta})
}

/// `DELETE /orders` and `?scope=all` on `/reports` are dear; everything else is one hit.
fn stack() -> Stack {
    Stack::start(config(vec![service(
        1,
        json!(1),
        json!({"proxy_rules": [
            rule("DELETE", "/orders", "get_foo", 10),
            rule("POST", "/reports?scope=all", "get_foo", 10),
            rule("PUT", "/reports?scope=all", "get_foo", 10),
            rule("ANY", "/", "hits", 1)
        ]}),
    )]))
}

/// Sends `method target` to api.example.com with `headers` (raw lines) and `body`.
fn send(s: &Stack, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    send_raw(s.port(), &bytes).unwrap()
}

/// What the upstream and the backend saw since the last call, then cleared.
fn seen(s: &Stack) -> (Vec<String>, Vec<ReceivedRequest>) {
    std::thread::sleep(std::time::Duration::from_millis(100));
    let upstream = (s.echo.requests().iter())
        .map(|e| format!("{} {} body={:?}", e.method, e.path, e.body))
        .collect();
    let backend = s.authreps();
    s.echo.clear();
    s.backend.clear_requests();
    (upstream, backend)
}

/// `None` when refused before the upstream and the backend, or forwarded once as the dear call.
fn dear_or_refused(s: &Stack, what: &str, r: &Response) -> Option<String> {
    let (upstream, authreps) = seen(s);
    let usage: Vec<String> = authreps.iter().map(usage_of).collect();
    match r.status {
        200 if upstream.len() == 1 && usage == [DEAR] => None,
        400..=499 if upstream.is_empty() && authreps.is_empty() => None,
        status => Some(format!(
            "{what}: client got {status}, backend metered {usage:?}, upstream received {upstream:?}"
        )),
    }
}

fn assert_none(problems: Vec<Option<String>>) {
    let problems: Vec<String> = problems.into_iter().flatten().collect();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The controls: the plain dear calls are metered as dear, and a form `_method` is refused.
fn controls(s: &Stack) {
    let q = format!("?user_key={USER_KEY}");
    let r = send(s, "DELETE", &format!("/orders{q}"), &[], b"");
    assert_eq!((r.status, dear_or_refused(s, "DELETE", &r)), (200, None));
    let r = send(s, "POST", &format!("/reports{q}&scope=all"), &[], b"");
    assert_eq!(
        (r.status, dear_or_refused(s, "POST scope", &r)),
        (200, None)
    );
    let form = [("Content-Type", FORM)];
    let r = send(s, "POST", &format!("/orders{q}"), &form, b"_method=DELETE");
    assert_eq!(r.status, 400, "a form _method is refused: {r}");
    let r = send(s, "PUT", &format!("/reports{q}"), &form, b"scope=all");
    assert_eq!(dear_or_refused(s, "PUT form scope", &r), None);
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn utf16be(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Rack (so Rails, Sinatra, Hanami) parses the body of a `POST` **without a Content-Type** (or
/// with an empty one) as a form: `Rack::Request#form_data?` is
/// `(meth == POST && type.nil?) || FORM_DATA_MEDIA_TYPES.include?(type)`. `Rack::MethodOverride`
/// (in every Rails stack) then serves `POST /orders` with the body `_method=DELETE` as
/// `DELETE /orders`, and `params[:scope]` reads the body's `scope=all`. Tollgate reads only a
/// body whose Content-Type contains `application/x-www-form-urlencoded`, so it matched the
/// cheap `POST` rule and forwarded it.
#[test]
fn a_post_without_content_type_is_a_form_to_rack() {
    let s = stack();
    controls(&s);
    let target = format!("?user_key={USER_KEY}");
    let mut problems = Vec::new();
    for (what, headers) in [
        ("no Content-Type", &[][..]),
        ("empty Content-Type", &[("Content-Type", "")][..]),
    ] {
        let r = send(
            &s,
            "POST",
            &format!("/orders{target}"),
            headers,
            b"_method=DELETE",
        );
        problems.push(dear_or_refused(&s, &format!("{what}, _method=DELETE"), &r));
        let r = send(
            &s,
            "POST",
            &format!("/reports{target}"),
            headers,
            b"scope=all",
        );
        problems.push(dear_or_refused(&s, &format!("{what}, scope=all"), &r));
    }
    assert_none(problems);
}

/// A form body in UTF-16. ASP.NET Core's `FormPipeReader` decodes a form in the Content-Type's
/// charset (it searches for `=` and `&` encoded in it; only UTF-7 is refused), and so does
/// Spring's `FormHttpMessageConverter` (`FormContentFilter`, on by default in Spring Boot, for
/// `PUT`, `PATCH` and `DELETE`). `UseHttpMethodOverride(new() { FormFieldName = "_method" })`
/// serves the `POST` as a `DELETE`; `Request.Form["scope"]` (or `@RequestParam`) reads `all`.
/// Tollgate parses the bytes as ASCII (`_\0m\0e\0...`): no `_method`, no `scope`.
#[test]
fn a_utf16_form_body_is_read_by_upstreams_that_honour_its_charset() {
    let s = stack();
    controls(&s);
    let q = format!("?user_key={USER_KEY}");
    let mut problems = Vec::new();
    let cases: [(&str, &str, &str, Vec<u8>); 4] = [
        (
            "POST",
            "/orders",
            "charset=utf-16",
            utf16le("_method=DELETE"),
        ),
        ("PUT", "/reports", "charset=utf-16", utf16le("scope=all")),
        ("PUT", "/reports", "charset=UTF-16BE", utf16be("scope=all")),
        (
            "PUT",
            "/reports",
            "charset=\"utf-16le\"",
            utf16le("scope=all"),
        ),
    ];
    for (method, path, charset, body) in cases {
        let ctype = format!("{FORM}; {charset}");
        let r = send(
            &s,
            method,
            &format!("{path}{q}"),
            &[("Content-Type", &ctype)],
            &body,
        );
        problems.push(dear_or_refused(
            &s,
            &format!("{method} {path} {charset}"),
            &r,
        ));
    }
    assert_none(problems);
}

/// PHP mangles arg names before Symfony and Laravel read them: `.` and spaces become `_`,
/// leading spaces are dropped, and an unclosed `[` becomes `_`. `?.method=DELETE`,
/// `?[method=DELETE`, `?+_method=DELETE` and a form field `.method=DELETE` are all
/// `$_GET`/`$_POST['_method']`; Laravel turns `enableHttpMethodParameterOverride()` on in its
/// HTTP kernel, so `Request::getMethod()` is `DELETE`. Tollgate looks for `_method` in any case
/// only, matched `POST` and forwarded.
#[test]
fn php_spellings_of_method_override_a_post_for_laravel() {
    let s = stack();
    controls(&s);
    let q = format!("?user_key={USER_KEY}");
    let mut problems = Vec::new();
    for arg in [".method", "%2Emethod", "[method", "%5Bmethod", "+_method"] {
        let r = send(&s, "POST", &format!("/orders{q}&{arg}=DELETE"), &[], b"");
        problems.push(dear_or_refused(&s, &format!("query {arg}=DELETE"), &r));
    }
    for arg in [".method", "[method", "+_method"] {
        let body = format!("{arg}=DELETE");
        let r = send(
            &s,
            "POST",
            &format!("/orders{q}"),
            &[("Content-Type", FORM)],
            body.as_bytes(),
        );
        problems.push(dear_or_refused(&s, &format!("form {arg}=DELETE"), &r));
    }
    assert_none(problems);
}

/// A credential sent twice with different values is refused (auth failed): the upstream cannot
/// read another key than the one authorized. A second `user_key` in a UTF-16 form body, which
/// Tollgate could not read: ASP.NET Core's model binding reads form values before the query,
/// in the form's charset. (A JSON body's is a documented limitation, as multipart's.)
#[test]
fn a_second_credential_in_a_body_the_upstream_reads_is_not_refused() {
    let s = stack();
    let target = format!("/x?user_key={USER_KEY}");
    let ctype = format!("{FORM}; charset=utf-16");
    let cases: [(&str, &str, Vec<u8>); 2] = [
        ("UTF-16 form body", &ctype, utf16le("user_key=victim-key")),
        (
            "UTF-16 form body, PUT",
            &ctype,
            utf16le("user_key=victim-key"),
        ),
    ];
    // Control: the same second key in an ordinary form body is auth failed.
    let r = send(
        &s,
        "POST",
        &target,
        &[("Content-Type", FORM)],
        b"user_key=victim-key",
    );
    assert_eq!(r.status, 403, "control: {r}");
    let _ = seen(&s);
    let mut problems = Vec::new();
    for (i, (what, ctype, body)) in cases.into_iter().enumerate() {
        let method = if i == 1 { "PUT" } else { "POST" };
        let r = send(&s, method, &target, &[("Content-Type", ctype)], &body);
        let (upstream, authreps) = seen(&s);
        let sent: Vec<String> = (authreps.iter())
            .map(|a| a.param("user_key").unwrap_or_default().to_string())
            .collect();
        if !upstream.is_empty() {
            problems.push(format!(
                "{what}: client got {}, backend authorized user_key {sent:?}, upstream received {upstream:?}",
                r.status
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
