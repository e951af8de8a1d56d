//! The `headers`, `statuscode_overwrite` and `cors` policies through real Envoy (2 workers),
//! with the cases APIcast's `t/apicast-policy-{headers,statuscode_overwrite,cors}.t` assert:
//! header operations as the upstream received them and as the client got them, a client
//! sending the headers a policy sets or deletes (and Tollgate's secret token), statuses the
//! upstream and the filter itself answer, CORS preflights answered without credentials,
//! backend or upstream, and CORS headers on answers and on denials; HTTP/1.1 with and without
//! bodies (chunked too), and HTTP/2.

mod support;

use e2e::curl::Curl;
use e2e::{EchoRequest, Request, Response};
use serde_json::{json, Value};
use support::*;

const HOST: &str = "api.example.com";

/// Service 1 with these `proxy` fields and this chain; rules for GET, POST and OPTIONS is not one.
fn with_chain(chain: Value, proxy: Value) -> Value {
    let mut p = json!({"policy_chain": chain, "secret_token": "tollgate-s3cret",
        "proxy_rules": [
            {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
            {"http_method": "POST", "pattern": "/", "metric_system_name": "hits", "delta": 1}]});
    if let (Some(p), Value::Object(extra)) = (p.as_object_mut(), proxy) {
        p.extend(extra);
    }
    config(vec![service(1, json!(1), p)])
}

fn start(chain: Value, proxy: Value) -> Stack {
    Stack::start_with(with_chain(chain, proxy), backend_state(), |b| {
        b.concurrency(2)
    })
}

fn apicast() -> Value {
    json!({"name": "apicast", "version": "builtin"})
}

fn get(target: &str) -> Request {
    Request::get(target).header("Host", HOST)
}

fn values<'a>(seen: &'a EchoRequest, name: &str) -> Vec<&'a str> {
    seen.header_all(name)
}

/// The operations of TESTs 1 to 8 of t/apicast-policy-headers.t in one policy.
fn header_operations() -> Value {
    json!({"name": "apicast.policy.headers", "configuration": {
        "request": [
            {"op": "set", "header": "New-Header", "value": "config_value_nh"},
            {"op": "set", "header": "Existing-Header", "value": "config_value_eh"},
            {"op": "set", "header": "Header-To-Delete", "value": ""},
            {"op": "push", "header": "Pushed-New", "value": "pushed"},
            {"op": "push", "header": "Multi", "value": "config_value_m"},
            {"op": "add", "header": "Add-Missing", "value": "never"},
            {"op": "add", "header": "Add-Present", "value": "added"},
            {"op": "delete", "header": "X-Remove"},
            {"op": "delete", "header": "Non-Existing-Header"}],
        "response": [
            {"op": "set", "header": "X-Resp-New", "value": "config_value_rn"},
            {"op": "set", "header": "Content-Type", "value": "application/vnd.test+json"},
            {"op": "push", "header": "X-Upstream", "value": "config_value_pushed"},
            {"op": "add", "header": "X-Resp-Missing", "value": "never"},
            {"op": "push", "header": "X-Resp-Pushed", "value": "p1"},
            {"op": "push", "header": "X-Resp-Pushed", "value": "p2"},
            {"op": "set", "header": "X-Resp-Cleared", "value": ""}]}})
}

/// What the upstream must have received from a client sending the headers each operation
/// is about (and a spoofed secret token).
fn upstream_saw_the_operations(seen: &EchoRequest) {
    assert_eq!(values(seen, "new-header"), ["config_value_nh"]);
    assert_eq!(
        values(seen, "existing-header"),
        ["config_value_eh"],
        "both client values replaced"
    );
    assert!(!seen.has_header("header-to-delete"), "set \"\" deletes");
    assert_eq!(values(seen, "pushed-new"), ["pushed"]);
    assert_eq!(values(seen, "multi"), ["m1", "m2", "config_value_m"]);
    assert!(!seen.has_header("add-missing"), "add needs the header");
    assert_eq!(values(seen, "add-present"), ["client", "added"]);
    assert!(!seen.has_header("x-remove"));
    assert_eq!(values(seen, "x-kept"), ["kept"], "untouched headers pass");
    assert_eq!(
        values(seen, "x-3scale-proxy-secret-token"),
        ["tollgate-s3cret"],
        "the client's token is stripped, Tollgate's is the one sent"
    );
}

