//! Tollgate's own configuration (the `authentication` block and the rules' access fields)
//! that asked for a check and was accepted while the check never happened (an audit of "a
//! silent downgrade is a bypass too", 2026-12-05). Each test asserts what a safe filter must
//! do: refuse the configuration naming the JSON path, or block the request; each failed on
//! the module before its fix: a rule's `namespace`/`roles` on a 3scale service, access fields
//! in another case, `action` without `namespace`, `roles: []`, `audiences: []`, a leeway of
//! years, a glob in a header secret's prefix, local authentication in a chain without
//! `apicast`, a key given twice in one object, a rule's requirement on public paths only or
//! behind a `last` rule that matches first,
//! local methods on a service left in the default 3scale mode, `mode: none` on an OpenID
//! Connect service, and a header secret's name no request can carry.

mod support;

use e2e::jwt::{now, Signer};
use e2e::mock_backend::State;
use e2e::Request;
use serde_json::{json, Value};
use support::refusals::*;
use support::*;
use tollgate_core::auth::digest::stored_form;

const LOCAL: &str = "local.example.com";
const READER_KEY: &str = "rk_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";
const ISSUER: &str = "https://idp.example.com/realms/audit";

/// The reader key (no `admin` grant, no secret) is refused at `/admin/users`, and the upstream
/// sees nothing.
fn reader_denied_admin(s: &Stack, what: &str) {
    let r = local("/admin/users")
        .header("APIKey", READER_KEY)
        .send(s.port());
    assert_eq!(r.status, 403, "{what}: {}", describe(&r));
    assert_eq!(s.echo.request_count(), 0, "{what}: the upstream got it");
}

fn local(path: &str) -> Request {
    Request::get(path).header("Host", LOCAL)
}

/// A key holding only `models:read`.
fn reader_keys() -> Value {
    json!({"header": "APIKey", "keys": [
        {"id": "reader", "hash": stored_form(READER_KEY),
         "grants": [{"namespace": "models", "actions": ["read"]}]}]})
}

fn rule(pattern: &str, access: Value) -> Value {
    let mut r = json!({"http_method": "ANY", "pattern": pattern,
        "metric_system_name": "hits", "delta": 1});
    if let (Some(r), Value::Object(extra)) = (r.as_object_mut(), access) {
        r.extend(extra);
    }
    r
}

fn signer() -> Signer {
    Signer::hs256(b"0123456789abcdef0123456789abcdef-audit-d", "hs-d")
}

/// A local JWT service on `LOCAL`; `jwt` fields are merged over the keys.
fn jwt_service(jwt: Value, rules: Value) -> Value {
    let mut block = json!({"jwks": Signer::jwks(&[&signer()]), "issuer": ISSUER});
    if let (Some(b), Value::Object(extra)) = (block.as_object_mut(), jwt) {
        b.extend(extra);
    }
    local_service(json!({"mode": "local", "jwt": block}), rules)
}

fn bearer(claims: Value) -> String {
    format!("Bearer {}", signer().token(&claims))
}

// ---------------------------------------------------------------------------------------
// Rule access fields on a 3scale service: `namespace` and `roles` are read only from a
// locally authenticated caller. With `authentication.mode` none they are refused ("would
// never be checked"); with mode 3scale (the default: no `mode`, `mode: null`, or no
// `authentication` block) they are accepted and never checked.

