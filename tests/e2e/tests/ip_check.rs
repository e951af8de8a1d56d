//! APIcast's `ip_check` policy through real Envoy (2 workers): whitelist and blacklist of IPv4
//! and IPv6 blocks, each client-IP source (Envoy's `source.address`, `X-Forwarded-For`,
//! `X-Real-IP`), a spoofed `X-Forwarded-For`, repeated headers, the policy before and after
//! `apicast`, every request shape, and a service loaded from 3scale System. A denial is 403
//! with the policy's message; it never reaches the upstream nor the backend.

mod support;

use e2e::mock_backend::{App, Service, State};
use e2e::system::{self, Stored, WithSystem};
use e2e::{wait_steady, wait_until, Request, Response};
use serde_json::{json, Value};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::*;

const DENIED: &str = "IP address not allowed\n";

fn ip_check(check: &str, ips: Value, extra: Value) -> Value {
    let mut c = json!({"check_type": check, "ips": ips});
    if let (Some(c), Value::Object(extra)) = (c.as_object_mut(), extra) {
        c.extend(extra);
    }
    json!({"name": "apicast.policy.ip_check", "configuration": c})
}

fn apicast() -> Value {
    json!({"name": "apicast", "version": "builtin"})
}

fn host(id: usize) -> String {
    format!("s{id}.example.com")
}

/// Services 1, 2, ... on hosts `s1.example.com`, ... with these chains (one rule: any method
/// on `/things` → hits).
fn services(chains: Vec<Value>) -> Value {
    let services = chains
        .into_iter()
        .enumerate()
        .map(|(i, chain)| {
            service(
                i as u64 + 1,
                json!(1),
                json!({"hosts": [host(i + 1)], "policy_chain": chain, "proxy_rules": [
                    {"http_method": "ANY", "pattern": "/things", "metric_system_name": "hits", "delta": 1}
                ]}),
            )
        })
        .collect();
    config(services)
}

/// The backend knows services 1..=n, each with an app whose key is `USER_KEY`.
fn state(n: usize) -> State {
    let mut s = State::new();
    for id in 1..=n {
        let id = id.to_string();
        s = s
            .service(
                Service::new(&id)
                    .token(TOKEN)
                    .backend_version("1")
                    .metric("hits", None),
            )
            .app(
                App::new(&id, &format!("app-{id}"))
                    .user_key(USER_KEY)
                    .plan("Basic"),
            );
    }
    s
}

fn start(chains: Vec<Value>, envoy: impl FnOnce(e2e::EnvoyBuilder) -> e2e::EnvoyBuilder) -> Stack {
    let n = chains.len();
    Stack::start_with(services(chains), state(n), |b| envoy(b.concurrency(2)))
}

fn get(id: usize, path: &str) -> Request {
    Request::get(path).header("Host", &host(id))
}

fn keyed(id: usize) -> Request {
    get(id, &format!("/things?user_key={USER_KEY}"))
}

#[track_caller]
fn assert_denied(r: &Response, body: &str) {
    assert_eq!((r.status, r.body.as_str()), (403, body), "{r}");
    assert_eq!(r.header("content-type"), Some("text/plain"), "{r}");
    assert!(!r.from_echo(), "{r}");
}

#[track_caller]
fn assert_allowed(r: &Response) {
    assert_eq!(r.status, 200, "{r}");
    assert!(r.from_echo(), "{r}");
}

/// The authrep calls the backend received for service `id`.
fn authreps_of(s: &Stack, id: usize) -> usize {
    let id = id.to_string();
    s.authreps()
        .iter()
        .filter(|c| c.param("service_id") == Some(id.as_str()))
        .count()
}

fn denials(s: &Stack) -> u64 {
    s.envoy
        .stat("wasmcustom.tollgate.requests_denied.ip_check")
        .unwrap_or(0)
}

