//! An attacker's view of malformed and oversize input: huge queries, paths and headers,
//! invalid percent-encoding and base64, non-UTF-8 bytes, duplicate credentials and Hosts,
//! smuggling-shaped framing. Each gets a clear 4xx (never a 5xx, never forwarded when
//! unauthenticated), and Envoy serves the next valid requests normally (no VM trapped).

mod support;

use e2e::http::send_raw;
use support::adversarial::*;
use support::Stack;

/// What a malformed request must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Unauthenticated: a 4xx, and the upstream sees nothing.
    Refused,
    /// Authenticated but odd: a 200 from the upstream or a 4xx, never a 5xx.
    NoServerError,
}

/// A raw HTTP/1.1 request: `head` lines (without the request line's CRLF handling), the
/// marker header and `Connection: close` added, then `body`.
fn raw(request_line: &[u8], headers: &[(&str, &[u8])], mark: &str, body: &[u8]) -> Vec<u8> {
    let mut out = request_line.to_vec();
    out.extend_from_slice(b"\r\n");
    for (k, v) in headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("{MARK}: {mark}\r\nConnection: close\r\n").as_bytes());
    if !body.is_empty()
        && !headers.iter().any(|(k, _)| {
            k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding")
        })
    {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn cases() -> Vec<(&'static str, Want, Vec<u8>)> {
    use Want::*;
    let hdr: &[u8] = b"hdr.example.com";
    let query: &[u8] = b"query.example.com";
    let many_args: String = (0..10_000)
        .map(|i| format!("a{i}="))
        .collect::<Vec<_>>()
        .join("&");
    let many_dup: String = vec!["user_key="; 10_000].join("&");
    let long_path = format!("/api/{}", "p".repeat(60 * 1024));
    let path_50k = format!("/api/{}", "p".repeat(50 * 1024));
    let big_value = vec![b'v'; 50 * 1024];
    let huge_value = vec![b'v'; 100 * 1024];
    let long_b64 = format!("Basic {}", "QUFB".repeat(10_000));
    let long_token = format!(
        "Bearer {}.{}.{}",
        "e".repeat(8000),
        "p".repeat(8000),
        "s".repeat(100)
    );
    let mut c: Vec<(&'static str, Want, Vec<u8>)> = Vec::new();
    let mut add = |label: &'static str,
                   want: Want,
                   line: Vec<u8>,
                   headers: Vec<(&str, Vec<u8>)>,
                   body: &[u8]| {
        let h: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        c.push((label, want, raw(&line, &h, label, body)));
    };
    let v = |s: &str| s.as_bytes().to_vec();
    // Oversize.
    add(
        "10k args, wrong key",
        Refused,
        format!("GET /api/x?{many_args} HTTP/1.1").into(),
        vec![("Host", hdr.to_vec()), ("user_key", v("uk-wrong"))],
        b"",
    );
    add(
        "10k args, no key",
        Refused,
        format!("GET /api/x?{many_args} HTTP/1.1").into(),
        vec![("Host", query.to_vec())],
        b"",
    );
    add(
        "10k args then a valid key",
        NoServerError,
        format!("GET /api/x?{many_args}&user_key=uk-q-5 HTTP/1.1").into(),
        vec![("Host", query.to_vec())],
        b"",
    );
    add(
        "10k empty user_key args",
        Refused,
        format!("GET /api/x?{many_dup} HTTP/1.1").into(),
        vec![("Host", query.to_vec())],
        b"",
    );
    add(
        "60 KB path, wrong key",
        Refused,
        format!("GET {long_path} HTTP/1.1").into(),
        vec![("Host", hdr.to_vec()), ("user_key", v("uk-wrong"))],
        b"",
    );
    add(
        "50 KB path, no key",
        Refused,
        format!("GET {path_50k} HTTP/1.1").into(),
        vec![("Host", hdr.to_vec())],
        b"",
    );
    add(
        "50 KB path, valid key",
        NoServerError,
        format!("GET {path_50k} HTTP/1.1").into(),
        vec![("Host", hdr.to_vec()), ("user_key", v("uk-ok-5"))],
        b"",
    );
    add(
        "50 KB header, wrong key",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", hdr.to_vec()),
            ("user_key", v("uk-wrong")),
            ("x-big", big_value.clone()),
        ],
        b"",
    );
    add(
        "50 KB user_key",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![("Host", hdr.to_vec()), ("user_key", big_value)],
        b"",
    );
    add(
        "100 KB header",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![("Host", hdr.to_vec()), ("x-big", huge_value)],
        b"",
    );
    add(
        "200 headers",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        (0..200)
            .map(|_| ("user_key", v("uk-wrong")))
            .chain([("Host", hdr.to_vec())])
            .collect(),
        b"",
    );
    add(
        "40 KB Basic",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", v("basic.example.com")),
            ("Authorization", v(&long_b64)),
        ],
        b"",
    );
    add(
        "16 KB bearer",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", v("jwt.example.com")),
            ("Authorization", v(&long_token)),
        ],
        b"",
    );
    // Invalid encodings.
    for (label, target) in [
        ("bad %-escapes in the key", "/api/x?user_key=%zz%G1%"),
        ("truncated UTF-8 key", "/api/x?user_key=%E0%A4%A"),
        ("non-UTF-8 key", "/api/x?user_key=%FF%FE%00"),
        ("lone % in the path", "/api/%?user_key=nope"),
        ("bad %-escape in the path", "/api/%zz/x?user_key=nope"),
        ("%-encoded name", "/api/x?user%5Fkey=nope"),
    ] {
        add(
            label,
            Refused,
            format!("GET {target} HTTP/1.1").into(),
            vec![("Host", query.to_vec())],
            b"",
        );
    }
    add(
        "lone % in the path, valid key",
        NoServerError,
        "GET /api/% HTTP/1.1".into(),
        vec![("Host", hdr.to_vec()), ("user_key", v("uk-ok-5"))],
        b"",
    );
    for (label, auth) in [
        ("Basic !!!", "Basic !!!"),
        ("Basic no padding", "Basic dXNlcg"),
        ("Basic ====", "Basic ===="),
        ("Basic empty", "Basic "),
        ("Basic only", "Basic"),
        ("Basic 0xFF user", "Basic /w=="),
        ("Basic trailing junk", "Basic YmFwcC0xOmJrZXk=!!"),
        ("Basic no colon", "Basic YmFwcC0x"),
        ("Bearer empty", "Bearer "),
        ("Bearer a.b.c", "Bearer a.b.c"),
        ("Bearer dots", "Bearer ...."),
    ] {
        add(
            label,
            Refused,
            "GET /api/x HTTP/1.1".into(),
            vec![("Host", v("basic.example.com")), ("Authorization", v(auth))],
            b"",
        );
        add(
            label,
            Refused,
            "GET /api/x HTTP/1.1".into(),
            vec![("Host", v("jwt.example.com")), ("Authorization", v(auth))],
            b"",
        );
    }
    // Non-UTF-8 bytes.
    add(
        "0xFF in user_key header",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", hdr.to_vec()),
            ("user_key", b"uk-\xff\xfe".to_vec()),
        ],
        b"",
    );
    add(
        "0xFF in APIKey",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", v("local.example.com")),
            ("APIKey", b"\xff\xfe\xfd".to_vec()),
        ],
        b"",
    );
    add(
        "0xFF in Bearer",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", v("jwt.example.com")),
            ("Authorization", b"Bearer \xff.\xfe.\xfd".to_vec()),
        ],
        b"",
    );
    add(
        "0xFF in Host",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", b"hdr.\xffexample.com".to_vec()),
            ("user_key", v("uk-ok-5")),
        ],
        b"",
    );
    add(
        "0xFF in a form body",
        Refused,
        "POST /api/x HTTP/1.1".into(),
        vec![
            ("Host", query.to_vec()),
            ("Content-Type", v("application/x-www-form-urlencoded")),
        ],
        b"user_key=\xff\xfe&x=\xff",
    );
    add(
        "0xFF in the path",
        Refused,
        b"GET /api/\xff HTTP/1.1".to_vec(),
        vec![("Host", hdr.to_vec())],
        b"",
    );
    add(
        "NUL in a header",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", hdr.to_vec()),
            ("user_key", b"uk-ok-5\x00x".to_vec()),
        ],
        b"",
    );
    // Duplicates.
    add(
        "dup query key, wrong first",
        Refused,
        "GET /api/x?user_key=uk-wrong&user_key=uk-q-5 HTTP/1.1".into(),
        vec![("Host", query.to_vec())],
        b"",
    );
    add(
        "dup query key, valid first",
        NoServerError,
        "GET /api/x?user_key=uk-q-5&user_key=uk-wrong HTTP/1.1".into(),
        vec![("Host", query.to_vec())],
        b"",
    );
    add(
        "dup header key, wrong first",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", hdr.to_vec()),
            ("user_key", v("uk-wrong")),
            ("user_key", v("uk-ok-5")),
        ],
        b"",
    );
    add(
        "dup header key, valid first",
        NoServerError,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", hdr.to_vec()),
            ("user_key", v("uk-ok-5")),
            ("user_key", v("uk-wrong")),
        ],
        b"",
    );
    add(
        "key in query and wrong header",
        Refused,
        "GET /api/x?user_key=uk-ok-5 HTTP/1.1".into(),
        vec![("Host", hdr.to_vec()), ("user_key", v("uk-wrong"))],
        b"",
    );
    add(
        "form and query keys, wrong query",
        Refused,
        "POST /api/x?user_key=uk-wrong HTTP/1.1".into(),
        vec![
            ("Host", query.to_vec()),
            ("Content-Type", v("application/x-www-form-urlencoded")),
        ],
        b"user_key=uk-q-5",
    );
    add(
        "dup Host, wrong key",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", hdr.to_vec()),
            ("Host", v("local.example.com")),
            ("user_key", v("uk-wrong")),
        ],
        b"",
    );
    add(
        "dup Host, local then 3scale",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", v("local.example.com")),
            ("Host", hdr.to_vec()),
            ("user_key", v("uk-ok-5")),
        ],
        b"",
    );
    let admin_ok: &[u8] = ADMIN_SECRET.as_bytes();
    add(
        "dup header secret, wrong first",
        Refused,
        "GET /admin/x HTTP/1.1".into(),
        vec![
            ("Host", v("local.example.com")),
            ("APIKey", v(WRITER_KEY)),
            ("X-Admin-Secret", v("wrong")),
            ("X-Admin-Secret", admin_ok.to_vec()),
        ],
        b"",
    );
    add(
        "dup header secret, right first",
        NoServerError,
        "GET /admin/x HTTP/1.1".into(),
        vec![
            ("Host", v("local.example.com")),
            ("APIKey", v(WRITER_KEY)),
            ("X-Admin-Secret", admin_ok.to_vec()),
            ("X-Admin-Secret", v("wrong")),
        ],
        b"",
    );
    add(
        "dup APIKey, bad first",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", v("local.example.com")),
            ("APIKey", v("wk_bad")),
            ("APIKey", v(WRITER_KEY)),
        ],
        b"",
    );
    add(
        "dup Authorization, bad first",
        Refused,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", v("basic.example.com")),
            ("Authorization", v("Basic YmFwcC0xOndyb25n")),
            ("Authorization", v("Basic YmFwcC0xOmJrZXk=")),
        ],
        b"",
    );
    add(
        "dup Authorization, good first",
        NoServerError,
        "GET /api/x HTTP/1.1".into(),
        vec![
            ("Host", v("basic.example.com")),
            ("Authorization", v("Basic YmFwcC0xOmJrZXk=")),
            ("Authorization", v("Basic YmFwcC0xOndyb25n")),
        ],
        b"",
    );
    // Framing and request-target tricks.
    add(
        "CL and TE",
        Refused,
        "POST /api/x HTTP/1.1".into(),
        vec![
            ("Host", hdr.to_vec()),
            ("user_key", v("uk-wrong")),
            ("Content-Length", v("4")),
            ("Transfer-Encoding", v("chunked")),
        ],
        b"0\r\n\r\nGET /api/x HTTP/1.1\r\nHost: hdr.example.com\r\n\r\n",
    );
    add(
        "two Content-Lengths",
        Refused,
        "POST /api/x HTTP/1.1".into(),
        vec![
            ("Host", hdr.to_vec()),
            ("user_key", v("uk-wrong")),
            ("Content-Length", v("3")),
            ("Content-Length", v("30")),
        ],
        b"abc",
    );
    add(
        "absolute-form target",
        Refused,
        "GET http://hdr.example.com/api/x HTTP/1.1".into(),
        vec![
            ("Host", v("local.example.com")),
            ("user_key", v("uk-wrong")),
        ],
        b"",
    );
    add(
        "absolute-form, other host",
        Refused,
        "GET http://local.example.com/api/x HTTP/1.1".into(),
        vec![("Host", hdr.to_vec()), ("user_key", v("uk-ok-5"))],
        b"",
    );
    add(
        "unknown method",
        Refused,
        "FOO /api/x HTTP/1.1".into(),
        vec![("Host", hdr.to_vec()), ("user_key", v("uk-wrong"))],
        b"",
    );
    add(
        "asterisk target",
        Refused,
        "OPTIONS * HTTP/1.1".into(),
        vec![("Host", hdr.to_vec()), ("user_key", v("uk-wrong"))],
        b"",
    );
    add(
        "HTTP/1.0 without Host",
        Refused,
        "GET /api/x HTTP/1.0".into(),
        vec![("user_key", v("uk-wrong"))],
        b"",
    );
    c
}