/// `GET /admin` requires the `admin` namespace (api_keys configured, `mode` left null) or the
/// `admin` role; a 3scale user_key reaches it.
#[test]
fn rule_grants_and_roles_on_a_3scale_service_are_not_ignored() {
    let cases = [
        (
            json!({"mode": null, "api_keys": reader_keys()}),
            json!({"namespace": "admin"}),
        ),
        (Value::Null, json!({"roles": ["admin"]})),
    ];
    for (auth, access) in cases {
        let mut svc = service(
            1,
            json!(1),
            json!({"proxy_rules": [rule("/", json!({})), rule("/admin", access.clone())]}),
        );
        svc["authentication"] = auth;
        refused_at_or(
            config(vec![svc]),
            backend_state(),
            &[
                "services[0].proxy.proxy_rules[1]",
                "services[0].authentication",
            ],
            |s| {
                let r = Request::get(&format!("/admin/users?user_key={USER_KEY}"))
                    .header("Host", "api.example.com")
                    .send(s.port());
                assert_ne!(
                    r.status,
                    200,
                    "{access}: the rule's requirement was never checked: {}",
                    describe(&r)
                );
                assert_eq!(s.echo.request_count(), 0, "{access}");
            },
        );
    }
}

// ---------------------------------------------------------------------------------------
// Rule access fields in another case: `Namespace`, `Roles` are ignored as unknown fields of a
// service object, so the requirement is dropped (the near misses `namespaces`, `role`... are
// refused, the case variants are not).

#[test]
fn rule_access_fields_in_another_case_are_refused() {
    for (field, value) in [("Namespace", json!("admin")), ("Roles", json!(["admin"]))] {
        let rules = json!([
            rule("/admin", json!({field: value})),
            rule("/models", json!({}))
        ]);
        let auth = json!({"mode": "local", "api_keys": reader_keys()});
        refused_at_or(
            config(vec![local_service(auth, rules)]),
            State::default(),
            &[&format!("services[0].proxy.proxy_rules[0].{field}")],
            |s| {
                reader_denied_admin(s, &format!("{field}: a reader reached /admin"));
            },
        );
    }
}

// ---------------------------------------------------------------------------------------
// A rule's `action` without `namespace`: the rule counts as open (`RuleAccess::is_open`), so
// the action it demands is dropped.

#[test]
fn rule_action_without_namespace_is_not_dropped() {
    let rules = json!([rule("/admin", json!({"action": "admin"}))]);
    let auth = json!({"mode": "local", "api_keys": reader_keys()});
    refused_at_or(
        config(vec![local_service(auth, rules)]),
        State::default(),
        &["services[0].proxy.proxy_rules[0]"],
        |s| {
            reader_denied_admin(s, "a key without any `admin` action reached /admin");
        },
    );
}

// ---------------------------------------------------------------------------------------
// Empty lists read as "no requirement": README says the caller needs "at least one of these
// roles", and `aud` "must contain one of the audiences"; an empty list holds none, and is
// accepted as if the field were absent.

#[test]
fn empty_rule_roles_are_not_read_as_no_requirement() {
    let rules = json!([rule("/admin", json!({"roles": []}))]);
    refused_at_or(
        config(vec![jwt_service(json!({}), rules)]),
        State::default(),
        &["services[0].proxy.proxy_rules[0].roles"],
        |s| {
            let r = local("/admin/users")
                .header(
                    "Authorization",
                    &bearer(json!({"iss": ISSUER, "sub": "u", "exp": now() + 300, "roles": []})),
                )
                .send(s.port());
            assert_eq!(
                r.status,
                403,
                "a token with no role reached a rule listing roles: {}",
                describe(&r)
            );
        },
    );
}

#[test]
fn empty_jwt_audiences_do_not_drop_the_audience_check() {
    let rules = json!([rule("/", json!({}))]);
    refused_at_or(
        config(vec![jwt_service(json!({"audiences": []}), rules)]),
        State::default(),
        &["services[0].authentication.jwt.audiences"],
        |s| {
            let r = local("/orders")
                .header(
                    "Authorization",
                    &bearer(json!({"iss": ISSUER, "sub": "u", "aud": "another-api",
                        "exp": now() + 300})),
                )
                .send(s.port());
            assert_eq!(
                r.status,
                403,
                "a token for another audience was accepted: {}",
                describe(&r)
            );
        },
    );
}

// ---------------------------------------------------------------------------------------
// `jwt.leeway_s` has no upper bound (every other duration of Tollgate's blocks stops at a
// day: "longer values are a typo"), so a leeway in the wrong unit lifts expiry.