#[test]
fn the_tcp_peer_is_checked_and_a_spoofed_x_forwarded_for_is_ignored() {
    // APIcast's TEST 1-4 and 8 (the client is 127.0.0.1), the policy before apicast, and one
    // after it. `use_remote_address`: Envoy's downstream address is the TCP peer.
    let s = start(
        vec![
            json!([
                ip_check("whitelist", json!(["127.0.0.1", "10.0.0.0/8"]), json!({})),
                apicast()
            ]),
            json!([
                ip_check("whitelist", json!(["1.1.1.0/4", "2.2.2.2"]), json!({})),
                apicast()
            ]),
            json!([
                ip_check(
                    "blacklist",
                    json!(["1.1.1.0/4", "127.0.0.1"]),
                    json!({"error_msg": "A custom error message"})
                ),
                apicast()
            ]),
            json!([
                ip_check("blacklist", json!(["1.1.1.0/4", "2.2.2.2"]), json!({})),
                apicast()
            ]),
            json!([
                apicast(),
                ip_check("blacklist", json!(["127.0.0.0/8"]), json!({}))
            ]),
        ],
        |b| b.use_remote_address(),
    );
    let port = s.port();
    assert_allowed(&keyed(1).send(port));
    assert_allowed(&keyed(4).send(port));
    assert_eq!((authreps_of(&s, 1), authreps_of(&s, 4)), (1, 1));

    // Before apicast: denied first, with or without credentials, matching rule or not.
    assert_denied(&keyed(2).send(port), DENIED);
    assert_denied(&get(2, "/things").send(port), DENIED);
    let no_rule = get(2, &format!("/other?user_key={USER_KEY}"));
    assert_denied(&no_rule.send(port), DENIED);
    assert_denied(&keyed(3).send(port), "A custom error message\n");
    // The source is last_caller: a client's X-Forwarded-For or X-Real-IP is not read.
    for (name, value) in [
        ("X-Forwarded-For", "2.2.2.2"),
        ("X-Forwarded-For", "2.2.2.2, 2.2.2.2"),
        ("X-Real-IP", "2.2.2.2"),
    ] {
        assert_denied(&keyed(2).header(name, value).send(port), DENIED);
    }
    assert_denied(
        &keyed(3).header("X-Forwarded-For", "6.6.6.6").send(port),
        "A custom error message\n",
    );

    // After apicast: apicast's own answers first; then the policy's, before any backend call
    // (APIcast calls authrep first: reference apicast-policies.md §1.6).
    let r = get(5, "/things").send(port);
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, "Authentication parameters missing")
    );
    let r = get(5, &format!("/other?user_key={USER_KEY}")).send(port);
    assert_eq!(
        (r.status, r.body.as_str()),
        (404, "No Mapping Rule matched")
    );
    assert_denied(&keyed(5).send(port), DENIED);
    assert_denied(&get(5, "/things?user_key=unknown").send(port), DENIED);

    assert_eq!(s.echo.request_count(), 2, "only the two allowed requests");
    assert_eq!(s.authreps().len(), 2, "denials never reach the backend");
    assert_eq!(denials(&s), 10);
}

#[test]
fn without_use_remote_address_envoy_takes_the_client_address_from_x_forwarded_for() {
    // Envoy's default (use_remote_address: false): its downstream address, hence
    // `source.address`, is the last X-Forwarded-For address. The README says so; this keeps it
    // honest.
    let s = start(
        vec![json!([
            ip_check("blacklist", json!(["127.0.0.1"]), json!({})),
            apicast()
        ])],
        |b| b,
    );
    assert_denied(&keyed(1).send(s.port()), DENIED);
    assert_allowed(&keyed(1).header("X-Forwarded-For", "6.6.6.6").send(s.port()));
    assert_denied(
        &keyed(1)
            .header("X-Forwarded-For", "6.6.6.6, 127.0.0.1")
            .send(s.port()),
        DENIED,
    );
}

