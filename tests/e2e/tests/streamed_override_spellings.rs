//! A second audit of the streamed `_method` reading (2026-12-05), on the angles
//! `streamed_override_readings.rs` left. Three bypasses it found, refused since (each test
//! failed on the module before the fix):
//! - `aspnet_encoded_word_padded_past_the_value_cap`: an RFC 2047 name padded with white
//!   space past the multipart reader's 96-byte value cap (ASP.NET Core's base64 skips it);
//! - `form_charsets_aspnet_decodes_as_utf16`: a UTF-16 form body under charset spellings
//!   `wide_charset` misses (ASP.NET Core decodes the form in the charset);
//! - `json_under_an_underscored_content_type`: `Content_Type: application/json`, which PHP
//!   front ends that pass underscored headers turn into Laravel's content type.
//!
//! Held: duplicate `Content-Encoding` headers (Envoy joins them), its spellings, two
//! `Content-Type`s over HTTP/1.1 and HTTP/2, one-byte HTTP/2 DATA frames after a cache hit,
//! HTTP/2 `content-length` with trailers (the upstream never has the whole body), a body past
//! Envoy's buffer while held (Envoy's 413, nothing upstream), a mid-body refusal after a cache
//! hit (HTTP/1.1, Content-Length and chunked), the JSON reader's escape states and the
//! multipart reader's open values.

mod support;

use e2e::h2::Connection;
use e2e::http::send_raw;
use serde_json::{json, Value};
use std::thread::sleep;
use std::time::Duration;
use support::pieces::{send_in_pieces, upstream_bodies, MARK};
use support::*;
use tollgate_core::body_scan::{applies, BodyScan};

const REFUSED: (u16, &str) = (400, "Bad Request: method override");
const ENCODED_BODY: (u16, &str) = (400, "Bad Request: encoded body");
const ENCODED_FORM: (u16, &str) = (400, "Bad Request: encoded form body");
const B: &str = "XyZ";

fn orders_rules() -> Value {
    json!([
        {"http_method": "POST", "pattern": "/orders", "metric_system_name": "hits", "delta": 1},
        {"http_method": "DELETE", "pattern": "/orders", "metric_system_name": "get_foo", "delta": 10}
    ])
}

fn stack() -> Stack {
    Stack::start(config(vec![service(
        1,
        json!(1),
        json!({"proxy_rules": orders_rules()}),
    )]))
}

/// Batching with a long TTL, warmed: every request is a hit, forwarded at its headers.
fn cached_stack() -> Stack {
    let mut c = config(vec![service(
        1,
        json!(1),
        json!({"proxy_rules": orders_rules()}),
    )]);
    c["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    let s = Stack::start(c);
    let warm = e2e::Request::new("POST", &target())
        .header("Host", "api.example.com")
        .send(s.port());
    assert_eq!(warm.status, 200, "{warm}");
    s
}

fn target() -> String {
    format!("/orders/7?user_key={USER_KEY}")
}

/// A multipart body whose last part's `Content-Disposition` parameters are `params`.
fn multipart(params: &[u8]) -> Vec<u8> {
    [
        format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\n42\r\n\
             --{B}\r\nContent-Disposition: form-data; "
        )
        .as_bytes(),
        params,
        format!("\r\n\r\nDELETE\r\n--{B}--\r\n").as_bytes(),
    ]
    .concat()
}

fn mp_type() -> String {
    format!("multipart/form-data; boundary={B}")
}

/// `POST target` over HTTP/1.1 with these header lines (raw, in order) and a Content-Length.
fn post_raw(s: &Stack, mark: &str, lines: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: api.example.com\r\n{MARK}: {mark}\r\n",
        target()
    );
    for (k, v) in lines {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let r = send_raw(s.port(), &[head.as_bytes(), body].concat()).unwrap();
    (r.status, r.body)
}

/// A response body cut short for messages (the echo's JSON is long).
fn short(text: &str) -> String {
    text.chars().take(60).collect()
}

fn scan(body: &[u8]) -> bool {
    let mut s = BodyScan::new();
    s.feed(body);
    s.finish()
}

