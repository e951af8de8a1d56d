//! The eighteenth session's new denials crossed with request shapes and modes: a signed URL's
//! form body on a method without a payload, a `user_key`/`app_id` beside a verified token
//! (local+3scale, OIDC) in the form body, a `last` rule matched only through a form body APIcast
//! does not read, and a padded `app_key` in batching mode. Shapes: HTTP/1.1 with a
//! Content-Length, chunked in many small chunks, `Expect: 100-continue`, a body arriving slowly
//! after the headers, chunked with trailers, HTTP/2 in many small DATA frames, HTTP/2 with
//! trailers, an oversize body, content-type spellings. Tests marked `FINDING` assert the correct
//! behaviour and fail on the module audited (s18-sig).

mod support;

use e2e::h2::Connection;
use e2e::http::read_response;
use e2e::jwt::{now, Signer};
use e2e::mock_backend::{App, Period, Service, State};
use e2e::{wait_until, Request};
use serde_json::{json, Value};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::thread::sleep;
use std::time::Duration;
use support::*;
use tollgate_core::auth::signed_url;

const MARK: &str = "x-case";
const FORM: &str = "application/x-www-form-urlencoded";

#[derive(Clone, Copy, Debug)]
enum Shape {
    /// HTTP/1.1, Content-Length, one write.
    Plain,
    /// HTTP/1.1 chunked, 2-byte chunks.
    Chunked,
    /// HTTP/1.1 `Expect: 100-continue`, body sent after a pause.
    Expect,
    /// HTTP/1.1 Content-Length, the body in 2-byte writes 150 ms apart.
    Slow,
    /// HTTP/1.1 chunked with trailers.
    Trailers,
    /// HTTP/2, 2-byte DATA frames.
    H2Frames,
    /// HTTP/2, body then trailers.
    H2Trailers,
}

const SHAPES: [Shape; 7] = [
    Shape::Plain,
    Shape::Chunked,
    Shape::Expect,
    Shape::Slow,
    Shape::Trailers,
    Shape::H2Frames,
    Shape::H2Trailers,
];

/// Sends `method host target` with `headers` (besides framing) and `body` in `shape`, marked
/// `mark`; returns (status, body).
#[allow(clippy::too_many_arguments)]
fn send(
    port: u16,
    shape: Shape,
    method: &str,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    mark: &str,
) -> (u16, String) {
    match shape {
        Shape::H2Frames | Shape::H2Trailers => {
            let mut c = Connection::open(port).unwrap();
            let mut hs: Vec<(&str, &str)> = headers.to_vec();
            hs.push((MARK, mark));
            c.head(1, method, host, target, &hs, false);
            let pieces: Vec<&[u8]> = match shape {
                Shape::H2Frames => body.chunks(2).collect(),
                _ => body.chunks(16 * 1024).collect(),
            };
            for (i, p) in pieces.iter().enumerate() {
                let end = matches!(shape, Shape::H2Frames) && i + 1 == pieces.len();
                c.data(1, p, end);
            }
            if matches!(shape, Shape::H2Trailers) {
                c.trailers(1, &[("x-trailer", "t")]);
            }
            match c.answer(1) {
                Ok(r) => (r.status, r.body),
                Err(e) => (0, format!("no answer: {e}")),
            }
        }
        _ => {
            let mut head =
                format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n{MARK}: {mark}\r\n");
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            let chunked = matches!(shape, Shape::Chunked | Shape::Trailers);
            if chunked {
                head.push_str("Transfer-Encoding: chunked\r\n");
            } else {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            if matches!(shape, Shape::Expect) {
                head.push_str("Expect: 100-continue\r\n");
            }
            head.push_str("\r\n");
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let _ = stream.write_all(head.as_bytes());
            match shape {
                Shape::Plain => {
                    let _ = stream.write_all(body);
                }
                Shape::Expect => {
                    sleep(Duration::from_millis(300));
                    let _ = stream.write_all(body);
                }
                Shape::Slow => {
                    for p in body.chunks(2) {
                        sleep(Duration::from_millis(150));
                        let _ = stream.write_all(p);
                    }
                }
                _ => {
                    for p in body.chunks(2) {
                        let _ = stream.write_all(
                            &[format!("{:x}\r\n", p.len()).as_bytes(), p, b"\r\n"].concat(),
                        );
                    }
                    let end: &[u8] = match shape {
                        Shape::Trailers => b"0\r\nx-trailer: t\r\n\r\n",
                        _ => b"0\r\n\r\n",
                    };
                    let _ = stream.write_all(end);
                }
            }
            let r = read_response(&mut BufReader::new(stream), method == "HEAD").unwrap();
            (r.status, r.body)
        }
    }
}

/// The requests marked `mark` the upstream received, as `METHOD path body=...`.
fn upstream_got(s: &Stack, mark: &str) -> Vec<String> {
    (s.echo.requests().into_iter())
        .filter(|r| r.header(MARK) == Some(mark))
        .map(|r| format!("{} {} body={:?}", r.method, r.path, r.body))
        .collect()
}

// ---------------------------------------------------------------------------------------
// (1) Signed URLs: a form body adding an arg on a method without a payload.
// ---------------------------------------------------------------------------------------

const SECRET: &str = "url-signing-secret-0123456789";
const LOCAL: &str = "local.example.com";

fn signed_stack() -> Stack {
    Stack::start(config(vec![local_service(
        json!({"mode": "local", "signed_urls": {"secret": SECRET}}),
        json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]),
    )]))
}