const CLIENT_HEADERS: [(&str, &str); 10] = [
    ("Existing-Header", "client_eh1"),
    ("Existing-Header", "client_eh2"),
    ("Header-To-Delete", "client_htd"),
    ("Multi", "m1"),
    ("Multi", "m2"),
    ("Add-Present", "client"),
    ("X-Remove", "client"),
    ("X-Kept", "kept"),
    ("X-3scale-Proxy-Secret-Token", "spoofed"),
    ("New-Header", "client_nh"),
];

/// What the client must get back: the response operations, none of the request's.
fn client_got_the_operations(r: &Response) {
    assert_eq!(r.header_all("x-resp-new"), ["config_value_rn"], "{r}");
    assert_eq!(r.header_all("content-type"), ["application/vnd.test+json"]);
    assert_eq!(r.header_all("x-upstream"), ["echo", "config_value_pushed"]);
    assert!(r.header("x-resp-missing").is_none());
    assert_eq!(r.header_all("x-resp-pushed"), ["p1", "p2"]);
    assert!(r.header("x-resp-cleared").is_none());
    for leaked in ["new-header", "existing-header", "pushed-new", "multi"] {
        assert!(
            r.header(leaked).is_none(),
            "{leaked} is a request header: {r}"
        );
    }
}

#[test]
fn header_operations_reach_the_upstream_and_the_client() {
    let s = start(json!([apicast(), header_operations()]), json!({}));
    let target = format!("/things?user_key={USER_KEY}");
    // HTTP/1.1, without and with a (chunked) body.
    let mut plain = get(&target);
    for (k, v) in CLIENT_HEADERS {
        plain = plain.header(k, v);
    }
    let r = plain.send(s.port());
    assert_eq!(r.status, 200, "{r}");
    upstream_saw_the_operations(&r.echo());
    client_got_the_operations(&r);

    let mut chunked = Request::post(&target)
        .header("Host", HOST)
        .header("Transfer-Encoding", "chunked")
        .body("5\r\nhello\r\n0\r\n\r\n");
    for (k, v) in CLIENT_HEADERS {
        chunked = chunked.header(k, v);
    }
    let r = chunked.send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let seen = r.echo();
    assert_eq!(seen.body, "hello");
    upstream_saw_the_operations(&seen);
    client_got_the_operations(&r);

    // HTTP/2: lower-case names, the same operations.
    let mut h2 = Curl::new("POST", &target)
        .http2()
        .header("Host", HOST)
        .body("{\"a\":1}");
    for (k, v) in CLIENT_HEADERS {
        h2 = h2.header(k, v);
    }
    let r = h2.send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let seen = r.echo();
    assert_eq!(seen.body, "{\"a\":1}");
    upstream_saw_the_operations(&seen);
    client_got_the_operations(&r);
    assert_eq!(s.authreps().len(), 3);

    // A denial is Tollgate's own reply: the response operations apply to it too.
    let r = get("/things?user_key=unknown").send(s.port());
    assert_eq!((r.status, r.body.as_str()), (403, "Authentication failed"));
    assert_eq!(r.header_all("content-type"), ["application/vnd.test+json"]);
    assert_eq!(r.header_all("x-resp-pushed"), ["p1", "p2"]);
    assert_eq!(
        r.header_all("x-upstream"),
        ["config_value_pushed"],
        "push creates"
    );
    assert!(r.header("x-resp-missing").is_none(), "add needs the header");
    assert_eq!(s.echo.request_count(), 3);

    // TEST 8: headers the upstream set, deleted.
    let delete = json!({"name": "headers", "configuration": {"response": [
        {"op": "delete", "header": "X-Upstream"}, {"op": "delete", "header": "Content-Type"},
        {"op": "delete", "header": "Non-Existing-Header"}]}});
    let s = start(json!([apicast(), delete]), json!({}));
    let r = get(&format!("/?user_key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert!(
        r.header("x-upstream").is_none() && r.header("content-type").is_none(),
        "{r}"
    );
    assert_eq!(
        r.echo().path,
        format!("/?user_key={USER_KEY}"),
        "the upstream's body"
    );
}

#[test]
fn with_batching_a_request_resumed_after_the_backend_gets_the_operations_too() {
    let mut c = with_chain(json!([apicast(), header_operations()]), json!({}));
    c["backend"]["batching"] = json!({"auths_ttl": 30, "batch_report_seconds": 1});
    let s = Stack::start_with(c, backend_state(), |b| b.concurrency(2));
    // The first request waits for its authorize (resumed later), the next ones are decided
    // from the cache in their own callback.
    for _ in 0..3 {
        let mut r = get(&format!("/things?user_key={USER_KEY}"));
        for (k, v) in CLIENT_HEADERS {
            r = r.header(k, v);
        }
        let r = r.send(s.port());
        assert_eq!(r.status, 200, "{r}");
        upstream_saw_the_operations(&r.echo());
        client_got_the_operations(&r);
    }
    let calls = s.backend.requests();
    let authorizes = calls
        .iter()
        .filter(|r| r.path == "/transactions/authorize.xml");
    assert_eq!(authorizes.count(), 1, "then the cache decides");
}

#[test]
fn a_batched_report_carries_the_status_the_client_got() {
    // APIcast reports `$status`, the status after its header filters: the overwritten one.
    let codes = json!({"name": "statuscode_overwrite", "configuration": {
        "http_statuses": [{"upstream": 503, "apicast": 502}]}});
    let mut c = with_chain(json!([apicast(), codes]), json!({}));
    c["backend"]["batching"] = json!({"auths_ttl": 30, "batch_report_seconds": 1});
    c["backend"]["report_response_codes"] = json!(true);
    let s = Stack::start_with(c, backend_state(), |b| b.concurrency(2));
    for path in ["/status/503", "/status/200"] {
        let r = get(&format!("{path}?user_key={USER_KEY}")).send(s.port());
        assert_eq!(r.status, if path == "/status/503" { 502 } else { 200 });
    }
    e2e::wait_until(std::time::Duration::from_secs(20), || {
        s.backend.logged().len() >= 2
    });
    let mut codes: Vec<_> = s.backend.logged().into_iter().map(|l| l.code).collect();
    codes.sort();
    assert_eq!(codes, [Some("200".to_string()), Some("502".to_string())]);
}

#[test]
fn operations_before_apicast_are_what_credential_extraction_reads() {
    let headers = |ops: Value| json!({"name": "headers", "configuration": {"request": ops}});
    let in_headers = json!({"credentials_location": "headers", "auth_user_key": "X-Api-Key"});
    // A key set before apicast authorizes a request that carries none.
    let set = headers(json!([{"op": "set", "header": "X-Api-Key", "value": USER_KEY}]));
    let s = start(json!([set, apicast()]), in_headers.clone());
    let r = get("/things").send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(values(&r.echo(), "x-api-key"), [USER_KEY]);
    assert_eq!(s.authreps()[0].param("user_key"), Some(USER_KEY));

    // A key deleted before apicast is missing; deleted after apicast, it authorized the
    // request and the upstream does not get it.
    let delete = headers(json!([{"op": "delete", "header": "X-Api-Key"}]));
    let s = start(json!([delete.clone(), apicast()]), in_headers.clone());
    let r = get("/things").header("X-Api-Key", USER_KEY).send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, "Authentication parameters missing")
    );
    assert!(s.authreps().is_empty() && s.echo.request_count() == 0);
    let s = start(json!([apicast(), delete]), in_headers);
    let r = get("/things").header("X-Api-Key", USER_KEY).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert!(!r.echo().has_header("x-api-key"));
    assert_eq!(s.authreps()[0].param("user_key"), Some(USER_KEY));
}

