//! Configuration that blocks or limits traffic in APIcast, which Tollgate accepted and then
//! read more weakly (an audit of "a silent downgrade is a bypass too", 2026-12-05). Each test
//! asserts what a safe filter must do: refuse the configuration naming the JSON path, or
//! block the request as APIcast blocks it. Each failed on the module before its fix: regex
//! metacharacters in `jwt_claim_check` resources and mapping-rule patterns (now refused),
//! `routing` after `apicast` (now cleans no usage), a skipped System service's host handed to
//! the next service listing it (now kept: 404), `jwt_claim_with_client_id_type: liquid`
//! (now read as one claim, or refused).

mod support;

use e2e::mock_backend::State;
use e2e::system::{self, Stored, WithSystem};
use e2e::{wait_until, Request};
use serde_json::{json, Value};
use std::time::Duration;
use support::refusals::*;
use support::*;

const HOST: &str = "api.example.com";

fn get(target: &str) -> Request {
    Request::get(target).header("Host", HOST)
}

// ---------------------------------------------------------------------------------------
// jwt_claim_check: `resource` is a mapping-rule pattern, which APIcast compiles to a PCRE
// (reference apicast-policies.md §1.8 and §3.8; `jwt_claim_check.lua` builds a MappingRule
// from it, `mapping_rule.lua` `regexpify` escapes only `.` and `{}`). Tollgate's PathPattern
// reads `*`, `+`, `(`, `|`, `[` literally, so the rule silently never applies.

const ISSUER: &str = "https://idp.example.com/realms/audit";

fn signer() -> e2e::jwt::Signer {
    e2e::jwt::Signer::hs256(b"0123456789abcdef0123456789abcdef-audit", "hs-a")
}

fn token(role: &str) -> String {
    signer().token(&json!({"iss": ISSUER, "azp": "client-1", "sub": "u",
        "exp": e2e::jwt::now() + 300, "role": role}))
}

