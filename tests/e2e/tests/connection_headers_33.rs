//! The thirty-third session's red team of connection-level headers (2026-12-07).
//!
//! Found: a `headers` request operation on a hop-by-hop header (`Connection`, `Keep-Alive`,
//! `Proxy-Connection`, `TE`, `Upgrade`) was carried out as written. Envoy strips the client's
//! hop-by-hop headers before the filter, not the ones a filter sets, so the upstream got
//! `Connection: X-3scale-Proxy-Secret-Token` (or `user_key`): an HTTP/1 hop before the
//! upstream drops the header named, the secret token or the key the filter checked. With
//! `Upgrade: websocket` and `Connection: upgrade` the upstream's 101 reached a client that
//! asked no upgrade (a front proxy takes its connection for a tunnel), and a POST's checked
//! body never reached the upstream (504). Such an operation is now refused at its path; from
//! 3scale System only that service is skipped. The refusal test failed on s33a.
//!
//! Held (kept for their shapes): a client's `Connection` naming `user_key` or the secret token,
//! `Proxy-Connection`, `Keep-Alive`, `TE` and `Upgrade` (no `upgrade_configs`): Envoy removes
//! the header named before the filter, so the key is missing (401) and a forged token is gone;
//! the upstream gets Tollgate's token once. Also probed, held: `Connection`, `Upgrade`, `TE`,
//! `Keep-Alive` set before or after `apicast`, and `Expect: 100-continue` set (sent upstream,
//! the body follows at once; APIcast drops it, left allowed).

mod support;

use e2e::http::send_raw;
use e2e::Request;
use serde_json::{json, Value};
use std::time::Duration;
use support::refusals::*;
use support::*;

const HOST: &str = "api.example.com";
const SECRET: &str = "the-secret";

/// Service 1 (`user_key` in a header, secret token [`SECRET`]) with a `headers` policy of
/// request operations `ops`, before or after `apicast`.
fn proxy(ops: Value, before: bool) -> Value {
    let headers = json!({"name": "headers", "configuration": {"request": ops}});
    let chain = if before {
        json!([headers, {"name": "apicast"}])
    } else {
        json!([{"name": "apicast"}, headers])
    };
    json!({"credentials_location": "headers", "secret_token": SECRET, "policy_chain": chain,
        "proxy_rules": [
            {"http_method": "POST", "pattern": "/things", "metric_system_name": "hits", "delta": 1},
            {"http_method": "GET", "pattern": "/things", "metric_system_name": "hits", "delta": 1}]})
}

/// An upstream's answer switching to WebSocket.
const SWITCHING: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

/// What the upstream got, one line a request, headers included.
fn upstream(s: &Stack) -> Vec<String> {
    (s.echo.requests().iter())
        .map(|r| format!("{} {} {:?} body {:?}", r.method, r.path, r.headers, r.body))
        .collect()
}

#[test]
fn a_request_header_operation_on_a_hop_by_hop_header_is_refused() {
    let set = |name: &str, value: &str| json!({"op": "set", "header": name, "value": value});
    let cases = [
        json!([set("Connection", "X-3scale-Proxy-Secret-Token")]),
        json!([set("connection", "user_key")]),
        json!([set("Keep-Alive", "timeout=1")]),
        json!([set("proxy_connection", "close")]),
        json!([set("TE", "chunked")]),
        json!([{"op": "delete", "header": "Upgrade"}]),
    ];
    for before in [true, false] {
        let at = format!(
            "services[0].proxy.policy_chain[{}].configuration.request[0].header",
            if before { 0 } else { 1 }
        );
        for ops in &cases {
            let cfg = config(vec![service(1, json!(1), proxy(ops.clone(), before))]);
            refused_at_or(cfg, backend_state(), &[&at], |s| {
                let r = Request::post("/things")
                    .header("Host", HOST)
                    .header("user_key", USER_KEY)
                    .body("body")
                    .timeout(Duration::from_secs(3))
                    .try_send(s.port());
                std::thread::sleep(Duration::from_millis(300));
                panic!(
                    "{ops} before {before} accepted: {:?}; upstream {:?}; {} authrep(s)",
                    r.map(|r| describe(&r)),
                    upstream(s),
                    s.authreps().len()
                );
            });
        }
        // The upgrade a policy asked for: the upstream's 101 reached a client that asked none.
        let ops = json!([set("Upgrade", "websocket"), set("Connection", "upgrade")]);
        let cfg = config(vec![service(1, json!(1), proxy(ops, before))]);
        let (port, got) = raw_upstream(SWITCHING);
        match start_or_refused_on(&cfg, port) {
            Err(log) => assert!(
                log.contains(&format!("invalid configuration: {at}")),
                "refused, but not at {at}: {log}"
            ),
            Ok(s) => {
                let wire = format!("GET /things HTTP/1.1\r\nHost: {HOST}\r\nuser_key: {USER_KEY}\r\nConnection: close\r\n\r\n");
                let r = send_raw(s.port(), wire.as_bytes()).map(|r| describe(&r));
                let up = String::from_utf8_lossy(&got.lock().unwrap()).into_owned();
                panic!("upgrade before {before} accepted: client {r:?}; upstream {up:?}");
            }
        }
    }
}

