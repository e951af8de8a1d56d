//! Requests crafted against the APIcast policy chain support (found by an audit, 2026-12-05):
//! `routing` against real Envoy routes (a repeated or percent-encoded header or query arg,
//! which Envoy's route matchers read otherwise than the policy), a `headers` policy `set` or
//! `delete` dodged with another spelling of the header, and `jwt_claim_check` or form-body
//! checks dodged with a lower-case method over HTTP/2. Each asserts what the client got and
//! what the upstream (and, for routing, the backend) received.

mod support;

use e2e::envoy::RawEnvoy;
use e2e::mock_backend::MockBackend;
use e2e::{EchoUpstream, Envoy, Request, Response};
use serde_json::{json, Value};
use support::*;

const HOST: &str = "api.example.com";

fn apicast() -> Value {
    json!({"name": "apicast"})
}

fn get(target: &str) -> Request {
    Request::get(target).header("Host", HOST)
}

/// Echo upstream, mock backend and Envoy on the harness's own bootstrap, with its single
/// route (`prefix: "/"` to the cluster `upstream`) replaced by `routes` (YAML at the route
/// list's indentation).
struct Routed {
    _echo: EchoUpstream,
    backend: MockBackend,
    _envoy: RawEnvoy,
    port: u16,
}

const HARNESS_ROUTE: &str = "              routes:
              - match: { prefix: \"/\" }
                route: { cluster: upstream, timeout: 15s }
";

fn start_routed(config: Value, routes: &str) -> Routed {
    start_routed_with(config, routes, |b| b)
}

fn start_routed_with(
    config: Value,
    routes: &str,
    envoy: impl FnOnce(e2e::EnvoyBuilder) -> e2e::EnvoyBuilder,
) -> Routed {
    let echo = EchoUpstream::start().expect("echo upstream");
    let backend = MockBackend::start(backend_state()).expect("mock backend");
    let builder = envoy(Envoy::builder())
        .upstream_port(echo.port())
        .backend_port(backend.port())
        .filter_config(&config.to_string());
    let routes = routes.to_string();
    let (envoy, port) = RawEnvoy::start(move |listener, admin| {
        let yaml = builder.render(listener, admin);
        assert!(
            yaml.contains(HARNESS_ROUTE),
            "the harness's route changed:\n{yaml}"
        );
        yaml.replace(HARNESS_ROUTE, &routes)
    });
    Routed {
        _echo: echo,
        backend,
        _envoy: envoy,
        port,
    }
}

impl Routed {
    fn authreps(&self) -> Vec<e2e::mock_backend::ReceivedRequest> {
        self.backend
            .requests()
            .into_iter()
            .filter(|r| r.path == "/transactions/authrep.xml")
            .collect()
    }
}

/// A product with two backends, as README's `routing` section describes it: mapping rules of
/// backend 10 count `hits`, those of backend 20 count `get_foo`; the routing rule for
/// backend 20 holds on `condition`.
fn product(condition: Value) -> Value {
    let rule = |metric: &str, owner: u64| {
        json!({"http_method": "GET", "pattern": "/", "metric_system_name": metric, "delta": 1,
               "owner_id": owner, "owner_type": "BackendApi"})
    };
    let routing = json!({"name": "routing", "configuration": {"rules": [
        {"url": "http://backend-20.internal", "owner_id": 20, "condition": condition},
        {"url": "http://backend-10.internal", "owner_id": 10, "condition": {"operations": []}}
    ]}});
    config(vec![service(
        1,
        json!(1),
        json!({"policy_chain": [routing, apicast()],
               "proxy_rules": [rule("hits", 10), rule("get_foo", 20)]}),
    )])
}

/// README's `query_parameters` route: `?backend=twenty` to backend 20, the rest to 10.
const ROUTES_BY_BACKEND_ARG: &str = "              routes:
              - match: { prefix: \"/\", query_parameters: [{name: backend, string_match: {exact: twenty}}] }
                route: { cluster: upstream, timeout: 15s, prefix_rewrite: \"/b20/\" }
              - match: { prefix: \"/\" }
                route: { cluster: upstream, timeout: 15s, prefix_rewrite: \"/b10/\" }
";

/// Which backend Envoy's route chose: the routes prefix the path with `/b20` or `/b10`.
fn routed_to(r: &Response) -> &'static str {
    assert_eq!(r.status, 200, "{r}");
    let path = r.echo().path;
    if path.starts_with("/b20/") {
        "20"
    } else if path.starts_with("/b10/") {
        "10"
    } else {
        panic!("unexpected upstream path {path}")
    }
}

/// The backend whose usage the authrep reported: `hits` is backend 10's, `get_foo` 20's.
fn reported_for(call: &e2e::mock_backend::ReceivedRequest) -> Vec<&'static str> {
    let mut owners = Vec::new();
    if call.param("usage[hits]").is_some() {
        owners.push("10");
    }
    if call.param("usage[get_foo]").is_some() {
        owners.push("20");
    }
    owners
}

/// README (`routing`): "the Envoy route must send the request where the routing rule would",
/// and its example route matches `x-backend` exactly. A client sends `X-Backend` twice
/// (`twenty`, then `ten`): the policy reads the first value. Held, through Envoy's real route
/// matcher: with the committed module (f8c0f38) it is refused with 400; before that fix,
/// Envoy 1.40's header matcher routed this request to backend 20 too (so README's
/// "Envoy's route matchers read a repeated header's values joined" did not show here).
/// Kept as coverage of the routing fix with real Envoy routes (chain_policies.rs has none).
#[test]
fn routing_a_repeated_header_is_not_read_differently_from_envoys_route() {
    let routes = "              routes:
              - match: { prefix: \"/\", headers: [{name: x-backend, string_match: {exact: twenty}}] }
                route: { cluster: upstream, timeout: 15s, prefix_rewrite: \"/b20/\" }
              - match: { prefix: \"/\" }
                route: { cluster: upstream, timeout: 15s, prefix_rewrite: \"/b10/\" }
";
    let s = start_routed(
        product(json!({"operations": [
            {"match": "header", "header_name": "X-Backend", "op": "==", "value": "twenty"}]})),
        routes,
    );
    // The ordinary cases agree.
    let r = get(&format!("/a?user_key={USER_KEY}")).send(s.port);
    assert_eq!(routed_to(&r), "10");
    let r = get(&format!("/a?user_key={USER_KEY}"))
        .header("X-Backend", "twenty")
        .send(s.port);
    assert_eq!(routed_to(&r), "20");
    let calls = s.authreps();
    assert_eq!(reported_for(&calls[0]), ["10"]);
    assert_eq!(reported_for(&calls[1]), ["20"]);

    let r = get(&format!("/a?user_key={USER_KEY}"))
        .header("X-Backend", "twenty")
        .header("X-Backend", "ten")
        .send(s.port);
    // Refused (the safe answer), or reported for the backend that served it.
    metered_where_served(&s, &r, "x-backend twice").unwrap();
}

/// The same with a `query_arg` condition and README's `query_parameters` route:
/// `?backend=ten&backend=twenty`. Tollgate's condition reads the LAST value (`twenty`: the
/// usage of backend 10's rules is removed), Envoy's route matcher the FIRST (`ten`: the
/// default route, backend 10), so backend 10 serves a request whose backend-10 usage is never
/// reported. Failed with the module of 7e3d31e (upstream `/b10/...`, authrep `get_foo`
/// only); f8c0f38 (400 `Bad Request: ambiguous argument`) fixed it. Kept as coverage of that
/// fix with a real Envoy `query_parameters` route.
#[test]
fn routing_a_repeated_query_arg_is_not_read_differently_from_envoys_route() {
    let routes = ROUTES_BY_BACKEND_ARG;
    let s = start_routed(
        product(json!({"operations": [
            {"match": "query_arg", "query_arg_name": "backend", "op": "==", "value": "twenty"}]})),
        routes,
    );
    let r = get(&format!("/a?user_key={USER_KEY}&backend=twenty")).send(s.port);
    assert_eq!(routed_to(&r), "20");
    assert_eq!(reported_for(s.authreps().last().unwrap()), ["20"]);

    let r = get(&format!(
        "/a?user_key={USER_KEY}&backend=ten&backend=twenty"
    ))
    .send(s.port);
    metered_where_served(&s, &r, "backend twice").unwrap();
}

/// Whether a request routed by Envoy was reported for the backend that served it, or
/// refused before the upstream: `Err` describes the mismatch.
fn metered_where_served(s: &Routed, r: &Response, what: &str) -> Result<(), String> {
    if r.status != 200 {
        return match r.try_echo() {
            None => Ok(()),
            Some(_) => Err(format!("{what}: {r}")),
        };
    }
    let served = routed_to(r);
    let calls = s.authreps();
    let reported = reported_for(calls.last().unwrap());
    match reported.contains(&served) {
        true => Ok(()),
        false => Err(format!(
            "{what}: backend {served} served the request ({}); the authrep reported only {reported:?} ({})",
            r.echo().path,
            calls.last().unwrap().raw_query
        )),
    }
}

/// README's translation of routing conditions into Envoy routes (a `query_arg` as
/// `query_parameters`, a `path` as a route `prefix`) with the values percent-encoded:
/// Tollgate's conditions read decoded values (`?backend=tw%65nty`, `?back%65nd=twenty`, a
/// path `/tw%65nty/x`), Envoy's `query_parameters` matcher does not decode, and its route
/// prefix sees the path as sent unless `normalize_path` is on. Tollgate selects backend 20
/// (backend 10's usage removed) while Envoy routes to backend 10: backend 10 serves requests
/// that are never reported for it, so its limits do not apply.
#[test]
fn routing_percent_encoded_inputs_are_not_read_differently_from_envoys_route() {
    let routes = ROUTES_BY_BACKEND_ARG;
    let s = start_routed(
        product(json!({"operations": [
            {"match": "query_arg", "query_arg_name": "backend", "op": "==", "value": "twenty"}]})),
        routes,
    );
    let mut failures = Vec::new();
    for target in [
        "/a?user_key=uk-valid&backend=twenty",
        "/a?user_key=uk-valid&backend=tw%65nty",
        "/a?user_key=uk-valid&back%65nd=twenty",
        "/a?user_key=uk-valid&Backend=twenty",
        "/a?user_key=uk-valid&backend=twenty&backend=twenty",
    ] {
        let r = get(target).send(s.port);
        failures.extend(metered_where_served(&s, &r, target).err());
    }

    let routes = "              routes:
              - match: { prefix: \"/twenty\" }
                route: { cluster: upstream, timeout: 15s, prefix_rewrite: \"/b20/\" }
              - match: { prefix: \"/\" }
                route: { cluster: upstream, timeout: 15s, prefix_rewrite: \"/b10/\" }
";
    // With Envoy's normalize_path (the harness's and README's recommendation), and without
    // it (Envoy's default; README: "the filter is safe without them").
    for normalize in [true, false] {
        let s = start_routed_with(
            product(json!({"operations": [
                {"match": "path", "op": "matches", "value": "^/twenty"}]})),
            routes,
            |b| if normalize { b } else { b.raw_paths() },
        );
        for target in [
            "/twenty/x?user_key=uk-valid",
            "/tw%65nty/x?user_key=uk-valid",
            "/%74wenty/x?user_key=uk-valid",
        ] {
            let r = get(target).send(s.port);
            let what = format!("{target} (normalize_path: {normalize})");
            failures.extend(metered_where_served(&s, &r, &what).err());
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Names an upstream may read as one header: CGI, WSGI, Rack and PHP read `X-Tenant`,
/// `x_tenant` and `X_Tenant` as `HTTP_X_TENANT` (Tollgate itself strips every such spelling
/// of its secret-token and debug headers for that reason).
fn cgi_name(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// The values the upstream received under any spelling of `name`.
fn cgi_values(seen: &e2e::EchoRequest, name: &str) -> Vec<(String, String)> {
    seen.headers
        .iter()
        .filter(|(n, _)| cgi_name(n) == cgi_name(name))
        .cloned()
        .collect()
}

/// A `headers` policy that `set`s a header the upstream trusts (`X-Consumer-Tier: basic`)
/// and `delete`s one it must never get from a client (`X-Internal-Admin`): the client sends
/// them spelled with `_` and the upstream still reads its own values.
#[test]
fn a_headers_policy_set_or_delete_is_not_dodged_with_an_underscore_spelling() {
    let headers = json!({"name": "headers", "configuration": {"request": [
        {"op": "set", "header": "X-Consumer-Tier", "value": "basic"},
        {"op": "delete", "header": "X-Internal-Admin"}]}});
    let mut failures = Vec::new();
    for chain in [
        json!([headers.clone(), apicast()]),
        json!([apicast(), headers.clone()]),
    ] {
        let s = Stack::start(config(vec![service(
            1,
            json!(1),
            json!({"policy_chain": chain}),
        )]));
        // The ordinary spelling, even sent twice, is replaced and deleted.
        let r = get(&format!("/a?user_key={USER_KEY}"))
            .header("X-Consumer-Tier", "gold")
            .header("x-consumer-tier", "platinum")
            .header("X-Internal-Admin", "1")
            .header("x-internal-admin", "2")
            .send(s.port());
        assert_eq!(r.status, 200, "{r}");
        let seen = r.echo();
        assert_eq!(seen.header_all("x-consumer-tier"), ["basic"]);
        assert_eq!(seen.header("x-internal-admin"), None);

        let r = get(&format!("/a?user_key={USER_KEY}"))
            .header("X_Consumer_Tier", "gold")
            .header("X_Internal_Admin", "1")
            .send(s.port());
        if r.status == 200 {
            let seen = r.echo();
            let tier = cgi_values(&seen, "x-consumer-tier");
            if tier != [("x-consumer-tier".to_string(), "basic".to_string())] {
                failures.push(format!("chain {chain}: the upstream got tier {tier:?}"));
            }
            let admin = cgi_values(&seen, "x-internal-admin");
            if !admin.is_empty() {
                failures.push(format!(
                    "chain {chain}: the deleted header reached the upstream: {admin:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// An OIDC service (HS256 keys in its `jwt` block) whose `jwt_claim_check` lets only admins
/// `PUT` or `DELETE` a group; the mapping rule is `ANY /`.
fn claims_stack() -> Stack {
    use e2e::jwt::Signer;
    let op = |claim: &str, op: &str, value: &str| json!({"jwt_claim": claim, "jwt_claim_type": "plain", "op": op, "value": value});
    let chain = json!([
        {"name": "jwt_claim_check", "configuration": {
            "error_message": "admins only",
            "rules": [{"resource": "/groups/{id}", "methods": ["PUT", "DELETE"],
                       "operations": [op("role", "==", "admin")]}]}},
        apicast()
    ]);
    let svc = json!({
        "id": 5, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": {"jwks": Signer::jwks(&[&claims_signer()]), "issuer": ISSUER}},
        "proxy": {"hosts": [HOST], "authentication_method": "oidc",
            "policy_chain": chain,
            "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let state = oidc_state();
    Stack::start_with(config(vec![svc]), state, |b| b)
}

const ISSUER: &str = "https://idp.example.com/realms/demo";

fn claims_signer() -> e2e::jwt::Signer {
    e2e::jwt::Signer::hs256(b"0123456789abcdef0123456789abcdef-claims", "hs-1")
}

fn claims_token(role: &str) -> String {
    let claims = json!({"iss": ISSUER, "azp": "client-1", "sub": "u", "aud": "account",
        "exp": e2e::jwt::now() + 300, "role": role});
    claims_signer().token(&claims)
}

/// HTTP/2 lets a client send `:method: delete`; Envoy accepts it and forwards it as is
/// (nginx, in front of APIcast, refuses any method that is not upper case). The claim rule
/// for `DELETE` compares methods case-sensitively, so it does not apply; the `ANY` mapping
/// rule matches; the request is authorized and reaches the upstream, where Django and
/// Flask/Werkzeug upper-case `REQUEST_METHOD` and run their DELETE handler for a guest.
/// Failed on 58bad5e (200, forwarded); fixed by 0ad5a86 (400 `invalid method`). Kept: the
/// `jwt_claim_check` side of that fix (method_case.rs covers rules and local grants).
#[test]
fn a_claim_check_on_delete_is_not_dodged_with_a_lower_case_method_over_http2() {
    let s = claims_stack();
    let guest = claims_token("guest");
    let send = |method: &str| {
        e2e::curl::Curl::new(method, "/groups/7")
            .http2()
            .header("host", HOST)
            .header("authorization", &format!("Bearer {guest}"))
            .send(s.port())
    };
    // Upper case: denied by the claim check.
    let r = send("DELETE");
    assert_eq!((r.status, r.body.as_str()), (403, "admins only\n"), "{r}");
    assert_eq!(s.echo.request_count(), 0);
    // Lower case: must not reach the upstream either.
    let r = send("delete");
    assert!(
        r.try_echo().is_none(),
        "a guest's `delete` reached the upstream (the claim check did not apply): {r}"
    );
    assert_eq!(s.echo.request_count(), 0);
}

/// The same root cause without any policy: over HTTP/2 a `post` (lower case) is not read as
/// `POST`, so its form body is never read and the check that refuses an arg a matching rule
/// reads in the query and, differently, in the form body (README, "Security": "in the query
/// and a form body") does not run. The only rule allows `scope=mine`; the client sends
/// `?scope=mine` and a form `scope=all`: upper case is refused (400), lower case reaches the
/// upstream, where Django and Flask upper-case the method and read the form's `scope=all`.
/// Failed on 58bad5e; fixed by 0ad5a86. Kept: the form-body side of that fix.
#[test]
fn a_lower_case_post_does_not_skip_the_form_body_checks_over_http2() {
    let s = Stack::start(config(vec![service(
        1,
        json!(1),
        json!({"proxy_rules": [
            {"http_method": "ANY", "pattern": "/reports?scope=mine", "metric_system_name": "hits", "delta": 1}]}),
    )]));
    let send = |method: &str| -> std::io::Result<Response> {
        e2e::curl::Curl::new(method, &format!("/reports?scope=mine&user_key={USER_KEY}"))
            .http2()
            .header("host", HOST)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("scope=all")
            .try_send(s.port())
    };
    let r = send("POST").expect("curl");
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Bad Request: ambiguous argument"),
        "{r}"
    );
    // Refused (a refusal that comes before curl has sent the body resets the stream: curl
    // reports an error), never forwarded.
    if let Ok(r) = send("post") {
        assert!(
            r.try_echo().is_none(),
            "matched on scope=mine, the upstream got the form's scope=all: {r}"
        );
    }
    assert_eq!(s.echo.request_count(), 0);
}
