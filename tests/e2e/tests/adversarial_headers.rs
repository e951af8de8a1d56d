//! An attacker's view of headers and credentials: the client can never set the upstream's
//! secret-token or debug headers in any spelling, HTTP Basic splits at the first colon,
//! auth schemes are case-insensitive, and a credential full of `&`, `=`, `%`, `#`, `+` or
//! `usage[hits]=0` arrives at the backend as one exact value that adds no parameter.

mod support;

use e2e::base64::basic_auth as basic;
use e2e::curl::Curl;
use e2e::mock_backend::ReceivedRequest;
use e2e::{EchoRequest, Request, Response};
use serde_json::{json, Value};
use support::adversarial::*;
use support::TOKEN;
use tollgate_core::auth::basic::password_digest;
use tollgate_core::auth::digest::to_hex;

const SALT: &str = "adv-salt";

/// Host, description, `Authorization` value, the (app_id, app_key) the backend must get.
type SchemeCase = (
    &'static str,
    &'static str,
    String,
    Option<(&'static str, &'static str)>,
);
/// How a credential is delivered, the request, the exact backend parameters expected.
type Delivery<'a> = (&'static str, Request, &'a [(&'a str, &'a str)]);

fn rule() -> Value {
    json!([{"http_method": "ANY", "pattern": "/api", "metric_system_name": "hits", "delta": 1}])
}

/// The 3scale and local services, plus `bearer.example.com` (5: user_key as a Bearer token)
/// and `basicuser.example.com` (13: a local Basic user `alice` whose password has colons).
fn services() -> Vec<Value> {
    let mut v = three_scale_services();
    v.extend(local_services());
    v.push(three_scale(
        5,
        1,
        "bearer.example.com",
        "authorization",
        rule(),
    ));
    let hash = format!("sha256:{}", to_hex(&password_digest(SALT, "pa:ss:word")));
    v.push(json!({"id": 13, "authentication": {"mode": "local", "basic_users": [
            {"username": "alice", "salt": SALT, "hash": hash}]},
        "proxy": {"hosts": ["basicuser.example.com"], "secret_token": SECRET, "proxy_rules": rule()}}));
    // No secret_token: a client-sent one must still be removed.
    let key = json!({"id": "w", "hash": tollgate_core::auth::digest::stored_form(WRITER_KEY)});
    v.push(json!({"id": 14, "authentication": {"mode": "local", "api_keys": {"header": "APIKey", "keys": [key]}},
        "proxy": {"hosts": ["nosecret.example.com"], "proxy_rules": rule()}}));
    v
}

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
        let s = adv_stack(adv_config(services(), batching));
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

/// RFC 7617: the user-id cannot contain a colon, so the first colon splits; RFC 9110: the
/// scheme is case-insensitive. Checked on a 3scale app_id/app_key service, a 3scale user_key
/// service taking a Bearer token, a local Basic user and a local JWT service.
#[test]
fn basic_splits_at_the_first_colon_and_schemes_are_case_insensitive() {
    let s = adv_stack(adv_config(services(), false));
    let b64 = |pair: &str| e2e::base64::standard(pair.as_bytes());
    let jwt_ok = token(&["admin"]);
    let cases: Vec<SchemeCase> = vec![
        (
            "basic.example.com",
            "colon in the password",
            basic("user", "pa:ss"),
            Some(("user", "pa:ss")),
        ),
        (
            "basic.example.com",
            "lowercase basic",
            format!("basic {}", b64("bapp-1:bkey")),
            Some(("bapp-1", "bkey")),
        ),
        (
            "basic.example.com",
            "uppercase BASIC",
            format!("BASIC {}", b64("bapp-1:bkey")),
            Some(("bapp-1", "bkey")),
        ),
        (
            "basic.example.com",
            "mixed bAsIc",
            format!("bAsIc {}", b64("bapp-1:bkey")),
            Some(("bapp-1", "bkey")),
        ),
        (
            "bearer.example.com",
            "Bearer user_key",
            "Bearer uk-bearer".into(),
            None,
        ),
        (
            "bearer.example.com",
            "lowercase bearer user_key",
            "bearer uk-bearer".into(),
            None,
        ),
        (
            "bearer.example.com",
            "uppercase BEARER user_key",
            "BEARER uk-bearer".into(),
            None,
        ),
        (
            "basicuser.example.com",
            "local user, colons in the password",
            basic("alice", "pa:ss:word"),
            None,
        ),
        (
            "basicuser.example.com",
            "local user, lowercase basic",
            format!("basic {}", b64("alice:pa:ss:word")),
            None,
        ),
        (
            "jwt.example.com",
            "lowercase bearer JWT",
            format!("bearer {jwt_ok}"),
            None,
        ),
        (
            "jwt.example.com",
            "uppercase BEARER JWT",
            format!("BEARER {jwt_ok}"),
            None,
        ),
    ];
    let mut failures = Vec::new();
    for (host, what, auth, backend_pair) in &cases {
        let before = s.backend.requests().len();
        let r = Request::get("/api/x")
            .header("Host", host)
            .header("Authorization", auth)
            .send(s.port());
        if r.status != 200 {
            failures.push(format!("{host} {what}: {} {:?}", r.status, r.body));
        }
        if let Some((id, key)) = backend_pair {
            let calls: Vec<ReceivedRequest> =
                s.backend.requests().into_iter().skip(before).collect();
            let got: Vec<(Option<&str>, Option<&str>)> = calls
                .iter()
                .map(|c| (c.param("app_id"), c.param("app_key")))
                .collect();
            if got != vec![(Some(*id), Some(*key))] {
                failures.push(format!(
                    "{host} {what}: backend got (app_id, app_key) {got:?}"
                ));
            }
        }
    }
    // Case-insensitive schemes must not turn a wrong password into a pass, nor into "missing".
    for scheme in ["basic", "BASIC"] {
        let r = Request::get("/api/x")
            .header("Host", "basic.example.com")
            .header(
                "Authorization",
                &format!("{scheme} {}", b64("bapp-1:wrong")),
            )
            .send(s.port());
        if (r.status, r.body.as_str()) != AUTH_FAILED {
            failures.push(format!(
                "{scheme} with a wrong password: {} {:?}",
                r.status, r.body
            ));
        }
    }
    assert_none("Basic and scheme parsing", &failures, cases.len() + 2);
}

