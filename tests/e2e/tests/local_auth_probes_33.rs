//! A red-team of local authentication (thirty-third session).
//!
//! Found and fixed (failed on `s33a.wasm`): with `jwt.from_jwt_authn` reading a custom
//! header (`X-JWT-Assertion`), a forged token sent as a request TRAILER of that name rode
//! along with the verified header token. `jwt_authn` never reads trailers, and the trailers
//! Tollgate removes (thirty-first session) were the 3scale credential names, API key headers,
//! `Authorization` and the method overrides, not this header: an upstream merging trailers
//! into its headers (Apache's `MergeTrailers on`) read the forged token.

mod support;

use e2e::jwt::{now, Signer};
use e2e::{EchoRequest, JwtAuthn};
use serde_json::{json, Value};
use support::*;

const ISSUER: &str = "https://idp.example.com/realms/probes-33";
const FORGER_SECRET: &[u8] = b"not-the-idp-secret-not-the-idp-secret-33-33-33";
const HOST: &str = "local.example.com";
const MARK: &str = "x-case";

fn claims(azp: &str, roles: &[&str]) -> Value {
    json!({"iss": ISSUER, "sub": azp, "azp": azp, "roles": roles, "exp": now() + 600})
}

/// A `POST /me` to `host` with `headers`, a small body and `trailers`, over HTTP/1.1
/// (chunked) or HTTP/2: the status.
fn send_to(
    port: u16,
    host: &str,
    h2: bool,
    headers: &[(&str, &str)],
    trailers: &[(&str, &str)],
) -> u16 {
    let sent = body_shapes::post_with_trailers(port, h2, (host, "/me"), headers, "{}", trailers);
    sent.map(|r| r.status).unwrap_or(0)
}