/// `request` from `[::1]` to the listener's IPv6 address.
fn send_v6(port: u16, request: &Request) -> Response {
    let mut stream = TcpStream::connect(("::1", port)).expect("connect to [::1]");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(&request.to_bytes()).expect("write");
    e2e::http::read_response(&mut BufReader::new(stream), false).expect("response")
}

#[test]
fn ipv6_clients_against_ipv6_and_ipv4_blocks() {
    let s = start(
        vec![
            json!([
                ip_check("whitelist", json!(["::1/128"]), json!({})),
                apicast()
            ]),
            json!([
                ip_check("blacklist", json!(["::/96", "2001:db8::/32"]), json!({})),
                apicast()
            ]),
            json!([
                ip_check("whitelist", json!(["127.0.0.0/8"]), json!({})),
                apicast()
            ]),
        ],
        |b| b.listener_ipv6().use_remote_address(),
    );
    let port = s.port();
    assert_allowed(&send_v6(port, &keyed(1)));
    assert_denied(&keyed(1).send(port), DENIED);
    assert_denied(&send_v6(port, &keyed(2)), DENIED);
    assert_allowed(&keyed(2).send(port));
    assert_denied(&send_v6(port, &keyed(3)), DENIED);
    assert_allowed(&keyed(3).send(port));
    assert_eq!(s.echo.request_count(), 3);
    assert_eq!(s.authreps().len(), 3);
    assert_eq!(denials(&s), 3);
}

#[test]
fn each_client_ip_source_as_apicast_reads_it() {
    let s = start(
        vec![
            json!([
                ip_check(
                    "blacklist",
                    json!(["1.2.3.4", "2001:db8::/32"]),
                    json!({"client_ip_sources": ["X-Forwarded-For"]})
                ),
                apicast()
            ]),
            json!([
                ip_check(
                    "whitelist",
                    json!(["9.9.9.9", "127.0.0.1"]),
                    json!({"client_ip_sources": ["X-Real-IP", "last_caller"]})
                ),
                apicast()
            ]),
            json!([
                ip_check(
                    "whitelist",
                    json!(["9.9.9.9"]),
                    json!({"client_ip_sources": ["X-Forwarded-For"]})
                ),
                apicast()
            ]),
        ],
        |b| b,
    );
    let port = s.port();
    let xff = |values: &[&str]| {
        values
            .iter()
            .fold(keyed(1), |r, v| r.header("X-Forwarded-For", v))
            .send(port)
    };
    // APIcast's TEST 9: the first element of the header.
    assert_denied(&xff(&["1.2.3.4"]), DENIED);
    assert_allowed(&xff(&["6.6.6.6"]));
    assert_allowed(&xff(&["6.6.6.6, 1.2.3.4"]));
    // A port, and IPv6 with or without brackets (APIcast reads IPv4 only).
    assert_denied(&xff(&["1.2.3.4:8080"]), DENIED);
    assert_denied(&xff(&["[2001:db8::7]:443, 6.6.6.6"]), DENIED);
    assert_denied(&xff(&["2001:db8::7"]), DENIED);
    // APIcast's TEST 10: with two header lines, the first line's first address counts.
    assert_denied(&xff(&["1.2.3.4", "9.9.9.9"]), DENIED);
    assert_allowed(&xff(&["9.9.9.9", "1.2.3.4"]));
    // No address from any source: denied, even by a blacklist.
    assert_denied(&keyed(1).send(port), DENIED);
    assert_denied(&xff(&[", 1.2.3.4"]), DENIED);
    // A value that is no address is in no block: a blacklist lets it through.
    assert_allowed(&xff(&["unknown"]));
    let whitelist = |values: &[&str]| {
        values
            .iter()
            .fold(keyed(3), |r, v| r.header("X-Forwarded-For", v))
            .send(port)
    };
    assert_allowed(&whitelist(&["9.9.9.9, 1.2.3.4"]));
    assert_denied(&whitelist(&["unknown, 9.9.9.9"]), DENIED);
    assert_denied(&whitelist(&["1.2.3.4", "9.9.9.9"]), DENIED);

    // The first source that yields an address wins: X-Real-IP, else the TCP peer.
    assert_allowed(&keyed(2).header("X-Real-IP", "9.9.9.9").send(port));
    assert_denied(&keyed(2).header("X-Real-IP", "8.8.8.8").send(port), DENIED);
    assert_allowed(&keyed(2).send(port));
    // Two X-Real-IP lines (the client's, then a proxy's that appends): APIcast reads a Lua
    // table, no address, and a whitelist denies; the client's line is not taken (found by an
    // audit, 2026-12-06).
    let twice = keyed(2).header("X-Real-IP", "9.9.9.9");
    assert_denied(&twice.header("X-Real-IP", "8.8.8.8").send(port), DENIED);

    let allowed = 7;
    assert_eq!(s.echo.request_count(), allowed);
    assert_eq!(s.authreps().len(), allowed);
    assert_eq!(denials(&s), 11);
    // The upstream receives the client's X-Forwarded-For lines as Envoy forwards them.
    let seen: Vec<_> = s
        .echo
        .requests()
        .iter()
        .filter_map(|r| r.header("x-forwarded-for").map(str::to_string))
        .collect();
    assert!(seen.contains(&"9.9.9.9,1.2.3.4".to_string()), "{seen:?}");
}