/// Percent-encodes every byte but unreserved ones.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Checks one backend call carries exactly these parameters, each once, with these values.
fn exact_params(call: &ReceivedRequest, expected: &[(&str, &str)]) -> Option<String> {
    let mut got: Vec<(String, String)> = call.query.clone();
    got.sort();
    let mut want: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.sort();
    (got != want).then(|| {
        format!(
            "backend got {got:?} (raw {:?}), expected {want:?}",
            call.raw_query
        )
    })
}

#[test]
fn credentials_cannot_inject_backend_parameters() {
    let payloads = [
        "a&b=c",
        "x&usage[hits]=0",
        "x&usage%5Bhits%5D=0",
        "k#frag",
        "p+q r",
        "%41%",
        "100%",
        "&service_id=2&user_key=uk-ok-0",
        "user_key=uk-ok-0",
        "a=b=c",
        "x;y,z",
        "caf\u{e9}-\u{2603}",
    ];
    let mut failures = Vec::new();
    let mut total = 0;
    for batching in [false, true] {
        let mode = if batching { "batching" } else { "authrep" };
        let endpoint = if batching {
            "/transactions/authorize.xml"
        } else {
            "/transactions/authrep.xml"
        };
        let s = adv_stack(adv_config(services(), batching));
        for (i, payload) in payloads.iter().enumerate() {
            let user_key = [
                ("service_id", "1"),
                ("service_token", TOKEN),
                ("user_key", payload),
                ("usage[hits]", "1"),
            ];
            let user_key_q = [
                ("service_id", "4"),
                ("service_token", TOKEN),
                ("user_key", payload),
                ("usage[hits]", "1"),
            ];
            // The form delivery uses another key, so that batching mode does not answer it
            // from the query delivery's cached denial.
            let form_key = format!("{payload}|form");
            let user_key_f = [
                ("service_id", "4"),
                ("service_token", TOKEN),
                ("user_key", form_key.as_str()),
                ("usage[hits]", "1"),
            ];
            let app_key = [
                ("service_id", "3"),
                ("service_token", TOKEN),
                ("app_id", "bapp-2"),
                ("app_key", payload),
                ("usage[hits]", "1"),
            ];
            let header_ok = !payload.contains(['\u{e9}', '\u{2603}']);
            let mut deliveries: Vec<Delivery> = vec![
                (
                    "query",
                    Request::get(&format!("/api/x?user_key={}", encode(payload)))
                        .header("Host", "query.example.com"),
                    &user_key_q,
                ),
                (
                    "form",
                    Request::post("/api/x")
                        .header("Host", "query.example.com")
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(format!("note=1&user_key={}", encode(&form_key))),
                    &user_key_f,
                ),
                (
                    "basic",
                    Request::get("/api/x")
                        .header("Host", "basic.example.com")
                        .header("Authorization", &basic("bapp-2", payload)),
                    &app_key,
                ),
            ];
            if header_ok {
                deliveries.push((
                    "header",
                    Request::get("/api/x")
                        .header("Host", "hdr.example.com")
                        .header("user_key", payload),
                    &user_key,
                ));
            }
            for (how, req, expected) in deliveries {
                total += 1;
                let mark = format!("{mode}/{how}/{i}");
                let before = s.backend.requests().len();
                let r = req.header(MARK, &mark).send(s.port());
                let calls: Vec<ReceivedRequest> = s
                    .backend
                    .requests()
                    .into_iter()
                    .skip(before)
                    .filter(|c| c.path == endpoint)
                    .collect();
                let who = format!("{mark} {payload:?}");
                if calls.len() != 1 {
                    failures.push(format!("{who}: {} {endpoint} call(s)", calls.len()));
                } else if let Some(p) = exact_params(&calls[0], expected) {
                    failures.push(format!("{who}: {p}"));
                }
                if (r.status, r.body.as_str()) != AUTH_FAILED
                    || !seen(&s.echo.requests(), &mark).is_empty()
                {
                    failures.push(format!(
                        "{who}: answered {} {:?} (an unknown key is 403, never forwarded)",
                        r.status, r.body
                    ));
                }
            }
        }
        failures.extend(still_serving(s.port(), 2, "uk-ok-3"));
    }
    assert_none("credential injection", &failures, total);
}