#[test]
fn malformed_and_oversize_input_gets_a_clear_4xx_and_the_vm_survives() {
    let mut services = three_scale_services();
    services.extend(local_services());
    let s: Stack = adv_stack(adv_config(services, false));
    let mut failures = Vec::new();
    let cases = cases();
    for (label, want, bytes) in &cases {
        let resp = send_raw(s.port(), bytes);
        let upstream = seen(&s.echo.requests(), label).len();
        let problem = match (&resp, want) {
            (Err(e), _) => Some(format!("no answer ({e})")),
            (Ok(r), Want::Refused) if !(400..500).contains(&r.status) || upstream != 0 => Some(format!(
                "answered {} {:?}, upstream saw it {upstream} time(s) (expected a 4xx, nothing upstream)",
                r.status,
                r.body.chars().take(60).collect::<String>()
            )),
            (Ok(r), Want::NoServerError) if r.status >= 500 || (r.status == 200 && upstream != 1) => Some(format!(
                "answered {} {:?}, upstream saw it {upstream} time(s)",
                r.status,
                r.body.chars().take(60).collect::<String>()
            )),
            _ => None,
        };
        if let Some(p) = problem {
            failures.push(format!("{label}: {p}"));
        }
        for f in still_serving(s.port(), 3, "uk-ok-6") {
            failures.push(format!("after {label:?}: {f}"));
        }
    }
    let traps = traps(&s);
    if !traps.is_empty() {
        failures.push(format!("the VM trapped: {traps:?}"));
    }
    assert_none("malformed input", &failures, cases.len());
}
