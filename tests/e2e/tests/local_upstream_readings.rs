//! Local authentication read as upstream frameworks read a request (an audit, 2026-12-05):
//! requests Tollgate let through although the upstream behind it read them as something the
//! configuration meant to deny: `;` and bracketed arg names, a second `signature`, a trailing
//! slash on an anchored rule, `HEAD` for `GET`, a placeholder with `|`, an unverified
//! `access_token` or unreadable Basic credential riding along with an API key, and a second key
//! in the query. Each test asserts the client's status and what the upstream received, and
//! failed on the module before the fixes.

mod support;

use e2e::jwt::{now, Signer};
use e2e::Request;
use serde_json::{json, Value};
use support::*;
use tollgate_core::auth::basic::password_digest;
use tollgate_core::auth::digest::{stored_form, to_hex};
use tollgate_core::auth::signed_url;

/// A key holding only the `reports` grant (read, create, update, delete), never `admin`.
const READER_KEY: &str = "rk_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";

fn reader_keys() -> Value {
    json!({
        "header": "APIKey",
        "keys": [{"id": "reader", "hash": stored_form(READER_KEY),
                  "grants": [{"namespace": "reports", "actions": ["read", "create", "update", "delete"]}]}]
    })
}

fn rule(method: &str, pattern: &str, namespace: Option<&str>) -> Value {
    let mut r = json!({"http_method": method, "pattern": pattern, "metric_system_name": "hits", "delta": 1});
    if let Some(ns) = namespace {
        r["namespace"] = json!(ns);
    }
    r
}

fn local(method: &str, target: &str) -> Request {
    Request::new(method, target)
        .header("Host", "local.example.com")
        .header("APIKey", READER_KEY)
}

fn upstream(s: &Stack) -> Vec<String> {
    s.echo
        .requests()
        .iter()
        .map(|q| format!("{} {}", q.method, q.path))
        .collect()
}

/// Sends each request; returns `(target, status)` for every one the filter let through.
fn let_through(s: &Stack, method: &str, targets: &[&str]) -> Vec<(String, u16)> {
    targets
        .iter()
        .map(|t| (t.to_string(), local(method, t).send(s.port()).status))
        .filter(|(_, status)| *status < 300)
        .collect()
}

/// `GET /reports?scope=all` needs the `admin` grant. Rack 2 (Rails <= 7.0, Sinatra), Python's
/// `parse_qs` before 3.9.2 and Go before 1.17 split the query at `;` as well as `&`, so
/// `?x=1;scope=all` is `scope=all` to them; Tollgate (like nginx) sees one arg `x` whose value
/// is `1;scope=all`: the admin rule does not match, the broad `reports` rule does, and the
/// upstream serves everybody's reports to a key without the admin grant. The "ambiguous
/// argument" check does not fire: to Tollgate no arg `scope` exists.
#[test]
fn a_query_arg_rule_is_dodged_with_a_semicolon_separator() {
    let auth = json!({"mode": "local", "api_keys": reader_keys()});
    let rules = json!([
        rule("GET", "/reports?scope=all", Some("admin")),
        rule("GET", "/reports", Some("reports"))
    ]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));

    // Control: the plain spelling is refused.
    let r = local("GET", "/reports?scope=all").send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "{r}"
    );
    assert!(s.echo.requests().is_empty());

    let through = let_through(
        &s,
        "GET",
        &["/reports?x=1;scope=all", "/reports?scope=mine&x;scope=all"],
    );
    assert!(
        through.is_empty(),
        "a key without the admin grant got scope=all past the admin rule: {through:?}\nupstream received: {:?}",
        upstream(&s)
    );
    assert!(
        s.echo.requests().is_empty(),
        "upstream received {:?}",
        upstream(&s)
    );
}