#[test]
fn an_operation_on_a_header_tollgate_sets_or_strips_keeps_envoy_from_starting() {
    for header in ["X-3scale-Proxy-Secret-Token", "x_3scale_debug", "Host"] {
        let op = json!({"name": "headers", "configuration": {"request": [
            {"op": "set", "header": header, "value": "forged"}]}});
        let log = e2e::Envoy::builder()
            .filter_config(&with_chain(json!([op, apicast()]), json!({})).to_string())
            .start_expect_failure()
            .expect("Envoy must refuse the configuration");
        assert!(
            log.contains(
                "invalid configuration: services[0].proxy.policy_chain[0].configuration.request[0].header: \
                 set or removed by Tollgate itself"
            ),
            "{header}: {log}"
        );
    }
}

#[test]
fn statuscode_overwrite_replaces_upstream_and_own_statuses() {
    // TESTs 1 and 2 of t/apicast-policy-statuscode_overwrite.t: before and after apicast.
    let codes = json!({"name": "statuscode_overwrite", "version": "builtin", "configuration": {
        "http_statuses": [{"upstream": 200, "apicast": 201}, {"upstream": 403, "apicast": 401},
                          {"upstream": 404, "apicast": 410}]}});
    for chain in [json!([codes, apicast()]), json!([apicast(), codes])] {
        let s = start(chain, json!({}));
        for (path, status) in [("/", 201), ("/status/403", 401), ("/status/401", 401)] {
            let r = get(&format!("{path}?user_key={USER_KEY}")).send(s.port());
            assert_eq!(r.status, status, "{path}: {r}");
            assert!(r.from_echo(), "the upstream's body: {r}");
        }
        let r = get(&format!("/status/418?user_key={USER_KEY}")).send(s.port());
        assert_eq!(r.status, 418, "not listed: unchanged");
        // A body that came chunked, and HTTP/2.
        let r = Request::post(&format!("/status/404?user_key={USER_KEY}"))
            .header("Host", HOST)
            .header("Transfer-Encoding", "chunked")
            .body("3\r\nabc\r\n0\r\n\r\n")
            .send(s.port());
        assert_eq!(r.status, 410, "{r}");
        assert_eq!(r.echo().body, "abc");
        let r = Curl::new("GET", &format!("/?user_key={USER_KEY}"))
            .http2()
            .header("Host", HOST)
            .send(s.port());
        assert_eq!(r.status, 201, "{r}");
        assert!(r.from_echo());
        // Tollgate's own replies pass through the same phase, as APIcast's do.
        let r = get("/?user_key=unknown").send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (401, "Authentication failed"),
            "403 overwritten"
        );
        let r = Request::delete(&format!("/?user_key={USER_KEY}"))
            .header("Host", HOST)
            .send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (410, "No Mapping Rule matched")
        );
        let r = get("/").send(s.port());
        assert_eq!(r.status, 401, "401 is not listed");
        assert_eq!(s.echo.request_count(), 6);
    }
}

