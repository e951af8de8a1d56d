//! The streamed `_method` reading (`streamed_overrides.rs`) against the ways frameworks read a
//! multipart or JSON body that it first missed (an audit, 2026-12-05): a form or multipart
//! type naming JSON in a parameter (Laravel's `isJson()` looks for `/json` anywhere), a
//! multipart type with a form type in a parameter, PHP joining a part header line without a
//! colon to the one before, ending a name at a NUL and skipping `\v`/`\f`, Java's `trim`, and
//! ASP.NET Core's RFC 2047 names (whitespace in the base64, UTF-16 and UTF-32). Each was served
//! as a `POST` and run as a `DELETE`; each is refused now. The readings that held are kept too:
//! pipelined requests, a name split across the verdict's resume, two `Content-Type` headers.

mod support;

use e2e::http::{read_response, send_raw};
use e2e::Request;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::pieces::{
    multipart, scan, send_in_pieces, stack, target, upstream_bodies, B, MARK, REFUSED,
};
use support::*;
use tollgate_core::body_scan::BodyScan;

/// `POST /orders/7` with `content_type` and `body` (Content-Length, one write).
fn post(s: &Stack, mark: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let r = Request::new("POST", &target())
        .header("Host", "api.example.com")
        .header("Content-Type", content_type)
        .header(MARK, mark)
        .body(body.to_vec())
        .send(s.port());
    (r.status, r.body)
}

/// Asserts the request was refused and that the upstream never received a whole body.
fn assert_refused(s: &Stack, mark: &str, got: (u16, String), why: &str) {
    let seen = upstream_bodies(s, mark);
    assert_eq!(
        (got.0, got.1.as_str()),
        REFUSED,
        "{mark}: {why}; the upstream received {seen:?}"
    );
    assert!(seen.is_empty(), "{mark}: the upstream received {seen:?}");
}

/// Whether the request was refused with nothing whole at the upstream (for loops that list
/// every variant that got through).
fn refused(s: &Stack, mark: &str, got: &(u16, String)) -> bool {
    (got.0, got.1.as_str()) == REFUSED && upstream_bodies(s, mark).is_empty()
}

// --- Content-Type readings ---------------------------------------------------------------

/// `Content-Type: multipart/form-data; boundary=XyZ; note="application/x-www-form-urlencoded"`:
/// Tollgate's form check is `contains("application/x-www-form-urlencoded")`, so the body is
/// read as a form (for its `_method` field, split on `&`/`;`) and never by the multipart
/// reader. Rack (media type = text before `;` → multipart/form-data), PHP (type cut at `;`),
/// Tomcat (text before `;`, trimmed) and ASP.NET Core (MediaTypeHeaderValue.MediaType) all
/// parse the body as multipart and ignore the unknown parameter.
#[test]
fn multipart_with_a_form_type_in_a_parameter() {
    let s = stack();
    let ct =
        format!("multipart/form-data; boundary={B}; note=\"application/x-www-form-urlencoded\"");
    let body = multipart(b"name=\"_method\"");
    let got = post(&s, "mp-form-param", &ct, &body);
    assert_refused(
        &s,
        "mp-form-param",
        got,
        "multipart body read only as a form",
    );
}

/// `Content-Type: application/x-www-form-urlencoded; profile=/json` with a JSON body:
/// Laravel's `isJson()` is `Str::contains($contentType, ['/json', '+json'])` and
/// `Request::createFromBase` then replaces `$request->request` with the decoded JSON, which
/// Symfony's `getMethod()` reads `_method` from. Tollgate reads it as a form only.
#[test]
fn json_body_under_a_form_content_type() {
    let s = stack();
    let got = post(
        &s,
        "form-json",
        "application/x-www-form-urlencoded; profile=/json",
        br#"{"item":42,"_method":"DELETE"}"#,
    );
    assert_refused(&s, "form-json", got, "Laravel reads the body as JSON");
}