#[test]
fn a_denial_answers_every_request_shape_and_nothing_reaches_the_upstream_or_the_backend() {
    use support::adversarial::{assert_none, run_and_check, traps, Case, Expect, SHAPES};
    let s = start(
        vec![
            json!([
                ip_check("whitelist", json!(["10.0.0.0/8"]), json!({})),
                apicast()
            ]),
            json!([
                apicast(),
                ip_check("blacklist", json!(["127.0.0.0/8"]), json!({}))
            ]),
            json!([
                ip_check("whitelist", json!(["127.0.0.1"]), json!({})),
                apicast()
            ]),
        ],
        |b| b.http1_trailers(),
    );
    let key = format!("/things?user_key={USER_KEY}");
    let mut cases = Vec::new();
    for shape in SHAPES {
        for (name, id, target, expect) in [
            ("before, key", 1, key.as_str(), Expect::Denied(403, DENIED)),
            ("before, no key", 1, "/things", Expect::Denied(403, DENIED)),
            ("after, key", 2, key.as_str(), Expect::Denied(403, DENIED)),
            ("allowed", 3, key.as_str(), Expect::Allowed),
        ] {
            let case = Case::new(&host(id), target);
            cases.push((format!("{name}/{shape:?}"), shape, case, expect));
        }
    }
    let failures = run_and_check(&s, &cases, 4);
    assert_none("ip_check", &failures, cases.len());
    assert!(traps(&s).is_empty(), "{:?}", traps(&s));
    let allowed = SHAPES.len();
    assert_eq!(
        s.authreps().len(),
        allowed,
        "only allowed requests are authorized"
    );
    assert_eq!(authreps_of(&s, 3), allowed);
    assert!(denials(&s) >= 3 * SHAPES.len() as u64);
}

