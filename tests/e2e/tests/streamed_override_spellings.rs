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
//! `Content-Type`s over HTTP/1.1 and HTTP/2, the JSON reader's escape states and the
//! multipart reader's open values; and how bodies arrive (`streamed_override_streams.rs`).

mod support;

use e2e::h2::Connection;
use support::pieces::*;
use tollgate_core::body_scan::{applies, BodyScan};

const ENCODED_BODY: (u16, &str) = (400, "Bad Request: encoded body");
const ENCODED_FORM: (u16, &str) = (400, "Bad Request: encoded form body");

/// A response body cut short for messages (the echo's JSON is long).
fn short(text: &str) -> String {
    text.chars().take(60).collect()
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
