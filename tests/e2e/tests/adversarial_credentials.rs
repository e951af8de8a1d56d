//! An attacker's view of credentials: HTTP Basic splits at the first colon, auth schemes are
//! case-insensitive, a credential full of `&`, `=`, `%`, `#`, `+` or `usage[hits]=0` arrives at
//! the backend as one exact value that adds no parameter, and a cached authorization is never
//! lent to lookalike credentials. The secret-token and debug headers are in
//! `adversarial_headers.rs`.

mod support;

use e2e::base64::basic_auth as basic;
use e2e::mock_backend::ReceivedRequest;
use e2e::Request;
use support::adversarial::*;
use support::TOKEN;

/// Host, description, `Authorization` value, the (app_id, app_key) the backend must get.
type SchemeCase = (
    &'static str,
    &'static str,
    String,
    Option<(&'static str, &'static str)>,
);
/// How a credential is delivered, the request, the exact backend parameters expected.
type Delivery<'a> = (&'static str, Request, &'a [(&'a str, &'a str)]);

/// RFC 7617: the user-id cannot contain a colon, so the first colon splits; RFC 9110: the
/// scheme is case-insensitive. Checked on a 3scale app_id/app_key service, a 3scale user_key
/// service taking a Bearer token, a local Basic user and a local JWT service.
#[test]
fn basic_splits_at_the_first_colon_and_schemes_are_case_insensitive() {
    let s = adv_stack(adv_config(header_services(), false));
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
        let s = adv_stack(adv_config(header_services(), batching));
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
    let s = adv_stack(adv_config(header_services(), true));
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