/// `Content-Type: multipart/related; type="application/json"` with a JSON body: Tollgate
/// picks the multipart reader (no `name=`, nothing found); PHP does not consume a
/// `multipart/related` body (only multipart/form-data), so `php://input` holds it and
/// Laravel's `isJson()` (contains `/json`) decodes it as the request input.
#[test]
fn json_body_under_a_multipart_content_type() {
    let s = stack();
    let got = post(
        &s,
        "mp-json",
        "multipart/related; type=\"application/json\"; boundary=XyZ",
        br#"{"item":42,"_method":"DELETE"}"#,
    );
    assert_refused(&s, "mp-json", got, "Laravel reads the body as JSON");
}

/// Two Content-Type headers: Envoy joins them with `,`; every framework then reads the
/// first media type. Held when the first is multipart or JSON (Tollgate reads the first too).
#[test]
fn two_content_type_headers() {
    let s = stack();
    let body = multipart(b"name=\"_method\"");
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: api.example.com\r\n{MARK}: two-ct\r\n\
         Content-Type: multipart/form-data; boundary={B}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n",
        target(),
        body.len()
    );
    let r = send_raw(s.port(), &[head.as_bytes(), &body].concat()).unwrap();
    assert_refused(&s, "two-ct", (r.status, r.body), "first type multipart");
}

/// `Content-Type: \x0bmultipart/form-data` (a control byte before the type): Tomcat trims the
/// type with `String.trim()` (every char <= U+0020); Tollgate's `trim_start` drops Unicode
/// white space (\x0b is one). `\x01` is not white space to Rust: if Envoy passes it, Tomcat
/// reads multipart and Tollgate reads nothing.
#[test]
fn control_byte_before_the_content_type() {
    let s = stack();
    let body = multipart(b"name=\"_method\"");
    for (i, lead) in ["\x0b", "\x01", "\x0c"].iter().enumerate() {
        let mark = format!("ctl-ct-{i}");
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: api.example.com\r\n{MARK}: {mark}\r\n\
             Content-Type: {lead}multipart/form-data; boundary={B}\r\n\
             Content-Length: {}\r\n\r\n",
            target(),
            body.len()
        );
        let r = send_raw(s.port(), &[head.as_bytes(), &body].concat()).unwrap();
        let seen = upstream_bodies(&s, &mark);
        eprintln!("{mark}: {} {:?} upstream {}", r.status, r.body, seen.len());
        // Envoy refusing the header (400 from Envoy) holds too: nothing reached the upstream.
        assert!(
            r.body == REFUSED.1 || (r.status == 400 && seen.is_empty()),
            "{mark}: {} {:?}; the upstream received {seen:?}",
            r.status,
            r.body
        );
    }
}

// --- multipart name readings -------------------------------------------------------------

/// PHP's `multipart_buffer_headers` (main/rfc1867.c) appends a part-header line that has no
/// `:` (and does not start with white space) to the previous header's value, with no
/// separator: `name="_met` + `hod"` is `name="_method"`. Tollgate's value ends at the CR.
#[test]
fn php_joins_a_line_without_a_colon() {
    let s = stack();
    let mut through = Vec::new();
    for (i, params) in [&b"name=\"_met\r\nhod\""[..], b"na\r\nme=\"_method\""]
        .iter()
        .enumerate()
    {
        let mark = format!("php-join-{i}");
        let body = multipart(params);
        assert!(scan(&body), "the reader reads it");
        let got = post(
            &s,
            &mark,
            &format!("multipart/form-data; boundary={B}"),
            &body,
        );
        if !refused(&s, &mark, &got) {
            through.push(String::from_utf8_lossy(params).to_string());
        }
    }
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE upstream: {through:?}"
    );
}

/// PHP keeps part headers as C strings (`strlen`/`estrdup`): a NUL ends the value, so
/// `name="_method\0x"` is the field `_method`. Tollgate reads `_method\0x`.
#[test]
fn php_stops_a_name_at_nul() {
    let s = stack();
    let body = multipart(b"name=\"_method\0x\"");
    assert!(scan(&body), "the reader reads it");
    let got = post(
        &s,
        "php-nul",
        &format!("multipart/form-data; boundary={B}"),
        &body,
    );
    assert_refused(&s, "php-nul", got, "PHP truncates the header at NUL");
}