/// Every two-piece split and a byte at a time agree with the whole.
fn scan_every_split(body: &[u8]) -> bool {
    let whole = scan(body);
    for at in 0..=body.len() {
        let mut s = BodyScan::new();
        s.feed(&body[..at]);
        s.feed(&body[at..]);
        assert_eq!(s.finish(), whole, "split at {at}");
    }
    let mut s = BodyScan::new();
    body.iter().for_each(|b| {
        s.feed(&[*b]);
    });
    assert_eq!(s.finish(), whole, "a byte at a time");
    whole
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

// --- Finding: ASP.NET Core encoded words longer than the value cap ------------------------

/// ASP.NET Core's `ContentDispositionHeaderValue.Name` (`TryDecodeMime`) splits the quoted
/// value on `?` and decodes part 4 with `Convert.FromBase64String`, which skips every space,
/// tab, CR and LF, however many. `name="=?utf-8?B?X21ld<100 spaces>GhvZA==?="` is the form
/// field `_method` (FormCollection keys are case-insensitive), and `UseHttpMethodOverride`
/// with `FormFieldName = "_method"` runs the `POST` as a `DELETE`.
///
/// Tollgate keeps [`VALUE_CAP`] = 96 bytes of a value: the 96 bytes held are
/// `=?utf-8?B?X21ld` and spaces, whose token (`=?utf-8?B?X21ld`) and unquoted form decode
/// to no `_method`; the long-token rule ("a first token that long ... holds `method`, `%`
/// or `=?`") does not apply since the token ends at the first space.
#[test]
fn aspnet_encoded_word_padded_past_the_value_cap() {
    let spaced = multipart(b"name=\"=?utf-8?B?X21ld GhvZA==?=\"");
    assert!(scan(&spaced), "the short form is read (covered already)");
    let pad = " ".repeat(100);
    let s = stack();
    let mut through = Vec::new();
    for (i, params) in [
        format!("name=\"=?utf-8?B?X21ld{pad}GhvZA==?=\""),
        format!("name=\"=?utf-8?B?{pad}X21ldGhvZA==?=\""),
        format!("name=\"=?utf-8?B?X21ldGhvZA=={pad}?=\""),
    ]
    .iter()
    .enumerate()
    {
        let mark = format!("aspnet-long-b-{i}");
        let body = multipart(params.as_bytes());
        let got = post_raw(&s, &mark, &[("Content-Type", &mp_type())], &body);
        let seen = upstream_bodies(&s, &mark);
        if !(scan(&body) && (got.0, got.1.as_str()) == REFUSED && seen.is_empty()) {
            through.push(format!(
                "{} ({} {:?}, reader {})",
                params.replace(&pad, "<100 spaces>"),
                got.0,
                short(&got.1),
                scan(&body)
            ));
        }
    }
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE by ASP.NET Core: {through:?}"
    );
}

// --- Finding: form charsets an upstream decodes that `wide_charset` misses ---------------

/// ASP.NET Core's FormFeature decodes an `application/x-www-form-urlencoded` body in
/// `MediaTypeHeaderValue.Encoding` (all but UTF-7), and its `FormPipeReader` encodes the
/// `=`/`&` delimiters in that encoding: a UTF-16 body `item=42&_method=DELETE` is the field
/// `_method`. Tollgate refuses a wide charset (`wide_charset`) but reads the parameter as
/// the text after the first `charset=`, trimmed of `"`, `'` and spaces only, and compares a
/// list of prefixes:
/// - `charset=ISO-10646-UCS-2`: a .NET name of code page 1200 (UTF-16LE) in its encoding
///   table, not one of Tollgate's prefixes;
/// - `charset = utf-16`, `charset=\tutf-16`: `NameValueHeaderValue` skips white space around
///   `=`; no `charset=` in the first, a tab kept in the second;
/// - `x-charset=utf-8; charset=utf-16`: Tollgate reads the first `charset=` (inside
///   `x-charset=`), .NET the parameter named `charset`.
///
/// Each is read by Tollgate as a UTF-8 form whose names are `_\0m\0e\0...`: no `_method`.
#[test]
fn form_charsets_aspnet_decodes_as_utf16() {
    let s = stack();
    let body = utf16le("item=42&_method=DELETE");
    let mut through = Vec::new();
    for (i, params) in [
        "charset=ISO-10646-UCS-2",
        "charset = utf-16",
        "charset=\tutf-16",
        "x-charset=utf-8; charset=utf-16",
    ]
    .iter()
    .enumerate()
    {
        let mark = format!("form-charset-{i}");
        let ct = format!("application/x-www-form-urlencoded; {params}");
        let got = post_raw(&s, &mark, &[("Content-Type", &ct)], &body);
        let seen = upstream_bodies(&s, &mark);
        let held = (got.0 == 400) && seen.is_empty();
        eprintln!(
            "{params:?}: {} {:?}, upstream {}",
            got.0,
            short(&got.1),
            seen.len()
        );
        if !held {
            through.push(format!("{params:?} ({} {:?})", got.0, short(&got.1)));
        }
    }
    // The spelling Tollgate knows is refused.
    let got = post_raw(
        &s,
        "form-charset-known",
        &[(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-16",
        )],
        &body,
    );
    assert_eq!((got.0, got.1.as_str()), ENCODED_FORM);
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE by ASP.NET Core: {through:?}"
    );
}