#[test]
fn a_service_from_3scale_system_with_ip_check_loads_and_is_enforced() {
    let mock = system::start();
    let chain = |ips: Value| json!([ip_check("whitelist", ips, json!({})), apicast()]);
    let one = service(
        1,
        json!("1"),
        json!({"policy_chain": chain(json!(["10.0.0.0/8"]))}),
    );
    mock.publish(Stored::Production, one).unwrap();
    // A source Tollgate cannot read: that service is skipped, the others load.
    let mut two = service(
        2,
        json!("1"),
        json!({"hosts": ["two.example.com"], "policy_chain": [
            ip_check("whitelist", json!([]), json!({"client_ip_sources": ["proxy_protocol_addr"]})),
            apicast()]}),
    );
    two["system_name"] = json!("two");
    mock.publish(Stored::Production, two).unwrap();
    let config = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": system::block(1)
    });
    let s = Stack::start_with(config, backend_state(), |b| {
        b.with_system(&mock).concurrency(2)
    });
    let get = |host: &str| {
        Request::get(&format!("/?user_key={USER_KEY}"))
            .header("Host", host)
            .send(s.port())
    };
    // Both workers loaded it (each installs a new generation on its own timer: four answers
    // in a row may all come from one worker, so they must hold again 600 ms later).
    assert!(wait_steady(Duration::from_secs(8), || get(
        "api.example.com"
    )
    .status
        == 403));
    assert_denied(&get("api.example.com"), DENIED);
    assert_eq!(get("two.example.com").status, 404, "service 2 is skipped");
    assert!(s.envoy.wait_for_log(
        "client_ip_sources[0]: proxy_protocol_addr is not supported",
        Duration::from_secs(2)
    ));
    // A new version that lets the client in.
    let one = service(
        1,
        json!("1"),
        json!({"policy_chain": chain(json!(["127.0.0.1"]))}),
    );
    mock.publish(Stored::Production, one).unwrap();
    let allowed = std::cell::Cell::new(0);
    assert!(wait_until(Duration::from_secs(5), || (0..4).all(|_| {
        let ok = get("api.example.com").status == 200;
        allowed.set(allowed.get() + usize::from(ok));
        ok
    })));
    assert_eq!(
        s.echo.request_count(),
        allowed.get(),
        "only the allowed requests reached the upstream"
    );
}

#[test]
fn the_client_address_is_read_whatever_other_policies_share_the_chain() {
    // Found by `make bench`: with `headers`, `cors` or `statuscode_overwrite` in the chain, the
    // request was seen through a view that lost `source.address`, and everyone was denied.
    let others = [
        json!({"name": "headers", "configuration": {"request": [{"op": "set", "header": "X-Bench", "value": "1"}]}}),
        json!({"name": "cors", "configuration": {"allow_origin": "*"}}),
        json!({"name": "statuscode_overwrite", "configuration": {"http_statuses": [{"upstream": 500, "apicast": 503}]}}),
    ];
    let mut chains = Vec::new();
    for other in &others {
        for (check, ips) in [("whitelist", "127.0.0.1/32"), ("blacklist", "127.0.0.0/8")] {
            chains.push(json!([
                ip_check(check, json!([ips]), json!({})),
                other,
                apicast()
            ]));
        }
    }
    let s = start(chains, |b| b.use_remote_address());
    for (i, _) in others.iter().enumerate() {
        assert_allowed(&keyed(2 * i + 1).send(s.port()));
        assert_denied(&keyed(2 * i + 2).send(s.port()), DENIED);
    }
}

#[test]
fn public_paths_do_not_escape_an_ip_check_after_apicast_nor_forward_a_preflight() {
    // Found by a review: a public path returned before the denial of an `ip_check` after
    // `apicast` was looked at, and a preflight on it was forwarded.
    let mut cfg = services(vec![
        json!([
            apicast(),
            ip_check("blacklist", json!(["127.0.0.0/8"]), json!({}))
        ]),
        json!([{"name": "maintenance_mode"}, apicast(), {"name": "cors"}]),
    ]);
    for svc in cfg["services"].as_array_mut().unwrap() {
        svc["authentication"] = json!({"public_paths": ["/docs"]});
    }
    let s = Stack::start_with(cfg, state(2), |b| b.concurrency(2).use_remote_address());
    assert_denied(&get(1, "/docs/x").send(s.port()), DENIED);
    let preflight = Request::new("OPTIONS", "/docs/x")
        .header("Host", &host(2))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "GET")
        .send(s.port());
    assert_eq!(preflight.status, 204, "{preflight}");
    assert!(!preflight.from_echo());
    assert_eq!(get(2, "/docs/x").send(s.port()).status, 503, "maintenance");
    assert_eq!(s.echo.request_count(), 0, "nothing reached the upstream");
    assert!(s.authreps().is_empty());
}