/// An OIDC service whose jwt_claim_check lets only admins reach `resource`.
fn claims_config(resource: &str) -> (Value, State) {
    let chain = json!([
        {"name": "jwt_claim_check", "configuration": {
            "error_message": "admins only",
            "rules": [{"resource": resource, "methods": ["ANY"],
                "operations": [{"jwt_claim": "role", "jwt_claim_type": "plain",
                                "op": "==", "value": "admin"}]}]}},
        {"name": "apicast"}
    ]);
    let svc = json!({
        "id": 5, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": {"jwks": e2e::jwt::Signer::jwks(&[&signer()]), "issuer": ISSUER}},
        "proxy": {"hosts": [HOST], "authentication_method": "oidc", "policy_chain": chain,
            "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let state = oidc_state();
    (config(vec![svc]), state)
}

/// `"resource": "/*"` (APIcast: `^/*`, every path) and `"/admin.*"` (APIcast: `^/admin\.*`,
/// every path under `/admin`): a guest's `GET /admin/users` is 403 in APIcast. Tollgate
/// matches them as the literal text `/*` and `/admin.*`, so the guest is served.
#[test]
fn jwt_claim_check_resource_with_regex_metacharacters_is_not_silently_literal() {
    for resource in ["/*", "/admin.*"] {
        let (cfg, state) = claims_config(resource);
        refused_at_or(
            cfg,
            state,
            &["services[0].proxy.policy_chain[0].configuration.rules[0].resource"],
            |s| {
                let r = get("/admin/users")
                    .header("Authorization", &format!("Bearer {}", token("guest")))
                    .send(s.port());
                assert_eq!(
                    (r.status, r.body.as_str()),
                    (403, "admins only\n"),
                    "resource {resource:?}: APIcast denies a guest on /admin/users, Tollgate: {}",
                    describe(&r)
                );
                assert_eq!(s.echo.request_count(), 0, "resource {resource:?}");
            },
        );
    }
}

// ---------------------------------------------------------------------------------------
// Mapping rules: the same PCRE reading (apicast-behaviour.md §2.2: "No other escaping ...
// act as PCRE"). A rule APIcast matches but Tollgate does not drops its metric from the
// usage, so that metric's limits are never asked about. README documents the literal
// reading, but the configuration is accepted without a refusal or a warning.

/// Rules `GET /` → hits and `GET /admin*` → `disabled` (APIcast: `^/admin*`, which matches
/// `/admin/x`). The application has the metric `disabled` disabled: APIcast sends
/// `usage[disabled]=1` and answers 403; Tollgate sends only hits and serves the request.
#[test]
fn mapping_rule_pattern_with_regex_metacharacters_is_not_silently_literal() {
    let svc = service(
        1,
        json!(1),
        json!({"proxy_rules": [
            {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
            {"http_method": "GET", "pattern": "/admin*", "metric_system_name": "disabled", "delta": 1}
        ]}),
    );
    refused_at_or(
        config(vec![svc]),
        backend_state(),
        &["services[0].proxy.proxy_rules[1].pattern"],
        |s| {
            let r = get("/admin/x?user_key=uk-disabled").send(s.port());
            let usage: Vec<String> = s
                .authreps()
                .iter()
                .map(|a| format!("{:?}", a.param("usage[disabled]")))
                .collect();
            assert_eq!(
                r.status,
                403,
                "APIcast reports usage[disabled] and denies; Tollgate: {}, authreps' usage[disabled]: {usage:?}",
                describe(&r)
            );
            assert_eq!(s.echo.request_count(), 0);
        },
    );
}

// ---------------------------------------------------------------------------------------
// routing after apicast: APIcast's routing policy sets `route_upstream_usage_cleanup` in its
// access phase; apicast's access (`proxy.lua` `_M:access`) calls it only if it is already
// set, so a routing policy standing after apicast never takes usage out (phase-major order,
// apicast-policies.md §1.6). Tollgate applies the clean-up wherever the policy stands.

/// Product rules: `GET /` → hits (owned by backend 1), `GET /x` → `disabled` (owned by
/// backend 2); routing (after apicast) selects backend 1 for every request. APIcast reports
/// `usage[disabled]=1` and the disabled metric denies (403); Tollgate strips it and serves.
#[test]
fn routing_after_apicast_does_not_take_usage_out() {
    let svc = service(
        1,
        json!(1),
        json!({
            "policy_chain": [
                {"name": "apicast"},
                {"name": "routing", "configuration": {"rules": [
                    {"url": "http://backend-one.internal", "owner_id": 1}
                ]}}
            ],
            "proxy_rules": [
                {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1,
                 "owner_id": 1, "owner_type": "BackendApi"},
                {"http_method": "GET", "pattern": "/x", "metric_system_name": "disabled", "delta": 1,
                 "owner_id": 2, "owner_type": "BackendApi"}
            ]
        }),
    );
    refused_at_or(
        config(vec![svc]),
        backend_state(),
        &["services[0].proxy.policy_chain[1]"],
        |s| {
            let r = get("/x?user_key=uk-disabled").send(s.port());
            let sent: Vec<Option<String>> = s
                .authreps()
                .iter()
                .map(|a| a.param("usage[disabled]").map(str::to_string))
                .collect();
            assert_eq!(
                r.status,
                403,
                "APIcast reports usage[disabled] (routing after apicast cleans nothing) and denies; Tollgate: {}, authreps' usage[disabled]: {sent:?}",
                describe(&r)
            );
            assert_eq!(s.echo.request_count(), 0);
        },
    );
}

// ---------------------------------------------------------------------------------------
// 3scale System: a service that is skipped (refused) gives up its hosts to the next service
// listing them. APIcast keeps the first service (config order) for a host and skips the
// later ones' claim (`configuration_store.lua` `store`: "skipping host ... already defined
// by service"), so the host is served by the first service and its policies.

/// System holds service 1 (host api.example.com, `ip_check` whitelisting 203.0.113.7 and a
/// custom policy Tollgate refuses) and service 2 (same host, app_id/app_key). APIcast serves
/// the host with service 1 (the custom policy dropped), whose ip_check denies 127.0.0.1:
/// 403. Tollgate skips service 1, and service 2 takes the host: service 2's credentials get
/// through, past service 1's ip_check.
#[test]
fn a_skipped_system_service_does_not_hand_its_host_to_another_service() {
    let mock = system::start();
    let one = service(
        1,
        json!(1),
        json!({"policy_chain": [
            {"name": "ip_check", "configuration": {"check_type": "whitelist", "ips": ["203.0.113.7"]}},
            {"name": "my_custom_policy", "version": "1.0.0", "configuration": {}},
            {"name": "apicast"}
        ]}),
    );
    mock.publish(Stored::Production, one).unwrap();
    mock.publish(Stored::Production, service(2, json!(2), json!({})))
        .unwrap();
    let cfg = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": system::block(60)
    });
    let s = Stack::start_with(cfg, backend_state(), |b| b.with_system(&mock));
    let target = format!("/?app_id={APP_ID}&app_key={APP_KEY}");
    assert!(
        wait_until(Duration::from_secs(8), || get(&target)
            .send(s.port())
            .status
            != 503),
        "the configuration from System never loaded"
    );
    assert!(s.envoy.wait_for_log("skipped", Duration::from_secs(2)));
    let r = get(&target).send(s.port());
    assert_ne!(
        r.status,
        200,
        "service 1 (skipped) owns {HOST} in APIcast, whose ip_check denies this client; Tollgate served it as service 2: {}",
        describe(&r)
    );
    assert_eq!(s.echo.request_count(), 0, "the upstream was reached");
}

// ---------------------------------------------------------------------------------------
// OIDC: `proxy.jwt_claim_with_client_id_type` (APIcast `configuration.lua`, default
// "plain"; `oauth/oidc.lua` `get_client_id`: with "liquid" the field is rendered as a
// template against the token's claims, with "plain" it names a claim). Tollgate never reads
// the type, so a Liquid value is taken as a claim name.

/// `jwt_claim_with_client_id: "azp"` with type `liquid`: APIcast renders the template
/// `azp` (no `{{ }}`), which is the text `azp`, and authorizes every token as app_id `azp`
/// (no such application: 403). Tollgate reads the claim `azp` and authorizes the token's
/// client.
#[test]
fn liquid_client_id_claim_type_is_not_read_as_plain() {
    let svc = json!({
        "id": 5, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": {"jwks": e2e::jwt::Signer::jwks(&[&signer()]), "issuer": ISSUER}},
        "proxy": {"hosts": [HOST], "authentication_method": "oidc",
            "jwt_claim_with_client_id": "azp", "jwt_claim_with_client_id_type": "liquid",
            "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let state = oidc_state();
    refused_at_or(
        config(vec![svc]),
        state,
        &["services[0].proxy.jwt_claim_with_client_id_type"],
        |s| {
            let r = get("/")
                .header("Authorization", &format!("Bearer {}", token("guest")))
                .send(s.port());
            let app_ids: Vec<Option<String>> = s
                .backend
                .requests()
                .iter()
                .map(|b| b.param("app_id").map(str::to_string))
                .collect();
            assert_eq!(
                r.status,
                403,
                "APIcast authorizes app_id \"azp\" (rendered Liquid) and is denied; Tollgate: {}, app_ids sent: {app_ids:?}",
                describe(&r)
            );
            assert_eq!(s.echo.request_count(), 0);
        },
    );
}

// ---------------------------------------------------------------------------------------
// Tollgate's own rule fields: a typo (`namespaces` for `namespace`) would silently drop the
// grant the rule requires, and every valid key could then reach it.

/// A rule requiring the `admin` namespace, misspelt `namespaces`: refused at that field,
/// never served to a key without an `admin` grant.
#[test]
fn a_misspelt_rule_access_field_is_refused() {
    let key = "rk_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";
    let auth = json!({"mode": "local", "api_keys": {"header": "APIKey", "keys": [
        {"id": "reader", "hash": tollgate_core::auth::digest::stored_form(key),
         "grants": [{"namespace": "models", "actions": ["read"]}]}]}});
    let rules = json!([
        {"http_method": "ANY", "pattern": "/admin", "metric_system_name": "hits", "delta": 1,
         "namespaces": "admin"},
        {"http_method": "ANY", "pattern": "/models", "metric_system_name": "hits", "delta": 1,
         "namespace": "models"}
    ]);
    refused_at_or(
        config(vec![local_service(auth, rules)]),
        State::default(),
        &["services[0].proxy.proxy_rules[0].namespaces"],
        |s| {
            let r = Request::get("/admin/users")
                .header("Host", "local.example.com")
                .header("APIKey", key)
                .send(s.port());
            assert_eq!(r.status, 403, "a reader reached /admin: {}", describe(&r));
        },
    );
}