fn signed(method: &str, target: &str) -> String {
    signed_url::sign(SECRET.as_bytes(), method, target, now() + 300).unwrap()
}

/// Regression guard: on GET, HEAD, DELETE and OPTIONS, a form body adding `owner=all` to a
/// signed URL is auth failed in every shape (chunked, 100-continue, slow, trailers, HTTP/2
/// frames and trailers) and content-type spelling; the same shapes with a body repeating the
/// signed arg pass (controls that the shape itself goes through). An oversize body is
/// Envoy's 413, never forwarded.
#[test]
fn a_form_body_adding_an_arg_to_a_signed_url_is_refused_in_every_shape() {
    let s = signed_stack();
    let port = s.port();
    let mut wrong = Vec::new();
    let types = [
        FORM,
        "application/x-www-form-urlencoded; charset=utf-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "Application/X-Www-Form-Urlencoded ; Charset=UTF-8",
    ];
    let mut n = 0;
    for method in ["GET", "HEAD", "DELETE", "OPTIONS"] {
        let url = signed(method, "/reports?scope=mine");
        for shape in SHAPES {
            for ct in types {
                // Two content types per shape on GET, one elsewhere: keeps the count modest.
                if ct != FORM && method != "GET" {
                    continue;
                }
                n += 1;
                let mark = format!("add-{n}");
                let (status, body) = send(
                    port,
                    shape,
                    method,
                    LOCAL,
                    &url,
                    &[("Content-Type", ct)],
                    b"scope=mine&owner=all",
                    &mark,
                );
                let got = upstream_got(&s, &mark);
                let body_ok = method == "HEAD" || body == "Authentication failed";
                if status != 403 || !body_ok || !got.is_empty() {
                    wrong.push(format!(
                        "{method} {shape:?} {ct:?}: {status} {body:?}; upstream got {got:?}"
                    ));
                }
            }
            // Control: the body repeats the signed arg, the shape goes through.
            n += 1;
            let mark = format!("ok-{n}");
            let (status, _) = send(
                port,
                shape,
                method,
                LOCAL,
                &url,
                &[("Content-Type", FORM)],
                b"scope=mine",
                &mark,
            );
            let got = upstream_got(&s, &mark);
            if status != 200 || got.len() != 1 {
                wrong.push(format!(
                    "control {method} {shape:?}: {status}; upstream got {got:?}"
                ));
            }
        }
    }
    // Oversize: beyond Envoy's 1 MiB buffer limit while the filter waits for the body.
    let url = signed("GET", "/reports?scope=mine");
    let mut big = b"scope=mine&owner=all&pad=".to_vec();
    big.resize(1_200_000, b'a');
    for shape in [Shape::Plain, Shape::H2Trailers] {
        let mark = format!("big-{shape:?}");
        let (status, body) = send(
            port,
            shape,
            "GET",
            LOCAL,
            &url,
            &[("Content-Type", FORM)],
            &big,
            &mark,
        );
        let got = upstream_got(&s, &mark);
        // Over HTTP/2 the test client ignores flow control: a reset of the stream is a refusal too.
        if !matches!(status, 0 | 403 | 413) || !got.is_empty() {
            wrong.push(format!(
                "oversize {shape:?}: {status} {body:?}; upstream got {} requests",
                got.len()
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        s.backend.requests().is_empty(),
        "a local service calls no backend"
    );
}

/// Regression guard: a signed `GET` whose body carries `Content-Type` twice, `text/plain`
/// first and the form type second (gunicorn keeps the last one, Werkzeug parses a form on any
/// method), adding `owner=all`, is refused over HTTP/1.1 and HTTP/2.
#[test]
fn a_signed_get_with_two_content_types_and_an_added_form_arg_is_refused() {
    let s = signed_stack();
    let url = signed("GET", "/reports?scope=mine");
    let mut wrong = Vec::new();
    for (i, shape) in [Shape::Plain, Shape::H2Frames].into_iter().enumerate() {
        let mark = format!("dup-{i}");
        let (status, body) = send(
            s.port(),
            shape,
            "GET",
            LOCAL,
            &url,
            &[("Content-Type", "text/plain"), ("Content-Type", FORM)],
            b"owner=all",
            &mark,
        );
        let got = upstream_got(&s, &mark);
        if status != 403 || !got.is_empty() {
            wrong.push(format!(
                "{shape:?}: {status} {body:?}; upstream got {got:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "an unsigned arg rode along in a body whose second Content-Type is a form: {wrong:#?}"
    );
    assert!(s.backend.requests().is_empty());
}

/// A signed `GET`/`DELETE` with a `multipart/form-data` body adding `owner=all`: Rack parses
/// multipart bodies on any method into `params` (`form_data?` looks at the media type only),
/// as it does the urlencoded body this session refused. README, Signed URLs: "a form body may
/// not add an arg the signed query lacks (Rack, Symfony and Laravel read it as the request's)".
// FINDING: a multipart form body adds an unsigned arg to a signed GET/DELETE URL
#[test]
fn a_signed_get_or_delete_with_a_multipart_form_adding_an_arg_is_refused() {
    let s = signed_stack();
    let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"owner\"\r\n\r\nall\r\n--XyZ--\r\n";
    let mut wrong = Vec::new();
    for method in ["GET", "DELETE"] {
        let url = signed(method, "/reports?scope=mine");
        let mark = format!("mp-{method}");
        let (status, rbody) = send(
            s.port(),
            Shape::Plain,
            method,
            LOCAL,
            &url,
            &[("Content-Type", "multipart/form-data; boundary=XyZ")],
            body,
            &mark,
        );
        let got = upstream_got(&s, &mark);
        if status != 403 || !got.is_empty() {
            wrong.push(format!(
                "{method}: {status} {rbody:?}; upstream got {got:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "a multipart form added an unsigned arg to a signed URL: {wrong:#?}"
    );
    assert!(s.backend.requests().is_empty());
}

// ---------------------------------------------------------------------------------------
// (2) local+3scale / OIDC: a user_key or app_id beside the verified token.
// ---------------------------------------------------------------------------------------

const ISSUER: &str = "https://idp.example.com/realms/demo";
const JWT_HOST: &str = "jwt.example.com";

fn hs() -> Signer {
    Signer::hs256(b"0123456789abcdef0123456789abcdef-own", "hs-1")
}

fn token() -> String {
    hs().token(&json!({"iss": ISSUER, "aud": "orders-api", "sub": "user-1",
        "azp": "client-1", "exp": now() + 300}))
}

fn jwt_block() -> Value {
    json!({"jwks": Signer::jwks(&[&hs()]), "issuer": ISSUER, "audiences": ["orders-api"]})
}

/// (service config, backend state, credential name, another app's value)
fn token_service(oidc: bool, batching: bool) -> (Value, State, &'static str, &'static str) {
    let rules =
        json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let (svc, state, name, other) = if oidc {
        let svc = json!({
            "id": 5, "backend_version": "oauth",
            "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
            "authentication": {"jwt": jwt_block()},
            "proxy": {"hosts": [JWT_HOST], "authentication_method": "oidc", "proxy_rules": rules}
        });
        let state = State::new()
            .service(
                Service::new("5")
                    .token(TOKEN)
                    .backend_version("oauth")
                    .metric("hits", None),
            )
            .app(App::new("5", "client-1").plan("OIDC"))
            .app(App::new("5", "client-2").app_keys(&["key-2"]).plan("OIDC"));
        (svc, state, "app_id", "client-2")
    } else {
        let svc = json!({
            "id": 7, "backend_version": 1,
            "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
            "authentication": {"mode": "local+3scale", "jwt": jwt_block()},
            "proxy": {"hosts": [JWT_HOST], "proxy_rules": rules}
        });
        let state = State::new()
            .service(
                Service::new("7")
                    .token(TOKEN)
                    .backend_version("1")
                    .metric("hits", None),
            )
            .app(
                App::new("7", "app-client")
                    .user_key("client-1")
                    .plan("Basic"),
            )
            .app(
                App::new("7", "app-premium")
                    .user_key("uk-premium")
                    .plan("Premium"),
            );
        (svc, state, "user_key", "uk-premium")
    };
    let mut c = config(vec![svc]);
    c["backend"]["timeout_ms"] = json!(3000);
    if batching {
        c["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    }
    (c, state, name, other)
}

/// README (Authentication): "With `local+3scale` (and OIDC) ... a `user_key` or `app_id` the
/// request carries where the service reads credentials (`credentials_location`) must be that
/// client id: another one ... is auth failed with no backend call"; `credentials_location`
/// `query` is "query string, then the form body". A `POST` form body with `user_key=uk-premium`
/// (local+3scale) or `app_id=client-2` (OIDC) beside the token is forwarded: the service's
/// query credentials are read from the body only in `3scale` mode
/// (`form_body.rs::form_credentials`), so `names_another` never sees it. The upstream (Rack's
/// `params`, PHP's `$_REQUEST`) reads the other application's credential while the backend
/// authorized `client-1`. Checked in authrep and batching mode, backend slow (300 ms), in
/// several shapes.
// FINDING: a user_key/app_id of another app in the POST form body beside the verified token reaches the upstream
#[test]
fn another_credential_in_the_form_body_beside_the_verified_token_is_auth_failed() {
    let mut wrong = Vec::new();
    let t = token();
    let bearer = format!("Bearer {t}");
    for oidc in [false, true] {
        for batching in [false, true] {
            let (c, state, name, other) = token_service(oidc, batching);
            let s = Stack::start_with(c, state, |b| b);
            s.backend.set_latency(Duration::from_millis(300));
            let what = format!(
                "{} {}",
                if oidc { "OIDC" } else { "local+3scale" },
                if batching { "batching" } else { "authrep" }
            );
            let headers = [("Authorization", bearer.as_str()), ("Content-Type", FORM)];
            // Controls: the query, and the body naming the token's own client id.
            let r = Request::get(&format!("/orders?{name}={other}"))
                .header("Host", JWT_HOST)
                .header("Authorization", &bearer)
                .send(s.port());
            if r.status != 403 {
                wrong.push(format!("{what}: control (query) {}", r.status));
            }
            let own = format!("note=x&{name}=client-1");
            let (status, _) = send(
                s.port(),
                Shape::Plain,
                "POST",
                JWT_HOST,
                "/orders",
                &headers,
                own.as_bytes(),
                "own",
            );
            if status != 200 {
                wrong.push(format!("{what}: control (own id in the body) {status}"));
            }
            let calls_before = s.backend.requests().len();
            for (i, shape) in [Shape::Plain, Shape::Chunked, Shape::H2Trailers]
                .into_iter()
                .enumerate()
            {
                let mark = format!("other-{i}");
                let form = format!("note=x&{name}={other}");
                let (status, body) = send(
                    s.port(),
                    shape,
                    "POST",
                    JWT_HOST,
                    "/orders",
                    &headers,
                    form.as_bytes(),
                    &mark,
                );
                let got = upstream_got(&s, &mark);
                if status != 403 || !got.is_empty() {
                    wrong.push(format!(
                        "{what} {shape:?}: {status} {body:?}; upstream got {got:?}"
                    ));
                }
            }
            // No authrep/authorize for the refused requests (a report of earlier ones may
            // come in batching mode).
            let asked: Vec<String> = s.backend.requests()[calls_before..]
                .iter()
                .filter(|r| !r.path.contains("report"))
                .map(|r| format!("{} {}", r.path, r.raw_query))
                .collect();
            if !asked.is_empty() {
                wrong.push(format!("{what}: backend asked {asked:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "another application's credential in the form body rode along beside the token: {wrong:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// (3) A `last` rule matched only through a form body on DELETE.
// ---------------------------------------------------------------------------------------

/// Regression guard: a `last` rule whose arg only a `DELETE` form body gives counts and does
/// not stop, whichever shape the body comes in (chunked, slow, trailers, HTTP/2 frames).
#[test]
fn a_last_rule_matched_through_a_delete_form_body_never_stops_in_any_shape() {
    let s = Stack::start(config(vec![service(
        1,
        json!(1),
        json!({"proxy_rules": [
            {"http_method": "ANY", "pattern": "/items?kind=cheap", "metric_system_name": "hits", "delta": 1, "last": true},
            {"http_method": "ANY", "pattern": "/items", "metric_system_name": "get_foo", "delta": 10}
        ]}),
    )]));
    let target = format!("/items?user_key={USER_KEY}");
    let mut wrong = Vec::new();
    for shape in SHAPES {
        s.backend.clear_requests();
        let mark = format!("last-{shape:?}");
        let (status, _) = send(
            s.port(),
            shape,
            "DELETE",
            "api.example.com",
            &target,
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )],
            b"kind=cheap",
            &mark,
        );
        let usage: Vec<String> = s
            .authreps()
            .last()
            .map(|c| {
                let mut u: Vec<String> = (c.query.iter())
                    .filter(|(k, _)| k.starts_with("usage["))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                u.sort();
                u
            })
            .unwrap_or_default();
        let got = upstream_got(&s, &mark);
        if status != 200
            || usage != ["usage[get_foo]=10", "usage[hits]=1"]
            || got.len() != 1
            || !got[0].ends_with("body=\"kind=cheap\"")
        {
            wrong.push(format!(
                "{shape:?}: {status}; usage {usage:?}; upstream got {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

// ---------------------------------------------------------------------------------------
// (4) Batching: a padded app_key in the form body and over HTTP/2.
// ---------------------------------------------------------------------------------------

/// Regression guard: in batching mode an `app_key` padded with whitespace, sent in the form
/// body (`+`, `%09`) or over HTTP/2, shares the one budget of the unpadded key: a plan of 3
/// hits a minute lets 3 through, whatever the spellings.
#[test]
fn a_padded_app_key_in_a_form_body_or_over_h2_shares_the_limit_budget() {
    let state = State::new()
        .service(
            Service::new("2")
                .token(TOKEN)
                .backend_version("2")
                .metric("hits", None),
        )
        .app(
            App::new("2", "lim-app")
                .app_keys(&["lim-key"])
                .plan("Tiny")
                .limit("hits", Period::Minute, 3),
        );
    let mut c = config(vec![service(
        2,
        json!(2),
        json!({"proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}),
    )]);
    c["backend"]["batching"] =
        json!({"auths_ttl": 30, "denied_ttl": 30, "batch_report_seconds": 10});
    let s = Stack::start_with(c, state, |b| b);
    let mut statuses = Vec::new();
    let bodies = [
        "app_id=lim-app&app_key=lim-key",
        "app_id=lim-app&app_key=+lim-key",
        "app_id=lim-app&app_key=lim-key%09",
        "app_id=lim-app&app_key=%20%20lim-key",
    ];
    let mut n = 0;
    for body in bodies {
        for shape in [Shape::Plain, Shape::H2Frames] {
            n += 1;
            let (status, _) = send(
                s.port(),
                shape,
                "POST",
                "api.example.com",
                "/things",
                &[("Content-Type", FORM)],
                body.as_bytes(),
                &format!("pad-{n}"),
            );
            statuses.push((body, shape, status));
        }
    }
    let forwarded = s.echo.requests().len();
    wait_until(Duration::from_secs(15), || {
        s.backend.reported_hits("2", "lim-app", "hits") as usize >= forwarded
    });
    assert_eq!(
        forwarded,
        3,
        "a plan of 3 hits a minute; statuses {statuses:?}; backend counted {}",
        s.backend.reported_hits("2", "lim-app", "hits")
    );
    assert_eq!(
        statuses.iter().filter(|(_, _, st)| *st == 429).count(),
        n - 3,
        "{statuses:?}"
    );
}