/// PHP's `php_ap_getword_conf` skips `isspace()` (\v and \f included) before a value and
/// ends an unquoted value at one: `name=\x0b_method` and `name=_method\x0c` are `_method`.
/// Tollgate's value phase skips only space, tab, CR, LF.
#[test]
fn php_skips_vertical_tab_and_form_feed() {
    let s = stack();
    let mut through = Vec::new();
    for (i, params) in [
        &b"name=\x0b_method"[..],
        b"name=_method\x0c",
        b"name=\x0c\"_method\"",
    ]
    .iter()
    .enumerate()
    {
        let mark = format!("php-isspace-{i}");
        let body = multipart(params);
        let got = post(
            &s,
            &mark,
            &format!("multipart/form-data; boundary={B}"),
            &body,
        );
        if !refused(&s, &mark, &got) {
            through.push(String::from_utf8_lossy(params).to_string());
        }
    }
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE upstream: {through:?}"
    );
}

/// Tomcat's FileUploadBase.getFieldName: `fieldName = params.get("name").trim()`, Java's
/// trim dropping every char <= U+0020 (controls included): `name="_method\x01"` and
/// `name="\x1f_method"` are `_method` to `request.getParameter` (Spring's
/// HiddenHttpMethodFilter).
#[test]
fn tomcat_trims_control_characters() {
    let s = stack();
    let mut through = Vec::new();
    for (i, params) in [&b"name=\"_method\x01\""[..], b"name=\"\x1f_method\""]
        .iter()
        .enumerate()
    {
        let mark = format!("tomcat-trim-{i}");
        let body = multipart(params);
        let got = post(
            &s,
            &mark,
            &format!("multipart/form-data; boundary={B}"),
            &body,
        );
        if !refused(&s, &mark, &got) {
            through.push(String::from_utf8_lossy(params).to_string());
        }
    }
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE upstream: {through:?}"
    );
}

/// ASP.NET Core's ContentDispositionHeaderValue.GetName decodes a quoted `=?cs?B?...?=`
/// with `Encoding.GetEncoding(cs)` and `Convert.FromBase64String`, which ignores white
/// space: `"=?utf-8?B?X21ld GhvZA==?="` and UTF-16 `"=?utf-16?B?XwBtAGUAdABoAG8AZAA=?="` are
/// both `_method` (FormCollection keys are case-insensitive).
#[test]
fn aspnet_encoded_words() {
    let s = stack();
    let mut through = Vec::new();
    for (i, params) in [
        &b"name=\"=?utf-8?B?X21ld GhvZA==?=\""[..],
        b"name=\"=?utf-16?B?XwBtAGUAdABoAG8AZAA=?=\"",
        b"name=\"=?utf-32?B?XwAAAG0AAABlAAAAdAAAAGgAAABvAAAAZAAAAA==?=\"",
    ]
    .iter()
    .enumerate()
    {
        let mark = format!("aspnet-b-{i}");
        let body = multipart(params);
        let got = post(
            &s,
            &mark,
            &format!("multipart/form-data; boundary={B}"),
            &body,
        );
        if !refused(&s, &mark, &got) {
            through.push(String::from_utf8_lossy(params).to_string());
        }
    }
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE upstream: {through:?}"
    );
}

/// Readings that held: quoted escapes, RFC 2231, obs-fold inside the separator, Content-ID,
/// a `name` inside `filename`, case, PHP's `.`/` ` mangling, brackets.
#[test]
fn multipart_readings_that_hold() {
    let s = stack();
    for (i, params) in [
        &b"name=\"\\_\\m\\e\\t\\h\\o\\d\""[..],
        b"name*=utf-8''%5F%6D%65%74%68%6F%64",
        b"name\r\n =\r\n \"_method\"",
        b"NaMe=_MeThOd",
        b"name=\" .method\"",
        b"name=\"_method[x]\"",
        b"filename=\"a\"; name=_method",
        b"x=1\r\nContent-ID: <_method>",
        b"name='_method'",
    ]
    .iter()
    .enumerate()
    {
        let mark = format!("hold-{i}");
        let body = multipart(params);
        let got = post(
            &s,
            &mark,
            &format!("multipart/form-data; boundary={B}"),
            &body,
        );
        assert_refused(&s, &mark, got, "read as _method");
    }
}

// --- JSON -----------------------------------------------------------------------------