/// The same admin rule, dodged with bracket spellings of the arg's name: Express 4's default
/// query parser (`qs`) reads `?[scope]=all` as `{scope: "all"}` (checked with qs 6), and Rack 2's
/// `normalize_params` reads `[scope]=all`, `scope]=all`, `]scope=all` and `[]scope=all` as
/// `scope = "all"`. Tollgate sees args named `[scope]` and `scope]`, which no rule reads.
#[test]
fn a_query_arg_rule_is_dodged_with_a_bracketed_name() {
    let auth = json!({"mode": "local", "api_keys": reader_keys()});
    let rules = json!([
        rule("GET", "/reports?scope=all", Some("admin")),
        rule("GET", "/reports", Some("reports"))
    ]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));

    let r = local("GET", "/reports?scope=all").send(s.port());
    assert_eq!(r.status, 403, "{r}");

    let through = let_through(
        &s,
        "GET",
        &[
            "/reports?[scope]=all",
            "/reports?scope]=all",
            "/reports?%5Bscope%5D=all",
            // Rack 2 drops every leading bracket (found by an audit, 2026-12-06).
            "/reports?scope=mine&]scope=all",
            "/reports?[]scope=all",
            "/reports?[[scope]=all",
        ],
    );
    assert!(
        through.is_empty(),
        "a key without the admin grant got scope=all past the admin rule: {through:?}\nupstream received: {:?}",
        upstream(&s)
    );
    assert!(
        s.echo.requests().is_empty(),
        "upstream received {:?}",
        upstream(&s)
    );
}

/// A signed URL is "authorized by its signer for that exact request": any added arg must
/// invalidate it. Every piece named `signature` is left out of the signed text, and only the
/// first one is checked, so a second piece `signature=x;scope=all` is free. To Rack 2 /
/// old Python / old Go that piece is `signature=x` and `scope=all`: the upstream serves
/// `scope=all` on a URL that was signed for `scope=mine`.
#[test]
fn a_signed_url_accepts_an_unsigned_arg_hidden_behind_a_semicolon() {
    let secret = "url-signing-secret";
    let auth = json!({"mode": "local", "signed_urls": {"secret": secret}});
    let s = Stack::start(config(vec![local_service(auth, json!([]))]));
    let url =
        signed_url::sign(secret.as_bytes(), "GET", "/reports?scope=mine", now() + 300).unwrap();

    // Controls: the URL as signed passes; an added `&scope=all` is refused.
    let r = Request::get(&url)
        .header("Host", "local.example.com")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let added = format!("{url}&scope=all");
    let r = Request::get(&added)
        .header("Host", "local.example.com")
        .send(s.port());
    assert_eq!(r.status, 403, "{r}");
    s.echo.clear();

    let tampered = format!("{url}&signature=0;scope=all");
    let r = Request::get(&tampered)
        .header("Host", "local.example.com")
        .send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "an arg the signer never signed was accepted\nupstream received: {:?}",
        upstream(&s)
    );
    assert!(
        s.echo.requests().is_empty(),
        "upstream received {:?}",
        upstream(&s)
    );
}

/// `GET /export$` needs the `admin` grant; every other path is open to any valid key. The `$`
/// rule did not match `/export/`, but Express (non-strict routing, the default), ASP.NET Core,
/// Rails (Journey strips the trailing slash) and Spring MVC <= 5.3 serve `/export/` with the
/// `/export` handler. (Rails' implicit `(.:format)`, `/export.json`, is a documented
/// limitation.)
#[test]
fn an_anchored_rule_is_dodged_with_a_trailing_slash() {
    let auth = json!({"mode": "local", "api_keys": reader_keys()});
    let rules = json!([
        rule("GET", "/export$", Some("admin")),
        rule("ANY", "/", None)
    ]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));

    let r = local("GET", "/export").send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "{r}"
    );

    let through = let_through(&s, "GET", &["/export/", "/export/?x=1"]);
    assert!(
        through.is_empty(),
        "the admin-only export was reached without the admin grant: {through:?}\nupstream received: {:?}",
        upstream(&s)
    );
    assert!(
        s.echo.requests().is_empty(),
        "upstream received {:?}",
        upstream(&s)
    );
}