// --- Finding: a Content-Type PHP reads from a header Tollgate does not -------------------

/// `Content_Type: application/json` (an underscore; Envoy passes such names by default):
/// a FastCGI front end that forwards it (Caddy's and FrankenPHP's `php_fastcgi`, nginx with
/// `underscores_in_headers on`, Octane) makes it `HTTP_CONTENT_TYPE`; Symfony's
/// `ServerBag::getHeaders` turns every `HTTP_*` into a header (`CONTENT_TYPE`), so Laravel's
/// `isJson()` is true, `createFromBase` puts the decoded body in `$request->request` and
/// `getMethod()` reads its `_method`. Tollgate reads `content-type` only: a `POST` with no
/// `Content-Type` is read as a form (nothing found in a JSON text), one with `text/plain`
/// not at all. Tollgate reads the override headers in every spelling
/// (`header_any_spelling`) for this very reason, but not the content type.
#[test]
fn json_under_an_underscored_content_type() {
    let s = stack();
    let body = br#"{"item":42,"_method":"DELETE"}"#;
    let mut through = Vec::new();
    for (i, lines) in [
        vec![("Content_Type", "application/json")],
        vec![
            ("Content-Type", "text/plain"),
            ("Content_Type", "application/json"),
        ],
    ]
    .iter()
    .enumerate()
    {
        let mark = format!("underscore-ct-{i}");
        let got = post_raw(&s, &mark, lines, body);
        let seen = upstream_bodies(&s, &mark);
        eprintln!(
            "{lines:?}: {} {:?}, upstream {}",
            got.0,
            short(&got.1),
            seen.len()
        );
        if got.0 != 400 || !seen.is_empty() {
            through.push(format!("{lines:?} ({} {:?})", got.0, short(&got.1)));
        }
    }
    assert!(
        through.is_empty(),
        "served as POST, run as DELETE by Laravel: {through:?}"
    );
}

// --- Content-Encoding ---------------------------------------------------------------------

/// Two `Content-Encoding` headers, `identity` then `gzip`: Tollgate reads the first value
/// only (`HeaderMap::value`), but Envoy joins them (`identity,gzip`), which is not
/// `identity`: refused. Held.
#[test]
fn two_content_encoding_headers() {
    let s = stack();
    let body = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03";
    let got = post_raw(
        &s,
        "two-ce",
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "identity"),
            ("Content-Encoding", "gzip"),
        ],
        body,
    );
    let seen: Vec<_> = (s.echo.requests().into_iter())
        .filter(|r| r.headers.iter().any(|(k, v)| k == MARK && v == "two-ce"))
        .map(|r| r.headers)
        .collect();
    assert_eq!(
        (got.0, got.1.as_str()),
        ENCODED_BODY,
        "the upstream received {seen:?}"
    );
}

/// Spellings of `Content-Encoding`: case, lists, white space. `identity` in any case is
/// read as such (the body is read); anything else is refused.
#[test]
fn content_encoding_spellings() {
    let s = stack();
    for (i, (encoding, refused)) in [
        ("GZIP", true),
        ("identity, gzip", true),
        ("gzip, identity", true),
        ("x-gzip", true),
        ("br", true),
        (" IDENTITY ", false),
        ("Identity", false),
    ]
    .iter()
    .enumerate()
    {
        let mark = format!("ce-{i}");
        let got = post_raw(
            &s,
            &mark,
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", encoding),
            ],
            br#"{"item":42}"#,
        );
        if *refused {
            assert_eq!((got.0, got.1.as_str()), ENCODED_BODY, "{encoding:?}");
            assert!(upstream_bodies(&s, &mark).is_empty(), "{encoding:?}");
        } else {
            assert_eq!(got.0, 200, "{encoding:?}: {}", got.1);
        }
    }
    // `identity` and a `_method`: read, refused.
    let got = post_raw(
        &s,
        "ce-identity-method",
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "Identity"),
        ],
        br#"{"_method":"DELETE"}"#,
    );
    assert_eq!((got.0, got.1.as_str()), REFUSED);
}

