//! Shared fixture for the filter's end-to-end tests: echo upstream + mock 3scale backend +
//! real Envoy loading tollgate.wasm with a given configuration.
#![allow(dead_code)]

pub mod access_policies;
pub mod adversarial;
pub mod apisonator;
pub mod batching;
pub mod body_shapes;
pub mod cache;
pub mod dyn_envoy;
pub mod local_auth;
pub mod locations;
pub mod own_jwt;
pub mod pieces;
pub mod refusals;
pub mod split;

use e2e::mock_backend::{App, MockBackend, Period, Service, State};
use e2e::{EchoUpstream, Envoy};
use serde_json::{json, Value};

pub const TOKEN: &str = "svc-token-1";
pub const USER_KEY: &str = "uk-valid";
pub const APP_ID: &str = "app-2";
pub const APP_KEY: &str = "key-2";

/// Everything one test talks to; dropping it stops Envoy.
pub struct Stack {
    pub echo: EchoUpstream,
    pub backend: MockBackend,
    pub envoy: Envoy,
}

/// The backend: service 1 (user_key) and service 2 (app_id/app_key), metrics hits > get_foo,
/// a user_key app limited to 1000 hits a minute, an app whose key was given `&`, `=`, `%`.
pub fn backend_state() -> State {
    State::new()
        .service(
            Service::new("1")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None)
                .metric("get_foo", Some("hits"))
                .metric("disabled", None),
        )
        .service(
            Service::new("2")
                .token(TOKEN)
                .backend_version("2")
                .metric("hits", None),
        )
        .app(
            App::new("1", "app-1")
                .user_key(USER_KEY)
                .plan("Basic")
                .limit("hits", Period::Minute, 1000),
        )
        .app(
            App::new("1", "app-special")
                .user_key("a&b=c%d e")
                .plan("Basic"),
        )
        .app(
            App::new("1", "app-empty-limit")
                .user_key("uk-limited")
                .plan("Tiny")
                .limit("hits", Period::Minute, 0),
        )
        .app(
            App::new("1", "app-disabled")
                .user_key("uk-disabled")
                .plan("Basic")
                .disable_metric("disabled"),
        )
        .app(App::new("2", APP_ID).app_keys(&[APP_KEY]).plan("Basic"))
}

/// A service object in APIcast's shape; `proxy` fields are merged over the defaults.
pub fn service(id: u64, version: Value, proxy: Value) -> Value {
    let mut base = json!({
        "hosts": ["api.example.com"],
        "proxy_rules": [
            {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}
        ]
    });
    if let (Some(b), Value::Object(extra)) = (base.as_object_mut(), proxy) {
        b.extend(extra);
    }
    json!({
        "id": id,
        "system_name": format!("service-{id}"),
        "backend_version": version,
        "backend_authentication_type": "service_token",
        "backend_authentication_value": TOKEN,
        "proxy": base
    })
}

pub fn config(services: Vec<Value>) -> Value {
    json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "services": services
    })
}

/// Waits for the next minute when this one has under 5 s left: `uk-valid`'s limit is per
/// minute, and a minute ending between a test's first request and the next makes a cache hit
/// a miss (the ended period is asked again, as it must be). Tests of period ends set their
/// own clocks. Found when CI started a batching test at 00:55:59.98 (2026-12-07).
fn clear_of_minute_edge() {
    let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) else {
        return;
    };
    let into_minute_ms = (now.as_millis() % 60_000) as u64;
    if into_minute_ms > 55_000 {
        std::thread::sleep(std::time::Duration::from_millis(60_050 - into_minute_ms));
    }
}

impl Stack {
    pub fn start(config: Value) -> Stack {
        Stack::start_with(config, backend_state(), |b| b)
    }

    pub fn start_with(
        config: Value,
        state: State,
        envoy: impl FnOnce(e2e::EnvoyBuilder) -> e2e::EnvoyBuilder,
    ) -> Stack {
        clear_of_minute_edge();
        let echo = EchoUpstream::start().expect("echo upstream");
        let backend = MockBackend::start(state).expect("mock backend");
        let builder = Envoy::builder()
            .upstream_port(echo.port())
            .backend_port(backend.port())
            .filter_config(&config.to_string());
        let envoy = envoy(builder).start().expect("envoy");
        Stack {
            echo,
            backend,
            envoy,
        }
    }

    pub fn port(&self) -> u16 {
        self.envoy.port()
    }

    /// The authrep calls the backend received.
    pub fn authreps(&self) -> Vec<e2e::mock_backend::ReceivedRequest> {
        self.backend
            .requests()
            .into_iter()
            .filter(|r| r.path == "/transactions/authrep.xml")
            .collect()
    }
}

/// A locally authenticated service (id 10) on `local.example.com`, secret token `local-secret`.
/// The mock backend of the OIDC service `5` (token [`TOKEN`]) and its app `client-1`, the
/// client id of the tokens the OIDC tests sign.
pub fn oidc_state() -> State {
    State::new()
        .service(
            Service::new("5")
                .token(TOKEN)
                .backend_version("oauth")
                .metric("hits", None),
        )
        .app(App::new("5", "client-1").plan("OIDC"))
}

pub fn local_service(auth: Value, rules: Value) -> Value {
    json!({
        "id": 10,
        "authentication": auth,
        "proxy": {"hosts": ["local.example.com"], "secret_token": "local-secret", "proxy_rules": rules}
    })
}

/// A TCP upstream that answers the first read of each connection with `answer` and records
/// every byte it reads (for what Envoy sent past an upgrade or a smuggled frame).
pub fn raw_upstream(answer: &'static [u8]) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = got.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let record = record.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut answered = false;
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                    if !answered {
                        let _ = conn.write_all(answer);
                        answered = true;
                    }
                }
            });
        }
    });
    (port, got)
}