/// `leeway_s: 315360000` (ten years): a token that expired thirty days ago is accepted.
#[test]
fn jwt_leeway_is_bounded() {
    let rules = json!([rule("/", json!({}))]);
    refused_at_or(
        config(vec![jwt_service(
            json!({"leeway_s": 315_360_000u64}),
            rules,
        )]),
        State::default(),
        &["services[0].authentication.jwt.leeway_s"],
        |s| {
            let r = local("/orders")
                .header(
                    "Authorization",
                    &bearer(json!({"iss": ISSUER, "sub": "u", "exp": now() - 30 * 86_400})),
                )
                .send(s.port());
            assert_eq!(
                r.status,
                403,
                "a token expired 30 days ago was accepted: {}",
                describe(&r)
            );
        },
    );
}

// ---------------------------------------------------------------------------------------
// `header_secrets[].path_prefix` with a wildcard: compared literally (`starts_with`), so
// `/admin/*` or `/admin*` never covers `/admin/users` and the secret is never required
// (mapping-rule patterns with the same characters are refused).

#[test]
fn header_secret_prefix_with_a_wildcard_is_not_silently_literal() {
    for prefix in ["/admin/*", "/admin*"] {
        let auth = json!({"mode": "local", "api_keys": reader_keys(),
            "header_secrets": [{"path_prefix": prefix, "header": "X-Admin-Secret", "secret": "s3cr3t"}]});
        refused_at_or(
            config(vec![local_service(auth, json!([rule("/", json!({}))]))]),
            State::default(),
            &["services[0].authentication.header_secrets[0].path_prefix"],
            |s| {
                reader_denied_admin(
                    s,
                    &format!("prefix {prefix:?}: /admin/users served without the secret"),
                );
            },
        );
    }
}

// ---------------------------------------------------------------------------------------
// A rule's `namespace` or `roles` on paths that are all public: a public path reads no
// credential, so the requirement was dropped with no word (documented, never refused).

#[test]
fn a_rule_requirement_under_a_public_path_is_not_dropped() {
    let cases = [
        ("/docs/", "/docs/internal", json!({"namespace": "admin"})),
        (
            "/",
            "/admin",
            json!({"namespace": "admin", "action": "read"}),
        ),
    ];
    for (public, pattern, access) in cases {
        let auth = json!({"mode": "local", "api_keys": reader_keys(), "public_paths": [public]});
        let rules = json!([rule("/models", json!({})), rule(pattern, access.clone())]);
        refused_at_or(
            config(vec![local_service(auth, rules)]),
            State::default(),
            &["services[0].proxy.proxy_rules[1]"],
            |s| {
                let r = local(&format!("{pattern}/x")).send(s.port());
                assert_ne!(
                    r.status,
                    200,
                    "{pattern} {access} under public {public}: served without a key: {}",
                    describe(&r)
                );
                assert_eq!(s.echo.request_count(), 0, "{pattern}: the upstream got it");
            },
        );
    }
}

// ---------------------------------------------------------------------------------------
// A rule's `namespace` or `roles` behind an earlier `last` rule that matches every request
// it can: the evaluation stops at the `last` rule, so the requirement was never checked.