// --- Content-Type readings that hold -------------------------------------------------------

/// Two Content-Type headers, the first not naming JSON: Envoy joins them
/// (`text/plain,application/json`), Tollgate reads the joined value (`/json` in it), as does
/// Laravel's `isJson()`. Over HTTP/1.1 and HTTP/2 (two `content-type` fields).
#[test]
fn two_content_types_the_second_json() {
    let s = stack();
    let body = br#"{"_method":"DELETE"}"#;
    let got = post_raw(
        &s,
        "two-ct-json",
        &[
            ("Content-Type", "text/plain"),
            ("Content-Type", "application/json"),
        ],
        body,
    );
    assert_eq!((got.0, got.1.as_str()), REFUSED);
    let seen = upstream_bodies(&s, "two-ct-json");
    assert!(seen.iter().all(|b| b.len() < body.len()), "{seen:?}");
    let mut c = Connection::open(s.port()).unwrap();
    let t = target();
    c.head(
        1,
        "POST",
        "api.example.com",
        &t,
        &[
            ("content-type", "text/plain"),
            ("content-type", "application/json"),
            (MARK, "h2-two-ct"),
        ],
        false,
    );
    c.data(1, body, true);
    let r = c.answer(1).unwrap();
    assert_eq!((r.status, r.body.as_str()), REFUSED);
    // The backend may answer before the DATA frame is read: the headers went upstream, the
    // body never did.
    let seen = upstream_bodies(&s, "h2-two-ct");
    assert!(seen.iter().all(|b| b.len() < body.len()), "{seen:?}");
}

/// Content types read as multipart or JSON by a framework, whatever their spelling:
/// `applies` is a case-insensitive `contains`, wider than Rack's media type, PHP's cut at
/// `;`/`,`/space, Laravel's case-sensitive `Str::contains`.
#[test]
fn content_type_spellings_applies() {
    for ct in [
        "MULTIPART/FORM-DATA; boundary=x",
        "multipart/form-data;boundary=x",
        " multipart/form-data ; boundary=x",
        "multipart/form-data,text/plain",
        "text/plain,multipart/form-data; boundary=x",
        "application/json;charset=utf-8",
        "APPLICATION/JSON",
        "application/problem+json",
        "application/json\t",
    ] {
        assert!(applies(ct), "{ct}");
    }
}

// --- HTTP/2 --------------------------------------------------------------------------------

/// A JSON and a multipart body sent one byte per DATA frame over HTTP/2, forwarded from the
/// cache at the headers: every frame is read; refused at the frame that completes the
/// `_method` (the JSON key's `:`, the part header's blank line), which the upstream never
/// gets: it has a prefix of the body, then a reset.
#[test]
fn h2_one_byte_data_frames_after_a_cache_hit() {
    let s = cached_stack();
    let t = target();
    for (kind, ct, body) in [
        (
            "json",
            "application/json".to_string(),
            br#"{"item":42,"_method":"DELETE"}"#.to_vec(),
        ),
        ("mp", mp_type(), multipart(b"name=\"_method\"")),
    ] {
        let mark = format!("h2-tiny-{kind}");
        let mut c = Connection::open(s.port()).unwrap();
        c.head(
            1,
            "POST",
            "api.example.com",
            &t,
            &[("content-type", &ct), (MARK, &mark)],
            false,
        );
        for (i, b) in body.iter().enumerate() {
            c.data(1, &[*b], i + 1 == body.len());
        }
        let r = c.answer(1).unwrap();
        assert_eq!((r.status, r.body.as_str()), REFUSED, "{mark}");
        let whole = String::from_utf8_lossy(&body).to_string();
        for got in upstream_bodies(&s, &mark) {
            assert!(
                got.len() < whole.len() && !got.contains("_method\":"),
                "{mark}: the upstream got {got:?}"
            );
        }
    }
}