fn cors_default() -> Value {
    json!({"name": "apicast.policy.cors"})
}

fn preflight(target: &str) -> Request {
    Request::options(target)
        .header("Host", HOST)
        .header("Origin", "http://example.com")
        .header("Access-Control-Request-Method", "GET")
}

/// TEST 1 of t/apicast-policy-cors.t: 204 and the headers echoing the request.
fn is_preflight_answer(r: &Response) {
    assert_eq!((r.status, r.body.as_str()), (204, ""), "{r}");
    assert_eq!(r.header("access-control-allow-methods"), Some("GET"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://example.com")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
}

#[test]
fn a_cors_preflight_is_answered_without_credentials_backend_or_upstream() {
    let s = start(json!([cors_default(), apicast()]), json!({}));
    is_preflight_answer(&preflight("/things").send(s.port()));
    let r = preflight("/things")
        .header("Access-Control-Request-Headers", "X-Api-Key, Content-Type")
        .send(s.port());
    is_preflight_answer(&r);
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("X-Api-Key, Content-Type")
    );
    // With a chunked body it never reads, and over HTTP/2.
    let r = preflight("/things")
        .header("Transfer-Encoding", "chunked")
        .body("4\r\nbody\r\n0\r\n\r\n")
        .send(s.port());
    is_preflight_answer(&r);
    let r = Curl::new("OPTIONS", "/things")
        .http2()
        .header("Host", HOST)
        .header("Origin", "http://example.com")
        .header("Access-Control-Request-Method", "GET")
        .send(s.port());
    is_preflight_answer(&r);
    assert!(s.authreps().is_empty(), "no backend call");
    assert_eq!(s.echo.request_count(), 0, "no upstream call");
    assert_eq!(
        s.envoy.stat("wasmcustom.tollgate.requests_preflight"),
        Some(4)
    );

    // Not a preflight (no Access-Control-Request-Method): the 3scale flow answers, with
    // the CORS headers.
    let r = Request::options("/things")
        .header("Host", HOST)
        .header("Origin", "http://example.com")
        .send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, "Authentication parameters missing")
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://example.com")
    );
}

