//! Issue 12's chain policies through real Envoy (2 workers): `3scale_batcher` and `caching`
//! per service (the `backend` block is the default), `routing`'s usage clean-up by
//! `owner_id` (what the backend is told), and a chain without `apicast` (public).

mod support;

use e2e::mock_backend::Mode;
use e2e::{wait_until, Request};
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

fn apicast() -> Value {
    json!({"name": "apicast"})
}

fn get(path: &str) -> Request {
    Request::get(path).header("Host", "api.example.com")
}

/// Service 1 (user_key) on `/one`, service 2 (app_id + app_key) on `/two`, one host, chosen
/// by path.
fn two_services(one: Value, two: Value) -> Value {
    let rules = |p: &str| json!([{"http_method": "GET", "pattern": p, "metric_system_name": "hits", "delta": 1}]);
    let mut c = config(vec![
        service(
            1,
            json!(1),
            json!({"policy_chain": one, "proxy_rules": rules("/one")}),
        ),
        service(
            2,
            json!(2),
            json!({"policy_chain": two, "proxy_rules": rules("/two")}),
        ),
    ]);
    c["path_routing_only"] = json!(true);
    c
}

fn start(config: Value) -> Stack {
    Stack::start_with(config, backend_state(), |b| b.concurrency(2))
}

fn calls(s: &Stack, path: &str, service: &str) -> usize {
    let requests = s.backend.requests().into_iter();
    requests
        .filter(|r| r.path == path && r.param("service_id") == Some(service))
        .count()
}

#[test]
fn a_service_with_3scale_batcher_authorizes_and_reports_in_batches_the_other_authreps() {
    // The batcher after apicast, as APIcast's TEST 4: authrep is never called for service 1.
    let s = start(two_services(
        json!([apicast(), {"name": "3scale_batcher", "configuration": {"auths_ttl": 30, "batch_report_seconds": 1}}]),
        json!([apicast()]),
    ));
    for i in 0..6 {
        let r = get(&format!("/one?user_key={USER_KEY}&i={i}")).send(s.port());
        assert_eq!(r.status, 200, "{r}");
        let r = get(&format!("/two?app_id={APP_ID}&app_key={APP_KEY}")).send(s.port());
        assert_eq!(r.status, 200, "{r}");
    }
    // Service 1: reported in batches (6 hits in all), authorized by `authorize` only.
    wait_until(Duration::from_secs(10), || {
        s.backend.reported_hits("1", "app-1", "hits") == 6
    });
    assert_eq!(s.backend.reported_hits("1", "app-1", "hits"), 6);
    assert_eq!(calls(&s, "/transactions/authrep.xml", "1"), 0);
    let authorizes = calls(&s, "/transactions/authorize.xml", "1");
    assert!(
        (1..=2).contains(&authorizes),
        "one authorize per worker at most: {authorizes}"
    );
    assert!(calls(&s, "/transactions.xml", "1") >= 1);
    // Service 2: one authrep per request, never batched.
    assert_eq!(calls(&s, "/transactions/authrep.xml", "2"), 6);
    assert_eq!(calls(&s, "/transactions/authorize.xml", "2"), 0);
    assert_eq!(calls(&s, "/transactions.xml", "2"), 0);
    assert_eq!(s.echo.request_count(), 12);
}

#[test]
fn caching_none_and_allow_per_service_while_the_backend_fails() {
    // APIcast's t/apicast-policy-caching.t TEST 3 (none) and TEST 4 (allow, unseen key).
    let s = start(two_services(
        json!([{"name": "caching", "configuration": {"caching_type": "allow"}}, apicast()]),
        json!([apicast(), {"name": "caching", "configuration": {"caching_type": "none"}}]),
    ));
    s.backend.set_mode(Mode::Status(502));
    for _ in 0..2 {
        let r = get(&format!("/one?user_key={USER_KEY}")).send(s.port());
        assert_eq!(r.status, 200, "allow: {r}");
        let r = get(&format!("/two?app_id={APP_ID}&app_key={APP_KEY}")).send(s.port());
        assert_eq!(r.status, 403, "none: {r}");
        assert_eq!(r.body, "Authentication failed");
    }
    assert_eq!(
        s.echo.request_count(),
        2,
        "only service 1's requests went upstream"
    );
    assert_eq!(calls(&s, "/transactions/authrep.xml", "1"), 2);
    assert_eq!(calls(&s, "/transactions/authrep.xml", "2"), 2);
}