/// HTTP/2 with a `content-length`, the body in DATA frames, then trailers, forwarded from the
/// cache: the HTTP/1.1 upstream gets `Content-Length`, so a body it received in full would be
/// a complete request even though the trailers never came. The `_method` key's `:` is in the
/// last DATA frame: that frame is held, the upstream never has `content-length` bytes.
#[test]
fn h2_content_length_and_trailers_never_complete_upstream() {
    let s = cached_stack();
    let t = target();
    let body = br#"{"item":42,"note":"x","_method":"DELETE"}"#.to_vec();
    let at = body.windows(2).rposition(|w| w == b"\":").unwrap() + 1;
    let len = body.len().to_string();
    for trailers in [false, true] {
        let mark = format!("h2-cl-{trailers}");
        let mut c = Connection::open(s.port()).unwrap();
        c.head(
            1,
            "POST",
            "api.example.com",
            &t,
            &[
                ("content-type", "application/json"),
                ("content-length", &len),
                (MARK, &mark),
            ],
            false,
        );
        c.data(1, &body[..at - 3], false);
        sleep(Duration::from_millis(300));
        c.data(1, &body[at - 3..], !trailers);
        if trailers {
            c.trailers(1, &[("x-t", "1")]);
        }
        let r = c.answer(1).unwrap();
        assert_eq!((r.status, r.body.as_str()), REFUSED, "{mark}");
        sleep(Duration::from_millis(200));
        for got in upstream_bodies(&s, &mark) {
            assert!(got.len() < body.len(), "{mark}: the upstream got {got:?}");
        }
    }
}

/// A multipart value that only ends with the body (no blank line after the part header) is
/// found at the trailers (`finish`), after every DATA frame went upstream: the upstream has
/// every byte but not the end of the stream, and is reset. No framework takes a part whose
/// headers never end as a field, so nothing was at risk; the request is refused all the same.
#[test]
fn h2_value_found_only_at_the_trailers() {
    let s = cached_stack();
    let t = target();
    let body = format!(
        "--{B}\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\n42\r\n\
         --{B}\r\nContent-Disposition: form-data; name=_method"
    );
    let mut c = Connection::open(s.port()).unwrap();
    c.head(
        1,
        "POST",
        "api.example.com",
        &t,
        &[("content-type", &mp_type()), (MARK, "h2-finish")],
        false,
    );
    c.data(1, body.as_bytes(), false);
    sleep(Duration::from_millis(300));
    c.trailers(1, &[("x-t", "1")]);
    let r = c.answer(1).unwrap();
    assert_eq!((r.status, r.body.as_str()), REFUSED);
}

// --- Large bodies and mid-body refusals over HTTP/1.1 ------------------------------------------

/// A 3 MB multipart body while the request waits for a slow backend (authrep, 800 ms):
/// Envoy buffers it for the paused filter; past its buffer limit it answers 413 itself, and
/// nothing reaches the upstream (its headers were never let go).
#[test]
fn a_body_beyond_envoys_buffer_while_held() {
    let s = stack();
    s.backend.set_latency(Duration::from_millis(800));
    let file: String = (0..70_000)
        .map(|i| format!("line {i:05} of the file, named in no header\r\n"))
        .collect();
    for name in ["note", "_method"] {
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\n\
             Content-Type: text/plain\r\n\r\n{file}\r\n--{B}\r\n\
             Content-Disposition: form-data; name=\"{name}\"\r\n\r\nDELETE\r\n--{B}--\r\n"
        );
        let mark = format!("held-large-{name}");
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: api.example.com\r\n{MARK}: {mark}\r\n\
             Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
            target(),
            mp_type(),
            body.len()
        );
        let r = support::adversarial::send_streaming(s.port(), &head, body.clone().into_bytes())
            .unwrap();
        let seen = upstream_bodies(&s, &mark);
        eprintln!("{mark}: {} {:?}; upstream {}", r.status, r.body, seen.len());
        if name == "_method" {
            assert!(
                matches!(r.status, 400 | 413),
                "{mark}: {} {:?}",
                r.status,
                r.body
            );
        }
        assert!(
            seen.iter().all(|b| b.len() < body.len()),
            "{mark}: the upstream got the whole body"
        );
    }
}