fn folded(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// `jwt_authn` reads tokens from `X-JWT-Assertion`; a `POST` carrying the verified token
/// there and a forged admin token as a trailer of that name (in two spellings) is served
/// with the verified token alone: the trailer is removed, a harmless one still arrives.
#[test]
fn a_forged_token_in_a_trailer_named_as_the_jwt_authn_header_never_reaches_the_upstream() {
    let idp = Signer::es256("probes-33-1");
    let forger = Signer::hs256(FORGER_SECRET, "probes-33-1");
    let auth = json!({"mode": "local",
        "jwt": {"from_jwt_authn": {"metadata_key": "jwt_payload", "header": "X-JWT-Assertion"},
                "issuer": ISSUER}});
    let rules = json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits",
        "delta": 1}]);
    let s = Stack::start_with(
        config(vec![local_service(auth, rules)]),
        backend_state(),
        |b| {
            b.http1_trailers().upstream_trailers().jwt_authn(
                JwtAuthn::new(&Signer::jwks(&[&idp]))
                    .issuer(ISSUER)
                    .from_header("x-jwt-assertion"),
            )
        },
    );
    let token = idp.token(&claims("bob-app", &["reader"]));
    let forged = forger.token(&claims("admin-console", &["admin"]));
    let trailers = [
        ("X-JWT-Assertion", forged.as_str()),
        ("x_jwt_assertion", forged.as_str()),
    ];
    let headers = [("X-JWT-Assertion", token.as_str())];
    let mut wrong = Vec::new();
    for (mark, one) in forwarded_without(&s, HOST, &headers, &trailers, &["x-jwt-assertion"]) {
        let Ok(one) = one.map_err(|e| wrong.push(e)) else {
            continue;
        };
        let in_headers: Vec<_> = (one.headers.iter())
            .filter(|(k, _)| folded(k) == "x-jwt-assertion")
            .map(|(_, v)| v.as_str())
            .collect();
        if in_headers != [token.as_str()] {
            wrong.push(format!("{mark}: upstream got headers {in_headers:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// An open service on `open.example.com` and a key-guarded one on `admin.example.com`, on
/// one upstream.
fn open_and_guarded() -> Stack {
    let rules = json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits",
        "delta": 1}]);
    let open = json!({"id": 11, "authentication": {"mode": "none"},
        "proxy": {"hosts": ["open.example.com"], "proxy_rules": rules}});
    let guarded = json!({"id": 12, "authentication": {"mode": "local",
            "api_keys": {"header": "X-API-Key", "keys": []}},
        "proxy": {"hosts": ["admin.example.com"], "proxy_rules": rules}});
    Stack::start_with(config(vec![open, guarded]), backend_state(), |b| {
        b.http1_trailers().upstream_trailers()
    })
}

/// Sends `headers` and `trailers` (and a harmless `x-checksum` trailer) to `host` over
/// HTTP/1.1 and HTTP/2; for each, the request the upstream got, or what went wrong: not
/// served, the harmless trailer lost, or a trailer whose name folds to one of `removed`
/// reaching the upstream (Envoy adds headers of some of those names itself, as
/// `X-Forwarded-For`, so only trailers are looked at).
fn forwarded_without(
    s: &Stack,
    host: &str,
    headers: &[(&str, &str)],
    trailers: &[(&str, &str)],
    removed: &[&str],
) -> Vec<(String, Result<EchoRequest, String>)> {
    let mut trailers = trailers.to_vec();
    trailers.push(("x-checksum", "abc"));
    let mut forwarded = Vec::new();
    for h2 in [false, true] {
        let mark = format!("h2 {h2} {removed:?}");
        let mut marked = headers.to_vec();
        marked.push((MARK, &mark));
        let status = send_to(s.port(), host, h2, &marked, &trailers);
        let upstream = s.echo.requests();
        let seen: Vec<&EchoRequest> = (upstream.iter())
            .filter(|r| r.header(MARK) == Some(mark.as_str()))
            .collect();
        let one = match (status, seen.as_slice()) {
            (200, [one]) => {
                let bad: Vec<_> = (one.trailers.iter())
                    .filter(|(k, _)| removed.contains(&folded(k).as_str()))
                    .collect();
                if one.trailer_all("x-checksum") != ["abc"] {
                    Err(format!(
                        "{mark}: trailers not forwarded: {:?}",
                        one.trailers
                    ))
                } else if !bad.is_empty() {
                    Err(format!("{mark}: upstream got {bad:?}"))
                } else {
                    Ok((*one).clone())
                }
            }
            (status, seen) => Err(format!("{mark}: {status}, seen {} times", seen.len())),
        };
        forwarded.push((mark, one));
    }
    forwarded
}

/// [`forwarded_without`] on the open service of [`open_and_guarded`]: what went wrong.
fn trailers_reaching_the_open_upstream(
    s: &Stack,
    trailers: &[(&str, &str)],
    removed: &[&str],
) -> Vec<String> {
    let forwarded = forwarded_without(s, "open.example.com", &[], trailers, removed);
    forwarded
        .into_iter()
        .filter_map(|(_, one)| one.err())
        .collect()
}

/// A host an open service serves and one a key guards, on one upstream: the check of
/// `X-Forwarded-Host` and `Forwarded: host=` naming the guarded host (400 as headers) is not
/// dodged with trailers of those names, which Rails or Express (`trust proxy`) behind a
/// trailer-merging front end would read as the request's host.
#[test]
fn a_forwarded_host_sent_as_a_trailer_never_reaches_the_upstream() {
    let s = open_and_guarded();
    // Control: as a header, the guarded host is refused before anything is forwarded.
    let before = s.echo.requests().len();
    let r = e2e::Request::get("/me")
        .header("Host", "open.example.com")
        .header("X-Forwarded-Host", "admin.example.com")
        .send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Bad Request: ambiguous host")
    );
    assert_eq!(s.echo.requests().len(), before);

    let trailers = [
        ("X-Forwarded-Host", "admin.example.com"),
        ("x_forwarded_host", "admin.example.com"),
        ("Forwarded", "host=admin.example.com"),
    ];
    let wrong =
        trailers_reaching_the_open_upstream(&s, &trailers, &["x-forwarded-host", "forwarded"]);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The other headers the decision reads: the body's type and encoding (which body is read,
/// and how), the client address `ip_check` reads, the `Referer` `3scale_referrer` sends.
/// Trailers of those names never reach the upstream (s33a forwarded them: an upstream
/// merging a `Content-Type` trailer parses a body the filter read as text as a form).
#[test]
fn trailers_named_as_the_body_type_the_client_address_or_the_referrer_are_removed() {
    let s = open_and_guarded();
    let trailers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("content_encoding", "gzip"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("x_real_ip", "10.0.0.1"),
        ("Referer", "https://partner.example.com/"),
    ];
    let removed = [
        "content-type",
        "content-encoding",
        "x-forwarded-for",
        "x-real-ip",
        "referer",
    ];
    let wrong = trailers_reaching_the_open_upstream(&s, &trailers, &removed);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