/// [`start_or_refused`] with the upstream at `port`.
fn start_or_refused_on(cfg: &Value, port: u16) -> Result<Stack, String> {
    let echo = e2e::EchoUpstream::start().expect("echo upstream");
    let backend = e2e::mock_backend::MockBackend::start(backend_state()).expect("mock backend");
    let started = e2e::Envoy::builder()
        .upstream_port(port)
        .backend_port(backend.port())
        .filter_config(&cfg.to_string())
        .start();
    started
        .map(|envoy| Stack {
            echo,
            backend,
            envoy,
        })
        .map_err(|e| e.to_string())
}

/// From 3scale System the service is skipped: 404, nothing upstream, no backend call for it.
#[test]
fn a_system_service_setting_connection_is_skipped() {
    let ops =
        json!([{"op": "set", "header": "Connection", "value": "X-3scale-Proxy-Secret-Token"}]);
    let (s, _mock) = served_beside(proxy(ops, true));
    assert!(
        s.envoy.wait_for_log("hop-by-hop", Duration::from_secs(2)),
        "service 1 was not skipped for its Connection operation"
    );
    let r = Request::get("/things")
        .header("Host", HOST)
        .header("user_key", USER_KEY)
        .send(s.port());
    assert_eq!(r.status, 404, "service 1 served: {}", describe(&r));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !upstream(&s).iter().any(|r| r.contains("/things")),
        "the upstream got {:?}",
        upstream(&s)
    );
    only_service_two_served(&s);
}

/// Held: Envoy removes what a client's hop-by-hop headers name before the filter reads them.
#[test]
fn a_clients_connection_header_naming_the_key_or_the_token_removes_it_before_the_filter() {
    let tier = json!([{"op": "set", "header": "X-Tier", "value": "gold"}]);
    let s = Stack::start(config(vec![service(1, json!(1), proxy(tier, true))]));
    let send = |extra: &str| {
        s.echo.clear();
        s.backend.clear_requests();
        let wire =
            format!("GET /things HTTP/1.1\r\nHost: {HOST}\r\n{extra}Connection: close\r\n\r\n");
        let r = send_raw(s.port(), wire.as_bytes()).expect("an answer");
        std::thread::sleep(Duration::from_millis(300));
        r
    };
    let key = format!("user_key: {USER_KEY}\r\n");
    for named in [
        format!("{key}Connection: user_key\r\n"),
        format!("{key}user_key: uk-disabled\r\nConnection: close, USER_KEY\r\n"),
        format!("{key}Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings, user_key\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"),
    ] {
        let r = send(&named);
        assert_eq!(r.status, 401, "{named:?}: {}", describe(&r));
        assert_eq!(r.body, "Authentication parameters missing", "{named:?}");
        assert_eq!(upstream(&s), Vec::<String>::new(), "{named:?}");
        assert_eq!(s.authreps().len(), 0, "{named:?}: the backend was asked");
    }
    // Without `upgrade_configs` Envoy refuses a client's websocket upgrade itself.
    let r = send(&format!(
        "{key}Upgrade: websocket\r\nConnection: upgrade\r\n"
    ));
    assert_eq!(r.status, 403, "{}", describe(&r));
    assert_eq!(upstream(&s), Vec::<String>::new());
    assert_eq!(s.authreps().len(), 0, "the backend was asked");
    for hop in [
        format!("{key}X-3scale-Proxy-Secret-Token: forged\r\nConnection: X-3scale-Proxy-Secret-Token, X-Tier\r\nX-Tier: free\r\n"),
        format!("{key}Proxy-Connection: user_key\r\nKeep-Alive: user_key\r\nTE: trailers, user_key\r\n"),
    ] {
        let r = send(&hop);
        assert_eq!(r.status, 200, "{hop:?}: {}", describe(&r));
        let seen = r.echo();
        let all = |n: &str| -> Vec<&str> {
            (seen.headers.iter())
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert_eq!(all("x-3scale-proxy-secret-token"), vec![SECRET], "{hop:?}");
        assert_eq!(all("user_key"), vec![USER_KEY], "{hop:?}");
        assert_eq!(all("x-tier"), vec!["gold"], "{hop:?}");
        for gone in ["connection", "proxy-connection", "keep-alive"] {
            assert_eq!(all(gone), Vec::<&str>::new(), "{hop:?}: {gone}");
        }
        let reps = s.authreps();
        assert_eq!(reps.len(), 1, "{hop:?}");
        assert_eq!(reps[0].param("user_key"), Some(USER_KEY), "{hop:?}");
    }
}