/// Refused mid-body after a cache hit forwarded the headers: the upstream has the first piece
/// and is reset, never the whole body, with Content-Length and chunked.
#[test]
fn refused_mid_body_after_a_cache_hit_http1() {
    let s = cached_stack();
    let body = multipart(b"name=\"_method\"");
    let at = body.windows(7).rposition(|w| w == b"_method").unwrap() + 3;
    for chunked in [false, true] {
        let mark = format!("mid-{chunked}");
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: api.example.com\r\n{MARK}: {mark}\r\n\
             Content-Type: {}\r\n",
            target(),
            mp_type()
        );
        let pieces = [
            (Duration::ZERO, &body[..at]),
            (Duration::from_millis(400), &body[at..]),
        ];
        let r = send_in_pieces(s.port(), &head, &pieces, chunked).unwrap();
        assert_eq!((r.status, r.body.as_str()), REFUSED, "{mark}");
        sleep(Duration::from_millis(200));
        let seen = upstream_bodies(&s, &mark);
        eprintln!(
            "{mark}: upstream {:?}",
            seen.iter().map(String::len).collect::<Vec<_>>()
        );
        for got in seen {
            assert!(got.len() < body.len(), "{mark}: the upstream got {got:?}");
        }
    }
}

// --- The readers, unit level ---------------------------------------------------------------

/// JSON keys with escapes PHP's `json_decode` decodes to `_method`, after strings that end in
/// escapes: every split agrees and each is found.
#[test]
fn json_escape_states() {
    for body in [
        // A string ending in an escaped backslash, then the key.
        r#"{"a":"x\\","_method":1}"#,
        // A surrogate pair, then the key.
        r#"{"a":"\ud83d\ude00","_method":1}"#,
        // A lone high surrogate (PHP: JSON_ERROR_UTF16, nothing read; found all the same).
        r#"{"a":"\ud83d","_method":1}"#,
        // Upper-case hex and `\/`.
        r#"{"\u005F\u006D\u0045\u0054\u0048\u004F\u0044":1}"#,
        // Escaped quotes in long strings, `\u0022` (a quote that does not close).
        r#"{"\u0022_method\u0022":0,"_method":1}"#,
        // Deep nesting, numbers, arrays.
        r#"[[[[[[[[{"x":[1,2.5e3,-0,true,null,{"_method":1}]}]]]]]]]]"#,
        // A BOM before the document (PHP refuses it; found all the same).
        "\u{feff}{\"_method\":1}",
        // A key after a string of 9+ bytes ending in `\\`.
        r#"{"abcdefghij\\":"v\\","_method":1}"#,
        // Key followed by white space PHP accepts, across lines.
        "{\"_method\"\r\n \t:1}",
    ] {
        assert!(scan_every_split(body.as_bytes()), "{body}");
    }
    for body in [
        r#"{"_method\u0000":1}"#,
        r#"{"\u0000_method":1}"#,
        r#"{"a":"\"_method\":1"}"#,
        r#"{"a":"\\\"_method\":1"}"#,
        r#"{"_method_\ud800":1}"#,
        r#"{"x":"_method"}"#,
    ] {
        assert!(!scan_every_split(body.as_bytes()), "{body}");
    }
}

/// The multipart reader's open values: many keys at once (past `MAX_OPEN` the body counts as
/// holding a `_method`), long separators and value phases, `content-id` split across the
/// tail, a `_method` after each.
#[test]
fn multipart_capture_states() {
    let after = |prefix: &str| {
        let mut body = multipart(prefix.as_bytes());
        body.extend_from_slice(&multipart(b"name=\"_method\""));
        body
    };
    for prefix in [
        "name=".repeat(200),
        format!("name{}", "*".repeat(500)),
        format!("name={}", " ".repeat(5000)),
        format!("name=\"{}\"", "a".repeat(5000)),
        format!("name=\"{}", "x\r\n".repeat(500)),
        "content-id".repeat(50),
        format!("filename=\"{}\"", "name=".repeat(300)),
    ] {
        assert!(scan(&after(&prefix)), "{}", &prefix[..prefix.len().min(40)]);
    }
    // The tail across chunks: `content-id` ending in a later chunk after CR/LF-only chunks.
    let mut s = BodyScan::new();
    for piece in [
        &b"--b\r\nx: y\r\nconten"[..],
        b"\r\n",
        b"\n",
        b"t-i",
        b"d: <_method>\r\n\r\nDELETE\r\n--b--\r\n",
    ] {
        s.feed(piece);
    }
    assert!(s.finish());
    // A value that is only a huge run of spaces, then the name.
    let body = multipart(format!("name=\"{}_method\"", " ".repeat(10_000)).as_bytes());
    assert!(scan(&body));
}
