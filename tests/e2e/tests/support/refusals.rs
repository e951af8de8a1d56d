//! Configurations a safe filter must refuse: the stack when Envoy started it, or the log that
//! names the JSON path the filter refused (for the `*_downgrades.rs` tests).

use super::{backend_state, service, Stack, APP_ID, APP_KEY};
use e2e::mock_backend::{MockBackend, State};
use e2e::system::{self, MockSystem, Stored, WithSystem};
use e2e::{wait_until, EchoUpstream, Envoy, Request, Response};
use serde_json::{json, Value};
use std::time::Duration;

/// The stack, or Envoy's log when the filter refused the configuration (JSON text).
pub fn start_or_refused(config: &str, state: State) -> Result<Stack, String> {
    let echo = EchoUpstream::start().expect("echo upstream");
    let backend = MockBackend::start(state).expect("mock backend");
    let started = Envoy::builder()
        .upstream_port(echo.port())
        .backend_port(backend.port())
        .filter_config(config)
        .start();
    match started {
        Ok(envoy) => Ok(Stack {
            echo,
            backend,
            envoy,
        }),
        Err(e) => Err(e.to_string()),
    }
}

/// Refused naming one of `paths` (or a field under it), or `check` holds on the running stack.
pub fn refused_at_or(config: Value, state: State, paths: &[&str], check: impl FnOnce(&Stack)) {
    refused_text_at_or(&config.to_string(), state, paths, check);
}

/// [`refused_at_or`] for a configuration given as text (one JSON cannot hold, say a key twice).
pub fn refused_text_at_or(config: &str, state: State, paths: &[&str], check: impl FnOnce(&Stack)) {
    match start_or_refused(config, state) {
        Err(log) => assert!(
            paths
                .iter()
                .any(|p| log.contains(&format!("invalid configuration: {p}"))),
            "refused, but not at {paths:?}: {log}"
        ),
        Ok(s) => check(&s),
    }
}

/// A response's status and body, for messages.
pub fn describe(r: &Response) -> String {
    format!("{} {:?}", r.status, r.body)
}

/// Envoy loading from a mock System service 1 with `proxy` and service 2 on
/// `two.example.com`, once service 2 serves.
pub fn served_beside(proxy: Value) -> (Stack, MockSystem) {
    let mock = system::start();
    let one = service(1, json!(1), proxy);
    mock.publish(Stored::Production, one).unwrap();
    let two = service(2, json!(2), json!({"hosts": ["two.example.com"]}));
    mock.publish(Stored::Production, two).unwrap();
    let cfg = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": system::block(60)
    });
    let s = Stack::start_with(cfg, backend_state(), |b| b.with_system(&mock));
    let two = || {
        Request::get(&format!("/?app_id={APP_ID}&app_key={APP_KEY}"))
            .header("Host", "two.example.com")
            .send(s.port())
    };
    assert!(
        wait_until(Duration::from_secs(8), || two().status == 200),
        "service 2 never served"
    );
    (s, mock)
}

/// Only service 2 of [`served_beside`] reached the upstream and the backend.
pub fn only_service_two_served(s: &Stack) {
    let upstream: Vec<String> = (s.echo.requests().iter())
        .map(|r| r.header("host").unwrap_or_default().to_string())
        .collect();
    assert!(
        upstream.iter().all(|h| h == "two.example.com"),
        "the upstream got {upstream:?}"
    );
    let asked: Vec<String> = (s.authreps().iter())
        .map(|r| r.param("service_id").unwrap_or("?").to_string())
        .collect();
    assert!(
        asked.iter().all(|id| id == "2"),
        "the backend got {asked:?}"
    );
}