/// `GET /secret` needs the `admin` grant. `HEAD /secret` does not match a `GET` rule, only the
/// broad `ANY /` one, so it is forwarded; Express, Flask, Rails, Spring, Go's ServeMux (1.22
/// patterns) and nginx all answer HEAD with the GET handler: the admin-only handler runs (its
/// side effects, status and headers such as Content-Length reach the caller).
#[test]
fn a_get_rule_is_dodged_with_head() {
    let auth = json!({"mode": "local", "api_keys": reader_keys()});
    let rules = json!([
        rule("GET", "/secret", Some("admin")),
        rule("ANY", "/", None)
    ]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));

    let r = local("GET", "/secret").send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "{r}"
    );

    let r = local("HEAD", "/secret").send(s.port());
    assert_eq!(
        r.status,
        403,
        "HEAD of an admin-only GET was forwarded\nupstream received: {:?}",
        upstream(&s)
    );
    assert!(
        s.echo.requests().is_empty(),
        "upstream received {:?}",
        upstream(&s)
    );
}

/// `POST /users/{id}/suspend` and `DELETE /users/{id}$` need the `admin` grant. `{id}` matches
/// only `A-Za-z0-9_-.~%!$&'()*+,;=@:` after decoding, so in `/users/7%7C/suspend` (`7|`),
/// `7%22` (`7"`) or `7%5E` (`7^`) the segment is not an `{id}`: neither admin rule matches,
/// only the broad one. Routers read a segment as any non-slash bytes (Rails `[^/.?]+`,
/// Express `[^/]+`), and Rails' `User.find("7|")` casts to 7 (the lenient cast that makes
/// `/users/7-john` work), as `parseInt("7|")` is 7 in Node: user 7 is suspended or deleted by
/// a key without the admin grant.
#[test]
fn a_placeholder_rule_is_dodged_with_a_byte_outside_its_class() {
    let auth = json!({"mode": "local", "api_keys": reader_keys()});
    let rules = json!([
        rule("POST", "/users/{id}/suspend", Some("admin")),
        rule("DELETE", "/users/{id}$", Some("admin")),
        rule("ANY", "/", None)
    ]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));

    for (method, target) in [("POST", "/users/7/suspend"), ("DELETE", "/users/7")] {
        let r = local(method, target).send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{method} {target}: {r}"
        );
    }

    let mut through = let_through(
        &s,
        "POST",
        &[
            "/users/7%7C/suspend",
            "/users/7%22/suspend",
            "/users/7%5E/suspend",
        ],
    );
    through.extend(let_through(&s, "DELETE", &["/users/7%7C", "/users/7%7B"]));
    assert!(
        through.is_empty(),
        "admin-only calls were forwarded: {through:?}\nupstream received: {:?}",
        upstream(&s)
    );
    assert!(
        s.echo.requests().is_empty(),
        "upstream received {:?}",
        upstream(&s)
    );
}

const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-hmac";

/// A service with JWT roles and API keys. The README: "an `access_token` query arg that
/// differs from [the Bearer token] is auth failed, as an upstream may read that one, which
/// nobody verified (local JWT services alike)". That check runs only when an `Authorization`
/// header is present: with an API key (or Basic) and no Authorization, a forged
/// `?access_token=` with `roles: [admin]` reaches the upstream unverified, which an upstream
/// reading RFC 6750 query tokens (APIcast itself accepts them) takes as the caller's.
#[test]
fn a_forged_access_token_rides_along_with_an_api_key() {
    let signer = Signer::hs256(HS_SECRET, "hs-1");
    let forger = Signer::hs256(b"not-the-idp-secret-not-the-idp-secret!", "hs-1");
    let auth = json!({"mode": "local", "api_keys": reader_keys(),
        "jwt": {"jwks": Signer::jwks(&[&signer])}});
    let rules = json!([rule("GET", "/", None)]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    let claims =
        json!({"sub": "mallory", "azp": "admin-console", "roles": ["admin"], "exp": now() + 300});
    let forged = forger.token(&claims);

    // Control: the forged token as a Bearer is refused, and so is a valid Bearer with a
    // different access_token beside it.
    let r = Request::get("/me")
        .header("Host", "local.example.com")
        .header("Authorization", &format!("Bearer {forged}"))
        .send(s.port());
    assert_eq!(r.status, 403, "{r}");
    let valid =
        signer.token(&json!({"sub": "bob", "azp": "bob-app", "roles": [], "exp": now() + 300}));
    let r = Request::get(&format!("/me?access_token={forged}"))
        .header("Host", "local.example.com")
        .header("Authorization", &format!("Bearer {valid}"))
        .send(s.port());
    assert_eq!(r.status, 403, "{r}");
    assert!(s.echo.requests().is_empty());

    let r = local("GET", &format!("/me?access_token={forged}")).send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "a forged access_token reached the upstream unverified\nupstream received: {:?}",
        upstream(&s)
    );
    assert!(
        s.echo.requests().is_empty(),
        "upstream received {:?}",
        upstream(&s)
    );
}