/// JSON keys that held: escapes, surrogate-free `\u` spellings, upper-case hex, whitespace
/// PHP's json_decode accepts, a `_method` after a long string with escapes.
#[test]
fn json_keys_that_hold() {
    let s = stack();
    let long = "a\\\"".repeat(400);
    for (i, body) in [
        r#"{"\u005F\u006D\u0065\u0074\u0068\u006F\u0064":"DELETE"}"#.to_string(),
        "\r\n\t {\"_method\"\r\n:\"DELETE\"}".to_string(),
        format!(r#"{{"note":"{long}","_method":"DELETE"}}"#),
        r#"{"_\u006dethod":"DELETE"}"#.to_string(),
    ]
    .iter()
    .enumerate()
    {
        let mark = format!("json-hold-{i}");
        let got = post(&s, &mark, "application/json", body.as_bytes());
        assert_refused(&s, &mark, got, "read as _method");
    }
}

// --- streaming ---------------------------------------------------------------------------

/// The name in three pieces: two arrive while the request is held (Envoy's buffer grows,
/// the reader starts after what it read), the third after the slow backend's verdict let
/// the request go (the buffer is that chunk alone).
#[test]
fn a_name_split_across_the_resume() {
    let s = stack();
    s.backend.set_latency(Duration::from_millis(600));
    let body = multipart(b"name=\"_method\"");
    let at = body.windows(7).rposition(|w| w == b"_method").unwrap();
    let cuts = [at + 2, at + 5];
    for chunked in [false, true] {
        let mark = format!("resume-{chunked}");
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: api.example.com\r\n{MARK}: {mark}\r\n\
             Content-Type: multipart/form-data; boundary={B}\r\n",
            target()
        );
        let pieces = [
            (Duration::ZERO, &body[..cuts[0]]),
            (Duration::from_millis(200), &body[cuts[0]..cuts[1]]),
            (Duration::from_millis(800), &body[cuts[1]..]),
        ];
        let r = send_in_pieces(s.port(), &head, &pieces, chunked).unwrap();
        assert_eq!((r.status, r.body.as_str()), REFUSED, "{mark}");
        // Chunked: the upstream got the pieces before the one that completes the name, then
        // a reset (the echo upstream records the truncated body); never the whole body.
        let body = String::from_utf8_lossy(&body).to_string();
        for got in upstream_bodies(&s, &mark) {
            assert!(
                !got.contains("_method") && got.len() < body.len(),
                "{mark}: {got:?}"
            );
        }
    }
}

/// Every split of a multipart and a JSON body, a byte at a time and in two pieces, gives the
/// reader's answer for the whole body (unit level, through tollgate-core).
#[test]
fn every_split_agrees_with_the_whole() {
    let bodies: Vec<Vec<u8>> = vec![
        multipart(b"name*=utf-8''%5Fmethod"),
        multipart(b"name=\"=?utf-8?Q?=5Fmethod?=\""),
        br#"{"a":"x\"y","\u005fmethod" :1}"#.to_vec(),
    ];
    for body in bodies {
        assert!(scan(&body));
        for at in 0..=body.len() {
            let mut s = BodyScan::new();
            s.feed(&body[..at]);
            s.feed(&body[at..]);
            assert!(s.finish(), "split at {at}");
        }
        let mut s = BodyScan::new();
        for b in &body {
            s.feed(&[*b]);
        }
        assert!(s.finish(), "a byte at a time");
    }
}

/// Two pipelined HTTP/1.1 `POST`s in one write, the second a JSON body with `_method`: each
/// has its own reading; the first is served, the second refused and never forwarded.
#[test]
fn pipelined_requests_each_read() {
    let s = stack();
    let one = |mark: &str, body: &str| {
        format!(
            "POST {} HTTP/1.1\r\nHost: api.example.com\r\n{MARK}: {mark}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            target(),
            body.len()
        )
    };
    let both = one("pipe-1", r#"{"a":"_method"}"#) + &one("pipe-2", r#"{"_method":"DELETE"}"#);
    let mut stream = TcpStream::connect(("127.0.0.1", s.port())).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(both.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let first = read_response(&mut reader, false).unwrap();
    let second = read_response(&mut reader, false).unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(upstream_bodies(&s, "pipe-1"), [r#"{"a":"_method"}"#]);
    assert_refused(&s, "pipe-2", (second.status, second.body), "pipelined");
}