#[test]
fn cors_headers_go_on_answers_and_on_denials() {
    let s = start(json!([cors_default(), apicast()]), json!({}));
    // TEST 2: an actual request echoes the request's values.
    let cors = |r: Request| {
        r.header("Origin", "http://example.com")
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "Content-Type")
    };
    let expect = |r: &Response| {
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("Content-Type")
        );
        assert_eq!(r.header("access-control-allow-methods"), Some("GET"));
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://example.com")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("access-control-max-age"), Some("600"));
    };
    let r = cors(get(&format!("/things?user_key={USER_KEY}"))).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert!(r.from_echo());
    expect(&r);
    // Denied by the backend, and without credentials: the same headers.
    let r = cors(get("/things?user_key=unknown")).send(s.port());
    assert_eq!((r.status, r.body.as_str()), (403, "Authentication failed"));
    expect(&r);
    let r = cors(Request::post("/things").header("Host", HOST))
        .body("{}")
        .send(s.port());
    assert_eq!(r.status, 401, "{r}");
    expect(&r);
    // Without Origin: none.
    let r = get(&format!("/things?user_key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none(), "{r}");
    assert!(r.header("access-control-max-age").is_none());
    assert_eq!(s.echo.request_count(), 2);
}

#[test]
fn cors_configured_values_and_origin_patterns() {
    // TEST 3: configured values.
    let custom = json!({"name": "cors", "configuration": {
        "allow_headers": ["X-Custom-Header-1", "X-Custom-Header-2"],
        "allow_methods": ["POST", "GET", "OPTIONS"], "allow_origin": "*",
        "max_age": 200, "allow_credentials": false}});
    let s = start(json!([custom, apicast()]), json!({}));
    let r = get(&format!("/?user_key={USER_KEY}"))
        .header("Origin", "http://example.com")
        .header("Access-Control-Request-Headers", "Content-Type")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(
        r.header_all("access-control-allow-headers"),
        ["X-Custom-Header-1, X-Custom-Header-2"]
    );
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("POST, GET, OPTIONS")
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("false"));
    assert_eq!(r.header("access-control-max-age"), Some("200"));

    // TEST 4: a pattern; the origin is echoed when it matches, else no Allow-Origin.
    let pattern = json!({"name": "cors", "configuration": {"allow_headers": [],
        "allow_methods": ["POST", "GET", "OPTIONS"], "allow_origin": "(api|web).test.com",
        "max_age": 200, "allow_credentials": false}});
    let s = start(json!([pattern, apicast()]), json!({}));
    for (origin, allowed) in [
        ("http://api.test.com", true),
        ("http://web.test.com", true),
        ("http://staging.test.com", false),
    ] {
        let r = get(&format!("/?user_key={USER_KEY}"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "Content-Type")
            .send(s.port());
        assert_eq!(r.status, 200, "{r}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            allowed.then_some(origin),
            "{r}"
        );
        assert_eq!(
            r.header("access-control-allow-methods"),
            Some("POST, GET, OPTIONS")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("false"));
        assert_eq!(r.header("access-control-max-age"), Some("200"));
        assert!(r.header("access-control-allow-headers").is_none(), "{r}");
    }

    // A pattern Tollgate cannot match is refused, with its path.
    let bad = json!({"name": "cors", "configuration": {"allow_origin": ".*\\.test\\.com"}});
    let log = e2e::Envoy::builder()
        .filter_config(&with_chain(json!([bad, apicast()]), json!({})).to_string())
        .start_expect_failure()
        .expect("Envoy must refuse the configuration");
    assert!(
        log.contains(
            "services[0].proxy.policy_chain[0].configuration.allow_origin: a regex with *"
        ),
        "{log}"
    );
}

#[test]
fn cors_after_apicast_answers_a_preflight_once_credentials_are_found() {
    let s = start(json!([apicast(), cors_default()]), json!({}));
    let r = preflight("/things").send(s.port());
    assert_eq!(r.status, 401, "apicast's rewrite runs first: {r}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://example.com")
    );
    // With a key: answered, without a backend call (APIcast's access phase never runs).
    is_preflight_answer(&preflight(&format!("/things?user_key={USER_KEY}")).send(s.port()));
    assert!(s.authreps().is_empty());
    assert_eq!(s.echo.request_count(), 0);
}

/// `push`/`add` without `value` change nothing (APIcast's `new_header_value(current, nil)`
/// keeps the current value); `set` without one deletes. The module before added empty header
/// lines upstream and to the client (found by an audit, 2026-12-07).
#[test]
fn push_or_add_without_a_value_changes_no_header() {
    let ops = json!({"name": "headers", "configuration": {
        "request": [{"op": "push", "header": "X-Internal"}, {"op": "add", "header": "X-Kept"},
                    {"op": "set", "header": "X-Cleared"}],
        "response": [{"op": "push", "header": "X-Frame"}, {"op": "add", "header": "X-Upstream"}]}});
    let s = start(json!([apicast(), ops]), json!({}));
    let r = get(&format!("/things?user_key={USER_KEY}"))
        .header("X-Kept", "kept")
        .header("X-Cleared", "client")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let seen = r.echo();
    assert_eq!(seen.path, format!("/things?user_key={USER_KEY}"));
    assert_eq!(values(&seen, "x-internal"), Vec::<&str>::new());
    assert_eq!(values(&seen, "x-kept"), ["kept"]);
    assert_eq!(values(&seen, "x-cleared"), Vec::<&str>::new());
    assert!(r.header("x-frame").is_none(), "{r}");
    assert_eq!(r.header_all("x-upstream"), ["echo"]);
    let authreps = s.authreps();
    assert_eq!(authreps.len(), 1);
    assert_eq!(authreps[0].param("usage[hits]"), Some("1"));
}