/// A service with Basic users (`admin`) and API keys. `Authorization: Basic YWRtaW46fn5-` is
/// `admin:~~~` in the URL-safe alphabet: Tollgate's decoder refuses it, treats the header as
/// carrying nothing and authenticates the request by its API key, and the header goes upstream
/// as sent. Node's `Buffer.from(.., "base64")` (so the `basic-auth` package behind Express's
/// Basic helpers, checked with basic-auth 2) and Ruby's `unpack("m")` (Rack::Auth::Basic)
/// decode it as user `admin`: an upstream that takes the Basic user the gateway verified as
/// the caller acts as `admin` for the `reader` key. An Authorization header the service cannot
/// read should be a failed credential, as a forged Bearer token is.
#[test]
fn an_unreadable_basic_header_rides_along_with_an_api_key() {
    let auth = json!({"mode": "local", "api_keys": reader_keys(),
        "basic_users": [{"username": "admin", "salt": "s1",
            "hash": format!("sha256:{}", to_hex(&password_digest("s1", "correct horse battery"))),
            "grants": [{"namespace": "admin", "actions": ["*"]}]}]});
    let s = Stack::start(config(vec![local_service(
        auth,
        json!([rule("ANY", "/", None)]),
    )]));

    // Control: admin with a wrong password, in the standard alphabet, is refused.
    let r = local("GET", "/me")
        .header("Authorization", "Basic YWRtaW46fn5+")
        .send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "{r}"
    );
    assert!(s.echo.requests().is_empty());

    let r = local("GET", "/me")
        .header("Authorization", "Basic YWRtaW46fn5-")
        .send(s.port());
    let forwarded: Vec<String> = s
        .echo
        .requests()
        .iter()
        .flat_map(|q| {
            q.headers
                .iter()
                .filter(|(n, _)| n == "authorization")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "an unverified Basic `admin` reached the upstream: {forwarded:?}"
    );
    assert!(
        s.echo.requests().is_empty(),
        "upstream received {:?}",
        upstream(&s)
    );
}

/// Keys read from the `APIKey` header and the `api_key` query arg: a request with the reader's
/// key in the header and another key in the query was authorized on the header's, while an
/// upstream that reads the query's (`req.query.api_key`) took the caller for someone else.
#[test]
fn a_second_key_in_the_query_rides_along_with_the_header_key() {
    let mut keys = reader_keys();
    keys["query"] = json!("api_key");
    let auth = json!({"mode": "local", "api_keys": keys});
    let s = Stack::start(config(vec![local_service(
        auth,
        json!([rule("ANY", "/", None)]),
    )]));
    // Controls: either place alone, and the same key in both.
    for target in ["/r", &format!("/r?api_key={READER_KEY}")] {
        assert_eq!(local("GET", target).send(s.port()).status, 200, "{target}");
    }
    let alone = Request::get(&format!("/r?api_key={READER_KEY}"))
        .header("Host", "local.example.com")
        .send(s.port());
    assert_eq!(alone.status, 200, "{alone}");
    let before = upstream(&s);

    let r = local("GET", "/r?api_key=someone-elses-key").send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "{r}"
    );
    assert_eq!(upstream(&s), before, "nothing more reached the upstream");
}