/// Batching: an authorization cached for one set of credentials is never lent to lookalikes
/// (case, separators, encodings, the id/key boundary moved): each is asked of the backend
/// with its exact value and refused.
#[test]
fn cached_authorizations_are_not_lent_to_lookalike_credentials() {
    let s = adv_stack(adv_config(services(), true));
    let mut failures = Vec::new();
    let hdr = |k: &str| {
        Request::get("/api/x")
            .header("Host", "hdr.example.com")
            .header("user_key", k)
    };
    let app = |id: &str, key: &str| {
        Request::get("/api/x")
            .header("Host", "app.example.com")
            .header("app_id", id)
            .header("app_key", key)
    };
    let basic_req = |u: &str, p: &str| {
        Request::get("/api/x")
            .header("Host", "basic.example.com")
            .header("Authorization", &basic(u, p))
    };
    // Prime: the genuine credentials are authorized and cached.
    for (what, r) in [
        ("user_key", hdr("uk-ok-9")),
        ("app", app("app-ok-9", "key-ok")),
        ("basic", basic_req("bapp-9", "bkey")),
    ] {
        let r = r.send(s.port());
        if r.status != 200 {
            failures.push(format!("prime {what}: {} {:?}", r.status, r.body));
        }
    }
    let lookalikes: Vec<(&str, Request, (&str, &str))> = vec![
        ("upper case key", hdr("UK-OK-9"), ("user_key", "UK-OK-9")),
        ("encoded key", hdr("uk%2Dok-9"), ("user_key", "uk%2Dok-9")),
        (
            "key with a suffix",
            hdr("uk-ok-9 x"),
            ("user_key", "uk-ok-9 x"),
        ),
        (
            "two keys joined",
            hdr("uk-ok-9,uk-ok-9"),
            ("user_key", "uk-ok-9,uk-ok-9"),
        ),
        (
            "id/key boundary moved",
            app("app-ok-9 key-ok", "x"),
            ("app_id", "app-ok-9 key-ok"),
        ),
        (
            "app_key upper case",
            app("app-ok-9", "KEY-OK"),
            ("app_key", "KEY-OK"),
        ),
        (
            "app_key with a suffix",
            app("app-ok-9", "key-ok%20"),
            ("app_key", "key-ok%20"),
        ),
        (
            "Basic boundary moved",
            basic_req("bapp-9:bkey", "x"),
            ("app_id", "bapp-9"),
        ),
        (
            "Basic password suffix",
            basic_req("bapp-9", "bkey:"),
            ("app_key", "bkey:"),
        ),
        (
            "Basic user case",
            basic_req("BAPP-9", "bkey"),
            ("app_id", "BAPP-9"),
        ),
    ];
    let total = lookalikes.len() + 3;
    for (i, (what, req, (param, value))) in lookalikes.into_iter().enumerate() {
        let mark = format!("lookalike/{i}");
        let before = s.backend.requests().len();
        let r = req.header(MARK, &mark).send(s.port());
        let calls: Vec<ReceivedRequest> = s.backend.requests().into_iter().skip(before).collect();
        if (r.status, r.body.as_str()) != AUTH_FAILED || !seen(&s.echo.requests(), &mark).is_empty()
        {
            failures.push(format!("{what}: answered {} {:?}", r.status, r.body));
        }
        if !calls.iter().any(|c| c.param(param) == Some(value)) {
            failures.push(format!(
                "{what}: no backend call with {param}={value:?} (calls: {:?})",
                calls.iter().map(|c| c.url()).collect::<Vec<_>>()
            ));
        }
    }
    assert_none("lookalike credentials", &failures, total);
}