#[test]
fn a_rule_requirement_behind_a_covering_last_rule_is_not_dropped() {
    let last = |method: &str, pattern: &str| {
        let mut r = rule(pattern, json!({"last": true}));
        r["http_method"] = json!(method);
        r
    };
    let cases = [
        (
            last("ANY", "/admin"),
            rule("/admin/{id}", json!({"namespace": "admin"})),
        ),
        (
            last("ANY", "/"),
            rule("/admin", json!({"namespace": "admin"})),
        ),
    ];
    for (first, restricted) in cases {
        let auth = json!({"mode": "local", "api_keys": reader_keys()});
        refused_at_or(
            config(vec![local_service(auth, json!([first, restricted]))]),
            State::default(),
            &["services[0].proxy.proxy_rules[1]"],
            |s| reader_denied_admin(s, &format!("behind {first}: a reader reached /admin/users")),
        );
    }
    // A `last` rule covering part of it is an exception: the rest stays guarded.
    let rules = json!([
        last("GET", "/admin/status"),
        rule("/admin", json!({"namespace": "admin"}))
    ]);
    let auth = json!({"mode": "local", "api_keys": reader_keys()});
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    reader_denied_admin(&s, "beside the exception");
    let status = local("/admin/status")
        .header("APIKey", READER_KEY)
        .send(s.port());
    assert_eq!(status.status, 200, "{}", describe(&status));
    assert_eq!(status.echo().path, "/admin/status");
    assert_eq!(
        s.echo.request_count(),
        1,
        "only the exception reached the upstream"
    );
}

// ---------------------------------------------------------------------------------------
// A chain without `apicast` makes the service public (APIcast's reading, logged as a
// warning). With Tollgate's own `authentication.mode: local` and its keys, the local methods
// and the rules' grants are dropped too; `mode: none` refuses the same settings as "would
// look enforced and never be".

#[test]
fn local_authentication_in_a_chain_without_apicast_is_not_dropped() {
    let auth = json!({"mode": "local", "api_keys": reader_keys()});
    let mut svc = local_service(auth, json!([rule("/admin", json!({"namespace": "admin"}))]));
    svc["proxy"]["policy_chain"] = json!([{"name": "cors", "configuration": {}}]);
    refused_at_or(
        config(vec![svc]),
        State::default(),
        &[
            "services[0].proxy.policy_chain",
            "services[0].authentication",
        ],
        |s| {
            let r = local("/admin/users").send(s.port());
            assert_ne!(
                r.status,
                200,
                "served without a key, past the admin grant: {}",
                describe(&r)
            );
            assert_eq!(s.echo.request_count(), 0);
        },
    );
}

// ---------------------------------------------------------------------------------------
// A field given twice in one of Tollgate's objects: the JSON is read into a map, the last
// value wins, and the first (here the header secret guarding `/admin`) is dropped without a
// word, though unknown fields of the same block are refused "so that a typo cannot
// silently change behaviour".

#[test]
fn a_field_given_twice_in_the_authentication_block_is_refused() {
    let secret = json!([{"path_prefix": "/admin", "header": "X-Admin-Secret", "secret": "s3cr3t"}]);
    let text = format!(
        r#"{{"backend": {{"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000}},
            "services": [{{"id": 10,
              "authentication": {{"mode": "local", "api_keys": {keys}, "header_secrets": {secret}, "header_secrets": []}},
              "proxy": {{"hosts": ["{LOCAL}"], "proxy_rules": [{rule}]}}}}]}}"#,
        keys = reader_keys(),
        rule = rule("/", json!({})),
    );
    refused_text_at_or(
        &text,
        State::default(),
        &["services[0].authentication.header_secrets"],
        |s| {
            reader_denied_admin(s, "/admin/users served without the secret");
        },
    );
}

/// A one-byte `signed_urls.secret`: one signed URL lets anyone find it offline (256 tries),
/// and a signed URL passes every grant and role check. Refused at its path.
#[test]
fn a_short_signing_secret_is_refused() {
    let auth = json!({"mode": "local", "signed_urls": {"secret": "k"}});
    refused_at_or(
        config(vec![local_service(auth, json!([]))]),
        State::default(),
        &["services[0].authentication.signed_urls.secret"],
        |s| {
            let url = tollgate_core::auth::signed_url::sign(b"k", "GET", "/admin", now() + 60)
                .expect("signed");
            let r = local(&url).send(s.port());
            assert_ne!(
                r.status,
                200,
                "a URL signed with a 1-byte key: {}",
                describe(&r)
            );
        },
    );
}