/// A product with two backends: `hits` is owned by BackendApi 10, `get_foo` by BackendApi 20
/// (APIcast t/apicast-policy-routing.t TEST 28-30).
fn product() -> Value {
    let rule = |metric: &str, owner: u64| {
        json!({"http_method": "GET", "pattern": "/", "metric_system_name": metric, "delta": 1,
               "owner_id": owner, "owner_type": "BackendApi"})
    };
    let routing = json!({"name": "routing", "configuration": {"rules": [
        {"url": "http://backend-20.internal", "owner_id": 20, "condition": {"operations": [
            {"match": "header", "header_name": "X-Backend", "op": "==", "value": "twenty"}]}},
        {"url": "http://backend-10.internal", "owner_id": 10, "condition": {"operations": [
            {"match": "path", "op": "matches", "value": "^/[a-z]"}]}}
    ]}});
    config(vec![service(
        1,
        json!(1),
        json!({"policy_chain": [routing, apicast()], "proxy_rules": [rule("hits", 10), rule("get_foo", 20)]}),
    )])
}

#[test]
fn routing_reports_only_the_usage_of_the_backend_the_request_is_routed_to() {
    let s = start(product());
    let r = get(&format!("/a?user_key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = get(&format!("/a?user_key={USER_KEY}"))
        .header("X-Backend", "twenty")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    // No rule holds (`matches` an unanchored regex, not a prefix test): nothing is dropped.
    let r = get(&format!("/1?user_key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let calls = s.authreps();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[2].param("usage[hits]"), Some("1"));
    assert_eq!(calls[2].param("usage[get_foo]"), Some("1"));
    assert_eq!(calls[0].param("usage[hits]"), Some("1"));
    assert_eq!(calls[0].param("usage[get_foo]"), None);
    assert_eq!(calls[1].param("usage[get_foo]"), Some("1"));
    assert_eq!(calls[1].param("usage[hits]"), None);
    let log = s.envoy.log();
    assert!(
        log.contains(
            "policy routing: accepted: the usage of mapping rules owned by another backend"
        ),
        "{log}"
    );
}

/// Envoy's routes may read another of a repeated header's values, a repeated arg's first value,
/// args undecoded and (without `normalize_path`) the path as sent; `routing` read the header's
/// first value, the arg's last, decoded, and the normalized path, so the usage kept (and
/// billed) could be another backend's than the one the request went to. Where they could
/// differ the request is refused: 400, nothing upstream, no authrep. The same value twice is
/// one reading.
#[test]
fn routing_inputs_envoys_routes_could_read_otherwise_are_refused() {
    let mut c = product();
    c["services"][0]["proxy"]["policy_chain"][0]["configuration"]["rules"][1]["condition"] = json!(
        {"operations": [{"match": "query_arg", "query_arg_name": "to", "op": "==", "value": "ten"}]}
    );
    let s = start(c);
    let ok = get(&format!("/a?user_key={USER_KEY}&to=ten&to=ten"))
        .header("X-Backend", "twenty")
        .header("X-Backend", "twenty")
        .send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    for request in [
        get(&format!("/a?user_key={USER_KEY}"))
            .header("X-Backend", "ten")
            .header("X-Backend", "twenty"),
        get(&format!("/a?user_key={USER_KEY}&to=twenty&to=ten")),
        get(&format!("/a?user_key={USER_KEY}&TO=ten")),
        // Envoy's query matcher does not decode (found by an audit, 2026-12-05).
        get(&format!("/a?user_key={USER_KEY}&to=t%65n")),
        get(&format!("/a?user_key={USER_KEY}&t%6F=ten")),
    ] {
        let r = request.send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (400, "Bad Request: ambiguous argument"),
            "{r}"
        );
    }
    assert_eq!(s.echo.request_count(), 1, "only the control went upstream");
    assert_eq!(s.authreps().len(), 1, "no authrep for a refused request");

    // A `path` condition: without Envoy's `normalize_path` (off by default) its route
    // prefixes see the path as sent, the condition the normalized one.
    let s = Stack::start_with(product(), backend_state(), |b| b.raw_paths());
    let r = get(&format!("/a?user_key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    for target in ["/%61", "/a//b"] {
        let r = get(&format!("{target}?user_key={USER_KEY}")).send(s.port());
        assert_eq!(r.status, 400, "{target}: {r}");
    }
    assert_eq!(s.echo.request_count(), 1, "only the control went upstream");
    // A leading `//` goes upstream merged (URL parsers read it as a host): the condition
    // and Envoy's routes read the same `/a`.
    let r = get(&format!("//a?user_key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let paths: Vec<String> = s.echo.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths.last(), Some(&format!("/a?user_key={USER_KEY}")));
}

/// [`product`] with these routing rules; the `get_foo` rule's `owner_id` written `owner`.
fn product_routed(rules: Value, owner: Value) -> Value {
    let mut c = product();
    c["services"][0]["proxy"]["policy_chain"][0]["configuration"]["rules"] = rules;
    c["services"][0]["proxy"]["proxy_rules"][1]["owner_id"] = owner;
    c
}

/// The usage of each authrep (`oauth_authrep` too): `hits` (routed to backend 10),
/// `get_foo` (to 20) or both.
fn routed_usage(s: &Stack) -> Vec<&'static str> {
    let usage = |c: &e2e::mock_backend::ReceivedRequest| match (
        c.param("usage[hits]"),
        c.param("usage[get_foo]"),
    ) {
        (Some("1"), None) => "hits",
        (None, Some("1")) => "get_foo",
        (Some("1"), Some("1")) => "both",
        _ => "other",
    };
    let calls = s.backend.requests().into_iter();
    let authreps: Vec<_> = calls.filter(|c| c.path.ends_with("authrep.xml")).collect();
    authreps.iter().map(usage).collect()
}

/// APIcast TEST 34 (THREESCALE-6415): `"condition": {}` is a catch-all rule (`rule.lua` reads
/// a missing `operations` as `{}`). The module before refused the configuration (found by an
/// audit, 2026-12-07).
#[test]
fn routing_a_condition_without_operations_is_a_catch_all() {
    let s = start(product_routed(
        json!([
            {"url": "http://backend-20.internal", "owner_id": 20, "condition": {"operations": [
                {"match": "header", "header_name": "X-Backend", "op": "==", "value": "twenty"}]}},
            {"url": "http://backend-10.internal", "owner_id": 10, "condition": {}}
        ]),
        json!(20),
    ));
    let r = get(&format!("/1?user_key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.echo().path, format!("/1?user_key={USER_KEY}"));
    let r = get(&format!("/1?user_key={USER_KEY}"))
        .header("X-Backend", "twenty")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.echo().header("x-backend"), Some("twenty"));
    assert_eq!(routed_usage(&s), ["hits", "get_foo"]);
}

/// A mapping rule's `owner_id` written as a decimal string (`"20"`) is that owner, as
/// APIcast's `tonumber` reads it; the module before read no owner and reported its usage
/// whatever the route (found by an audit, 2026-12-07).
#[test]
fn routing_a_mapping_rule_owner_id_may_be_a_decimal_string() {
    let rules = json!([
        {"url": "http://backend-20.internal", "owner_id": 20, "condition": {"operations": [
            {"match": "header", "header_name": "X-Backend", "op": "==", "value": "twenty"}]}},
        {"url": "http://backend-10.internal", "owner_id": 10, "condition": {"operations": []}}
    ]);
    let s = start(product_routed(rules, json!("20")));
    let r = get(&format!("/a?user_key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.echo().path, format!("/a?user_key={USER_KEY}"));
    let r = get(&format!("/a?user_key={USER_KEY}"))
        .header("X-Backend", "twenty")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(routed_usage(&s), ["hits", "get_foo"]);
    assert_eq!(s.echo.request_count(), 2);
}

/// An absent header or arg is `tostring(nil)`, the text `nil` (`matches "^nil$"` holds), and
/// a bare `?beta` is Lua `true` (`== "true"` holds); `?beta=` is empty. The module before
/// read an absent value as matching nothing and `?beta` as equal to nothing (found by an
/// audit, 2026-12-07).
#[test]
fn routing_reads_an_absent_value_as_nil_and_a_bare_arg_as_true() {
    let s = start(product_routed(
        json!([
            {"url": "http://backend-20.internal", "owner_id": 20, "condition": {"operations": [
                {"match": "query_arg", "query_arg_name": "beta", "op": "==", "value": "true"}]}},
            {"url": "http://backend-20.internal", "owner_id": 20, "condition": {"operations": [
                {"match": "header", "header_name": "X-Tier", "op": "matches", "value": "^nil$"}]}},
            {"url": "http://backend-10.internal", "owner_id": 10, "condition": {"operations": []}}
        ]),
        json!(20),
    ));
    for (target, tier) in [
        (format!("/a?user_key={USER_KEY}&beta"), Some("gold")),
        (format!("/a?user_key={USER_KEY}"), None),
        (format!("/a?user_key={USER_KEY}&beta="), Some("gold")),
    ] {
        let mut request = get(&target);
        if let Some(tier) = tier {
            request = request.header("X-Tier", tier);
        }
        let r = request.send(s.port());
        assert_eq!(r.status, 200, "{target}: {r}");
        assert_eq!(r.echo().path, target);
    }
    assert_eq!(routed_usage(&s), ["get_foo", "get_foo", "hits"]);
}

/// A `jwt_claim` condition reads `tostring(jwt[name])`, as APIcast's `routing_operation.lua`:
/// an array claim is a table (its address, equal to no value), a dotted name a claim of that
/// very name, missing `nil`. The module before rendered claims as Liquid (`["admin"]` read
/// `admin`, `realm_access.tier` followed the path: found by an audit, 2026-12-07).
#[test]
fn routing_reads_a_jwt_claim_raw() {
    use e2e::jwt::{now, Signer};
    use e2e::mock_backend::{App, Service, State};
    let signer = Signer::hs256(b"0123456789abcdef0123456789abcdef-routing", "hs-r");
    let issuer = "https://idp.example.com/realms/demo";
    let token = |claims: Value| {
        let mut all = json!({"iss": issuer, "azp": "client-1", "sub": "u", "aud": "account",
            "exp": now() + 300});
        if let (Some(all), Value::Object(extra)) = (all.as_object_mut(), claims) {
            all.extend(extra);
        }
        signer.token(&all)
    };
    let mut c = product_routed(
        json!([
            {"url": "http://backend-20.internal", "owner_id": 20, "condition": {"operations": [
                {"match": "jwt_claim", "jwt_claim_name": "roles", "op": "==", "value": "admin"}]}},
            {"url": "http://backend-20.internal", "owner_id": 20, "condition": {"operations": [
                {"match": "jwt_claim", "jwt_claim_name": "realm_access.tier", "op": "==", "value": "gold"}]}},
            {"url": "http://backend-10.internal", "owner_id": 10, "condition": {"operations": []}}
        ]),
        json!(20),
    );
    let svc = &mut c["services"][0];
    svc["id"] = json!(5);
    svc["backend_version"] = json!("oauth");
    svc["authentication"] = json!({"jwt": {"jwks": Signer::jwks(&[&signer]), "issuer": issuer}});
    svc["proxy"]["authentication_method"] = json!("oidc");
    let state = State::new()
        .service(
            Service::new("5")
                .token(TOKEN)
                .backend_version("oauth")
                .metric("hits", None)
                .metric("get_foo", Some("hits")),
        )
        .app(App::new("5", "client-1").plan("OIDC"));
    let s = Stack::start_with(c, state, |b| b.concurrency(2));
    for claims in [
        json!({"roles": "admin"}),
        json!({"roles": ["admin"]}),
        json!({"realm_access": {"tier": "gold"}}),
        json!({"realm_access.tier": "gold"}),
    ] {
        let r = get("/a")
            .header(
                "Authorization",
                &format!("Bearer {}", token(claims.clone())),
            )
            .send(s.port());
        assert_eq!(r.status, 200, "{claims}: {r}");
        assert_eq!(r.echo().path, "/a");
    }
    assert_eq!(routed_usage(&s), ["get_foo", "hits", "hits", "get_foo"]);
    let calls = s.backend.requests();
    assert!(calls
        .iter()
        .all(|c| c.path == "/transactions/oauth_authrep.xml"
            && c.param("app_id") == Some("client-1")));
}

#[test]
fn a_chain_without_apicast_is_public_and_its_other_policies_apply() {
    let blocked = json!({"name": "ip_check", "configuration": {"check_type": "blacklist",
        "ips": ["6.6.6.6"], "client_ip_sources": ["X-Forwarded-For", "last_caller"]}});
    let s = start(config(vec![service(
        1,
        json!(1),
        json!({"policy_chain": [blocked, {"name": "logging"}]}),
    )]));
    // No credentials, any path and method: forwarded as it came, and no backend call.
    let r = Request::post("/no/rule/here?x=1")
        .header("Host", "api.example.com")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let seen = r.echo();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/no/rule/here?x=1")
    );
    // The blocked address is still denied.
    let r = get("/x")
        .header("X-Forwarded-For", "6.6.6.6")
        .send(s.port());
    assert_eq!(r.status, 403, "{r}");
    assert_eq!(r.body, "IP address not allowed\n");
    assert_eq!(s.echo.request_count(), 1);
    assert!(
        s.backend.requests().is_empty(),
        "a public service never calls the backend"
    );
    let log = s.envoy.log();
    let line = log
        .lines()
        .find(|l| {
            l.contains("services[0].proxy.policy_chain: no apicast policy: the service is PUBLIC")
        })
        .unwrap_or_else(|| panic!("no public warning in:\n{log}"));
    assert!(line.contains("[warning]"), "{line}");
}
