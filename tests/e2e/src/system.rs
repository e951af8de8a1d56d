//! The mock 3scale System for end-to-end tests (`tools/mock-system`, in-process), and the
//! filter configuration that points at it:
//!
//! ```no_run
//! use e2e::system::{self, fixtures, Stored, WithSystem};
//! use e2e::{EchoUpstream, Envoy};
//! let echo = EchoUpstream::start().unwrap();
//! let mock = system::start();
//! mock.publish(Stored::Production, fixtures::minimal(42, "localhost", vec![
//!     fixtures::rule("GET", "/", "hits", 1)])).unwrap();
//! let envoy = Envoy::builder()
//!     .upstream_port(echo.port())
//!     .with_system(&mock)                       // cluster `threescale_system` → the mock
//!     .concurrency(2)
//!     .filter_config(&system::filter_config(system::block(1)))
//!     .start()
//!     .unwrap();
//! assert_eq!(mock.count("/admin/api/account/proxy_configs/"), 1);
//! ```

use serde_json::{json, Value};

use crate::envoy::EnvoyBuilder;
pub use mock_system::{
    fixtures, BetweenPages, Credential, Failure, Faults, MockSystem, Realm, Stored, SystemRequest,
};

/// The Envoy cluster [`WithSystem::with_system`] adds and [`block`] names.
pub const CLUSTER: &str = "threescale_system";
/// The access token the mock started by [`start`] accepts.
pub const TOKEN: &str = "e2e-system-token";

/// Starts a mock System on an ephemeral port that accepts [`TOKEN`].
pub fn start() -> MockSystem {
    MockSystem::start(TOKEN).expect("start the mock 3scale System")
}

/// The filter's `system` block for the mock: [`CLUSTER`], [`TOKEN`], production, a 2 s
/// timeout and `refresh_s`. Adjust fields in the returned JSON as a test needs.
pub fn block(refresh_s: u64) -> Value {
    json!({
        "cluster": CLUSTER,
        "authority": "acme-admin.3scale.net",
        "access_token": TOKEN,
        "environment": "production",
        "refresh_s": refresh_s,
        "timeout_ms": 2000
    })
}

/// A whole filter configuration: the harness's backend cluster and `system`, no static
/// services.
pub fn filter_config(system: Value) -> String {
    json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": system
    })
    .to_string()
}

/// Adds the [`CLUSTER`] cluster to an Envoy pointing at a mock System.
pub trait WithSystem {
    fn with_system(self, system: &MockSystem) -> Self;
}

impl WithSystem for EnvoyBuilder {
    fn with_system(self, system: &MockSystem) -> Self {
        self.extra_cluster(CLUSTER, system.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::config::system::{basic_authorization, service_config_path, Environment};
    use tollgate_core::config::Config;

    #[test]
    fn the_block_is_one_the_filter_accepts_and_the_mock_answers_it() {
        let parsed = Config::parse(filter_config(block(5)).as_bytes()).unwrap();
        let system_config = parsed.config.system.unwrap();
        assert_eq!(system_config.cluster, CLUSTER);
        assert_eq!(system_config.refresh_s, 5);
        assert!(parsed.config.services.is_empty());

        let mock = start();
        mock.publish(
            Stored::Production,
            fixtures::minimal(42, "localhost", vec![]),
        )
        .unwrap();
        let path = service_config_path("42", Environment::Production, None);
        let response = crate::Request::get(&path)
            .header("authorization", &basic_authorization(TOKEN))
            .send(mock.port());
        assert_eq!(response.status, 200, "{response}");
        assert_eq!(response.json()["proxy_config"]["version"], 1);
        assert_eq!(mock.requests()[0].credential, Credential::Basic);
    }
}
