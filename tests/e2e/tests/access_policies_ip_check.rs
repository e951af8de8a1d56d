//! Audit (2026-12-06) of `ip_check`, through real Envoy: the client's address from Envoy's
//! `X-Forwarded-For` reading in mapped and odd spellings, and `X-Real-IP` repeated or
//! padded. Each test asserts what the client got, what the upstream (echo) received and what
//! the mock backend was asked.

mod support;

use e2e::mock_backend::{App, Service};
use e2e::Request;
use serde_json::{json, Value};
use support::access_policies::{apicast, ip_check, IP_DENIED};
use support::*;

fn ip_stack(chains: Vec<Value>, remote: bool) -> Stack {
    let services = chains
        .into_iter()
        .enumerate()
        .map(|(i, chain)| {
            // Service ids 3.. (backend_state's service 2 is an app_id one).
            let id = i as u64 + 3;
            let mut s = service(
                1,
                json!("1"),
                json!({"policy_chain": chain,
                "hosts": [format!("s{}.example.com", i + 1)]}),
            );
            s["id"] = json!(id);
            s["system_name"] = json!(format!("service-{id}"));
            s
        })
        .collect();
    let mut state = backend_state();
    for id in 3..=8 {
        state = state
            .service(
                Service::new(&id.to_string())
                    .token(TOKEN)
                    .backend_version("1")
                    .metric("hits", None),
            )
            .app(
                App::new(&id.to_string(), &format!("app-{id}"))
                    .user_key(USER_KEY)
                    .plan("Basic"),
            );
    }
    Stack::start_with(config(services), state, |b| {
        let b = b.concurrency(2);
        if remote {
            b.use_remote_address()
        } else {
            b
        }
    })
}

fn on(id: usize, r: Request) -> Request {
    r.header("Host", &format!("s{id}.example.com"))
}

fn keyed(id: usize) -> Request {
    on(id, Request::get(&format!("/things?user_key={USER_KEY}")))
}

/// Envoy's default (`use_remote_address: false`) takes `source.address` from the last
/// `X-Forwarded-For` element: an IPv4-mapped IPv6 spelling of a blacklisted address, or a
/// second header line, must not slip past a `last_caller` blacklist; a whitelist written as
/// an IPv4-mapped block covers IPv4 clients; `/0` and `/32` edges hold.
#[test]
fn last_caller_from_envoys_forwarded_address_in_mapped_and_odd_spellings() {
    let s = ip_stack(
        vec![
            json!([
                ip_check("blacklist", json!(["127.0.0.0/8", "10.0.0.1/32"]), None),
                apicast()
            ]),
            json!([
                ip_check("whitelist", json!(["::ffff:0:0/96"]), None),
                apicast()
            ]),
            json!([ip_check("whitelist", json!(["0.0.0.0/0"]), None), apicast()]),
            json!([ip_check("blacklist", json!(["::/0"]), None), apicast()]),
        ],
        false,
    );
    let p = s.port();
    // 1: the client's address as Envoy derives it from the last XFF element.
    for xff in [
        "6.6.6.6, ::ffff:127.0.0.1",
        "6.6.6.6, ::ffff:10.0.0.1",
        "6.6.6.6,10.0.0.1",
        "[::ffff:10.0.0.1]:80",
    ] {
        let r = keyed(1).header("X-Forwarded-For", xff).send(p);
        assert!(
            !r.from_echo() && r.status >= 400,
            "blacklisted client via XFF {xff:?}: {r}"
        );
    }
    // Two header lines: Envoy joins them; the last element is the address.
    let r = keyed(1)
        .header("X-Forwarded-For", "6.6.6.6")
        .header("X-Forwarded-For", "127.0.0.1")
        .send(p);
    assert_eq!((r.status, r.body.as_str()), (403, IP_DENIED), "{r}");
    let r = keyed(1).header("X-Forwarded-For", "6.6.6.6").send(p);
    assert_eq!(r.status, 200, "{r}");
    // 2: a mapped block is the IPv4 world; 3: /0 is every IPv4 client.
    assert_eq!(keyed(2).send(p).status, 200);
    assert_eq!(
        keyed(2)
            .header("X-Forwarded-For", "2001:db8::1")
            .send(p)
            .status,
        403
    );
    assert_eq!(keyed(3).send(p).status, 200);
    assert_eq!(
        keyed(3)
            .header("X-Forwarded-For", "2001:db8::1")
            .send(p)
            .status,
        403
    );
    // 4: `::/0` is every IPv6 client, no IPv4 one (README).
    assert_eq!(keyed(4).send(p).status, 200);
    assert_eq!(
        keyed(4)
            .header("X-Forwarded-For", "2001:db8::1")
            .send(p)
            .status,
        403
    );
    assert_eq!(
        s.echo.request_count(),
        4,
        "only the allowed requests reached the upstream"
    );
    assert_eq!(s.authreps().len(), 4, "denials never reach the backend");
}

/// `X-Real-IP` as a source: repeated lines with different values are denied, by a blacklist
/// too (whose line is the client's depends on whether the proxy in front appends or
/// prepends; the twenty-third session's audit), and a value with spaces or a port.
#[test]
fn x_real_ip_source_repeated_and_padded() {
    let s = ip_stack(
        vec![json!([
            ip_check(
                "blacklist",
                json!(["1.2.3.0/24", "2001:db8::/32"]),
                Some(json!(["X-Real-IP"]))
            ),
            apicast()
        ])],
        true,
    );
    let p = s.port();
    for (values, denied) in [
        (vec!["1.2.3.4"], true),
        (vec![" 1.2.3.4 "], true),
        (vec!["1.2.3.4:99"], true),
        (vec!["[2001:db8::1]:99"], true),
        (vec!["1.2.3.4", "9.9.9.9"], true),
        (vec!["9.9.9.9", "1.2.3.4"], true),
        (vec!["9.9.9.9", "9.9.9.9"], false),
        (vec!["9.9.9.9"], false),
    ] {
        let r = values
            .iter()
            .fold(keyed(1), |r, v| r.header("X-Real-IP", v))
            .send(p);
        if denied {
            assert_eq!(
                (r.status, r.body.as_str()),
                (403, IP_DENIED),
                "{values:?}: {r}"
            );
        } else {
            assert_eq!(r.status, 200, "{values:?}: {r}");
        }
    }
    assert_eq!(s.echo.request_count(), 2);
    assert_eq!(s.authreps().len(), 2);
}