// ---------------------------------------------------------------------------------------
// Local methods (`api_keys`, `basic_users`, `jwt`, `signed_urls`) with `mode` left out or
// `3scale`: loaded, and never read, so a 3scale `user_key` alone was served where the block
// reads as "an API key (or a token) is required" (an audit, 2026-12-06). Refused at
// `authentication.mode`.

#[test]
fn local_methods_without_a_local_mode_are_not_ignored() {
    let token_keys = json!({"jwks": Signer::jwks(&[&signer()]), "issuer": ISSUER});
    let cases = [
        json!({"api_keys": reader_keys()}),
        json!({"mode": "3scale", "signed_urls": {"secret": "a-signing-secret-of-32-bytes-abc"}}),
        json!({"mode": null, "jwt": token_keys, "basic_users": []}),
    ];
    for auth in cases {
        let mut svc = service(1, json!(1), json!({}));
        svc["authentication"] = auth.clone();
        refused_at_or(
            config(vec![svc]),
            backend_state(),
            &["services[0].authentication.mode"],
            |s| {
                let r = Request::get(&format!("/models?user_key={USER_KEY}"))
                    .header("Host", "api.example.com")
                    .send(s.port());
                assert_ne!(
                    r.status,
                    200,
                    "{auth}: served with a 3scale key alone: {}",
                    describe(&r)
                );
                assert_eq!(s.echo.request_count(), 0, "{auth}");
                assert!(s.backend.requests().is_empty(), "{auth}");
            },
        );
    }
}

// ---------------------------------------------------------------------------------------
// `authentication.mode: none` on an OpenID Connect service (an audit, 2026-12-07): read as
// local+3scale, so a service documented as reading no credentials asked every request for a
// token. Refused at `authentication.mode`, as `local` is.

#[test]
fn mode_none_on_an_oidc_service_is_not_read_as_local_then_3scale() {
    let mut svc = service(
        5,
        json!("oauth"),
        json!({"authentication_method": "oidc",
            "oidc_issuer_endpoint": "https://sso.example.com/auth/realms/api"}),
    );
    svc["authentication"] = json!({"mode": "none"});
    let mut cfg = config(vec![svc]);
    cfg["system"] = e2e::system::block(60);
    cfg["system"]["issuer_clusters"] = json!({"sso.example.com": "sso"});
    refused_at_or(
        cfg,
        oidc_state(),
        &["services[0].authentication.mode"],
        |s| {
            // What mode none says: no credential read, no backend call.
            let r = Request::get("/orders")
                .header("Host", "api.example.com")
                .send(s.port());
            assert_eq!(
                r.status,
                200,
                "mode none, and a request without credentials was refused: {}",
                describe(&r)
            );
            assert_eq!(s.echo.request_count(), 1);
            assert!(s.backend.requests().is_empty());
        },
    );
}

// ---------------------------------------------------------------------------------------
// `header_secrets[].header` not checked as a header name (`api_keys.header` is; an audit,
// 2026-12-07): a name with a space or a colon is never on a request, so every request under
// the prefix was 403, the one carrying the secret too.

#[test]
fn a_header_secret_name_no_request_can_carry_is_refused() {
    for header in ["X-Admin-Secret ", "X-Admin-Secret:"] {
        let auth = json!({"mode": "local", "api_keys": reader_keys(),
            "header_secrets": [{"path_prefix": "/models", "header": header, "secret": "s3cr3t"}]});
        refused_at_or(
            config(vec![local_service(auth, json!([rule("/", json!({}))]))]),
            State::default(),
            &["services[0].authentication.header_secrets[0].header"],
            |s| {
                let r = local("/models/m1")
                    .header("APIKey", READER_KEY)
                    .header("X-Admin-Secret", "s3cr3t")
                    .send(s.port());
                assert_eq!(
                    r.status,
                    200,
                    "header {header:?}: a request with the secret was refused: {}",
                    describe(&r)
                );
                assert_eq!(s.echo.request_count(), 1, "{header:?}");
            },
        );
    }
}
