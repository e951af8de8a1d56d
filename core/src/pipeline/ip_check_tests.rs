//! The `ip_check` policy in the pipeline: each client-IP source, whitelist and blacklist (IPv4
//! and IPv6), the answer, and where it stands relative to apicast's checks. A denial never
//! becomes a backend call.

use super::*;
use crate::config::Config;
use serde_json::{json, Value};
use std::cell::Cell;

/// A request's headers and Envoy's `source.address`, counting its reads.
#[derive(Default)]
struct Request {
    headers: Vec<(&'static str, &'static str)>,
    source: Option<&'static str>,
    source_reads: Cell<u32>,
    /// The `source.address` read fails.
    fails: bool,
    failed: Cell<bool>,
}

impl HeaderSource for Request {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
    }
    fn header_ambiguous(&self, name: &str) -> bool {
        let mut values = (self.headers.iter()).filter(|(k, _)| k.eq_ignore_ascii_case(name));
        let first = values.next().map(|(_, v)| v);
        values.any(|(_, v)| Some(v) != first)
    }
    fn source_address(&self) -> Option<String> {
        self.source_reads.set(self.source_reads.get() + 1);
        self.failed.set(self.fails);
        self.source.map(str::to_string)
    }
    fn failed(&self) -> bool {
        self.failed.get()
    }
}

fn from(source: &'static str) -> Request {
    Request {
        source: Some(source),
        ..Request::default()
    }
}

fn with(mut r: Request, name: &'static str, value: &'static str) -> Request {
    r.headers.push((name, value));
    r
}

fn ip_check(configuration: Value) -> Value {
    json!({"name": "apicast.policy.ip_check", "configuration": configuration})
}

fn config(chain: Value) -> Config {
    let v = json!({
        "backend": {"cluster": "b"},
        "services": [{"id": 1, "backend_version": 1,
            "backend_authentication_type": "service_token", "backend_authentication_value": "t",
            "proxy": {"hosts": ["api"], "credentials_location": "headers", "policy_chain": chain,
                "proxy_rules": [{"http_method": "GET", "pattern": "/ok", "metric_system_name": "hits", "delta": 1}]}}]
    });
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

/// ip_check (before apicast, unless `after`) with this configuration.
fn service(configuration: Value, after: bool) -> Config {
    let apicast = json!({"name": "apicast"});
    config(match after {
        false => json!([ip_check(configuration), apicast]),
        true => json!([apicast, ip_check(configuration)]),
    })
}

/// The status and body a request gets; 200 for a backend call to make.
fn answer(config: &Config, path: &str, request: &Request) -> (u16, String) {
    let head = RequestHead {
        method: "GET",
        authority: "api",
        path,
        now_s: 0,
    };
    match begin(config, head, request).and_then(|p| p.authorize()) {
        Ok(Next::Backend(_)) => (200, String::new()),
        Ok(Next::Forward(_)) => panic!("no local authentication here"),
        Err(r) => (r.status, r.body),
    }
}

const DENIED: (u16, &str) = (403, "IP address not allowed\n");

fn status(config: &Config, request: &Request) -> u16 {
    answer(config, "/ok", &with_key(request)).0
}

/// The request with a user_key, so that apicast's checks pass.
fn with_key(r: &Request) -> Request {
    let mut headers = r.headers.clone();
    headers.push(("user_key", "k"));
    Request {
        headers,
        source: r.source,
        ..Request::default()
    }
}

#[test]
fn whitelist_and_blacklist_as_apicast_tests_1_to_4() {
    let client = from("127.0.0.1:40000");
    let list = |check: &str, ips: Value| service(json!({"check_type": check, "ips": ips}), false);
    assert_eq!(
        status(&list("blacklist", json!(["1.1.1.0/4", "2.2.2.2"])), &client),
        200
    );
    assert_eq!(
        status(
            &list("blacklist", json!(["1.1.1.0/4", "127.0.0.1"])),
            &client
        ),
        403
    );
    assert_eq!(
        status(&list("whitelist", json!(["1.1.1.0/4", "2.2.2.2"])), &client),
        403
    );
    assert_eq!(
        status(
            &list("whitelist", json!(["1.1.1.0/4", "127.0.0.1"])),
            &client
        ),
        200
    );
    assert_eq!(
        status(&list("whitelist", json!(["127.0.0.0/8"])), &client),
        200
    );
    // An empty list: a whitelist denies everyone, a blacklist no one.
    assert_eq!(status(&list("whitelist", json!([])), &client), 403);
    assert_eq!(status(&list("blacklist", json!([])), &client), 200);
}

#[test]
fn ipv6_clients_and_blocks() {
    let check = |check: &str| {
        service(
            json!({"check_type": check, "ips": ["2001:db8::/32", "10.0.0.0/8"]}),
            false,
        )
    };
    let (white, black) = (check("whitelist"), check("blacklist"));
    for (source, listed) in [
        ("[2001:db8:1::7]:5000", true),
        ("[2001:db9::1]:5000", false),
        ("[::1]:5000", false),
        // A dual-stack listener writes IPv4 clients as mapped addresses.
        ("[::ffff:10.1.2.3]:5000", true),
        ("10.1.2.3:5000", true),
    ] {
        let client = from(source);
        assert_eq!(
            status(&white, &client),
            if listed { 200 } else { 403 },
            "{source}"
        );
        assert_eq!(
            status(&black, &client),
            if listed { 403 } else { 200 },
            "{source}"
        );
    }
}

#[test]
fn the_answer_is_403_with_the_message_a_newline_and_text_plain() {
    let c = service(json!({"check_type": "whitelist", "ips": []}), false);
    let head = RequestHead {
        method: "GET",
        authority: "api",
        path: "/ok",
        now_s: 0,
    };
    // Decided at the request headers, answered through `authorize` (the worker keeps the
    // response phase's policies for it).
    let Err(reply) = begin(&c, head, &from("10.0.0.1:1")).and_then(|p| p.authorize()) else {
        panic!("denied at the request headers")
    };
    assert_eq!(
        (reply.status, reply.body.as_str(), reply.outcome),
        (403, "IP address not allowed\n", Outcome::IpDenied)
    );
    assert_eq!(
        reply.headers,
        [("content-type".into(), "text/plain".into())]
    );
    let c = service(
        json!({"check_type": "whitelist", "ips": [], "error_msg": "A custom error message"}),
        false,
    );
    assert_eq!(
        answer(&c, "/ok", &from("10.0.0.1:1")),
        (403, "A custom error message\n".into())
    );
}

#[test]
fn each_source_and_the_first_that_yields_an_address_wins() {
    let black = |sources: Value| {
        service(
            json!({"check_type": "blacklist", "ips": ["1.2.3.4", "2001:db8::1"],
                   "client_ip_sources": sources}),
            false,
        )
    };
    let xff = black(json!(["X-Forwarded-For"]));
    // APIcast's TEST 9: only the first element counts.
    assert_eq!(
        status(
            &xff,
            &with(Request::default(), "x-forwarded-for", "1.2.3.4")
        ),
        403
    );
    assert_eq!(
        status(
            &xff,
            &with(Request::default(), "x-forwarded-for", "6.6.6.6")
        ),
        200
    );
    let r = with(Request::default(), "x-forwarded-for", "6.6.6.6, 1.2.3.4");
    assert_eq!(status(&xff, &r), 200);
    // Repeated lines reach the filter joined (Envoy joins them): the first line's counts, as
    // in APIcast's TEST 10.
    let r = with(Request::default(), "x-forwarded-for", "1.2.3.4,9.9.9.9");
    assert_eq!(status(&xff, &r), 403);
    let r = with(Request::default(), "x-forwarded-for", "[2001:db8::1]:443");
    assert_eq!(status(&xff, &r), 403);

    let real = black(json!(["X-Real-IP"]));
    assert_eq!(
        status(&real, &with(Request::default(), "x-real-ip", "1.2.3.4")),
        403
    );
    assert_eq!(
        status(&real, &with(Request::default(), "x-real-ip", "5.5.5.5")),
        200
    );

    // No source yields an address: denied, even by a blacklist (APIcast).
    for check in [&xff, &real, &black(json!(["last_caller"]))] {
        assert_eq!(
            answer(check, "/ok", &Request::default()),
            (403, DENIED.1.into())
        );
    }
    // An empty X-Forwarded-For, or an empty first element, yields none: the next source.
    let both = black(json!(["X-Forwarded-For", "last_caller"]));
    for empty in ["", ", 1.2.3.4", ","] {
        let r = with(from("1.2.3.4:9"), "x-forwarded-for", empty);
        assert_eq!(status(&both, &r), 403, "{empty:?}: last_caller is listed");
        let r = with(from("7.7.7.7:9"), "x-forwarded-for", empty);
        assert_eq!(status(&both, &r), 200, "{empty:?}");
    }
    // Order: the first source that yields a value wins, later ones are not read.
    let r = with(from("1.2.3.4:9"), "x-forwarded-for", "7.7.7.7");
    assert_eq!(status(&both, &r), 200);
    let last_first = black(json!(["last_caller", "X-Forwarded-For"]));
    let r = with(from("7.7.7.7:9"), "x-forwarded-for", "1.2.3.4");
    assert_eq!(
        status(&last_first, &r),
        200,
        "a spoofed X-Forwarded-For is not read"
    );
    let r = with(from("1.2.3.4:9"), "x-forwarded-for", "7.7.7.7");
    assert_eq!(status(&last_first, &r), 403);
    // Duplicated sources are allowed (APIcast's client_ip_spec).
    let dup = black(json!(["X-Real-IP", "X-Forwarded-For", "X-Forwarded-For"]));
    assert_eq!(
        status(
            &dup,
            &with(Request::default(), "x-forwarded-for", "1.2.3.4")
        ),
        403
    );
}

#[test]
fn a_value_that_is_no_address_is_in_no_block() {
    let check = |check: &str| {
        service(
            json!({"check_type": check, "ips": ["0.0.0.0/0", "::/0"],
                   "client_ip_sources": ["X-Real-IP", "last_caller"]}),
            false,
        )
    };
    for garbage in ["unknown", "", "1.2.3.4.5", "example.com"] {
        // It is a value: last_caller (listed) is not asked.
        let r = with(from("1.2.3.4:9"), "x-real-ip", garbage);
        assert_eq!(status(&check("whitelist"), &r), 403, "{garbage:?}");
        assert_eq!(status(&check("blacklist"), &r), 200, "{garbage:?}");
    }
    // A source.address that is no IP address (a pipe) yields none: denied either way.
    for check in [check("whitelist"), check("blacklist")] {
        assert_eq!(status(&check, &from("/run/envoy.sock")), 403);
    }
}

#[test]
fn before_apicast_it_denies_first_after_apicast_once_apicasts_checks_pass() {
    let blocked = from("10.0.0.1:1");
    let before = service(
        json!({"check_type": "blacklist", "ips": ["10.0.0.0/8"]}),
        false,
    );
    // Before: no credentials, no matching rule: still the IP check's answer.
    assert_eq!(answer(&before, "/ok", &blocked), (403, DENIED.1.into()));
    assert_eq!(
        answer(&before, "/none", &with_key(&blocked)),
        (403, DENIED.1.into())
    );
    // After: apicast's own answers first, then the IP check's; never a backend call.
    let after = service(
        json!({"check_type": "blacklist", "ips": ["10.0.0.0/8"]}),
        true,
    );
    assert_eq!(
        answer(&after, "/ok", &blocked),
        (401, "Authentication parameters missing".into())
    );
    assert_eq!(
        answer(&after, "/none", &with_key(&blocked)),
        (404, "No Mapping Rule matched".into())
    );
    assert_eq!(
        answer(&after, "/ok", &with_key(&blocked)),
        (403, DENIED.1.into())
    );
    assert_eq!(answer(&after, "/ok", &with_key(&from("11.0.0.1:1"))).0, 200);
}

#[test]
fn chain_order_between_policies_that_answer() {
    let maintenance = json!({"name": "maintenance_mode"});
    let deny_all = ip_check(json!({"check_type": "whitelist", "ips": []}));
    let allow_all = ip_check(json!({"check_type": "blacklist", "ips": [], "error_msg": "second"}));
    let apicast = json!({"name": "apicast"});
    let client = with_key(&from("10.0.0.1:1"));
    let c = config(json!([deny_all, maintenance, apicast]));
    assert_eq!(answer(&c, "/ok", &client), (403, DENIED.1.into()));
    let c = config(json!([maintenance, deny_all, apicast]));
    assert_eq!(answer(&c, "/ok", &client).0, 503);
    // Every ip_check must pass.
    let c = config(json!([allow_all, deny_all, apicast]));
    assert_eq!(answer(&c, "/ok", &client), (403, DENIED.1.into()));
    let second = ip_check(json!({"check_type": "whitelist", "ips": [], "error_msg": "second"}));
    let c = config(json!([allow_all, second, apicast]));
    assert_eq!(answer(&c, "/ok", &client), (403, "second\n".into()));
}

#[test]
fn source_address_is_read_only_when_a_source_reaches_it_and_a_failed_read_fails_closed() {
    let head = RequestHead {
        method: "GET",
        authority: "api",
        path: "/ok",
        now_s: 0,
    };
    let r = with_key(&from("10.0.0.1:1"));
    let _ = begin(&config(json!([{"name": "apicast"}])), head, &r);
    let _ = begin(&config(Value::Null), head, &r);
    assert_eq!(r.source_reads.get(), 0, "no ip_check: not read");
    let c = service(
        json!({"check_type": "whitelist", "ips": ["10.0.0.1"],
               "client_ip_sources": ["X-Forwarded-For", "last_caller"]}),
        false,
    );
    let r = with(with_key(&from("10.0.0.1:1")), "x-forwarded-for", "10.0.0.1");
    assert!(begin(&c, head, &r).is_ok());
    assert_eq!(r.source_reads.get(), 0, "X-Forwarded-For yielded one");
    let r = with_key(&from("10.0.0.1:1"));
    assert!(begin(&c, head, &r).is_ok());
    assert_eq!(r.source_reads.get(), 1);
    // The host call fails: the worker answers 500 on `failed()`, whatever begin decided.
    let r = Request {
        fails: true,
        ..with_key(&from("10.0.0.1:1"))
    };
    let _ = begin(&c, head, &r);
    assert!(r.failed());
}

/// A repeated X-Real-IP (the client's line, then an appending proxy's): APIcast's
/// `ngx.req.get_headers()['X-Real-IP']` is then a Lua table, no address: a whitelist denies
/// (the first line was taken; found by an audit, 2026-12-06).
#[test]
fn a_repeated_x_real_ip_is_no_address() {
    let check = service(
        json!({"check_type": "whitelist", "ips": ["10.0.0.0/8"],
               "client_ip_sources": ["X-Real-IP", "last_caller"]}),
        false,
    );
    let r = with(
        with(Request::default(), "x-real-ip", "10.1.1.1"),
        "x-real-ip",
        "203.0.113.9",
    );
    assert_eq!(status(&check, &r), 403);
    let r = with(Request::default(), "x-real-ip", "10.1.1.1");
    assert_eq!(status(&check, &r), 200);
    // A blacklist too: the listed address may be either line.
    let blacklist = service(
        json!({"check_type": "blacklist", "ips": ["203.0.113.0/24"],
               "client_ip_sources": ["X-Real-IP"]}),
        false,
    );
    let twice = |a, b| with(with(Request::default(), "x-real-ip", a), "x-real-ip", b);
    assert_eq!(status(&blacklist, &twice("10.1.1.1", "203.0.113.9")), 403);
    assert_eq!(status(&blacklist, &twice("203.0.113.9", "10.1.1.1")), 403);
    assert_eq!(status(&blacklist, &twice("10.1.1.1", "10.1.1.1")), 200);
}
