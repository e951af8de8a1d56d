//! Envoy counters (shown in `/stats` and Prometheus output under `tollgate.*`).

use proxy_wasm::hostcalls::{define_metric, increment_metric};
use proxy_wasm::types::MetricType;
use tollgate_core::pipeline::Outcome;

#[derive(Default)]
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub struct Metrics {
    authorized: Option<u32>,
    service_not_found: Option<u32>,
    auth_missing: Option<u32>,
    no_match: Option<u32>,
    auth_failed: Option<u32>,
    limits_exceeded: Option<u32>,
    backend_calls: Option<u32>,
    backend_errors: Option<u32>,
    jwks_refreshes: Option<u32>,
    jwks_refresh_errors: Option<u32>,
}

fn counter(name: &str) -> Option<u32> {
    define_metric(MetricType::Counter, name).ok()
}

impl Metrics {
    pub fn define() -> Metrics {
        Metrics {
            authorized: counter("tollgate.requests_authorized"),
            service_not_found: counter("tollgate.requests_denied.service_not_found"),
            auth_missing: counter("tollgate.requests_denied.auth_missing"),
            no_match: counter("tollgate.requests_denied.no_match"),
            auth_failed: counter("tollgate.requests_denied.auth_failed"),
            limits_exceeded: counter("tollgate.requests_denied.limits_exceeded"),
            backend_calls: counter("tollgate.backend_calls"),
            backend_errors: counter("tollgate.backend_errors"),
            jwks_refreshes: counter("tollgate.jwks_refreshes"),
            jwks_refresh_errors: counter("tollgate.jwks_refresh_errors"),
        }
    }

    pub fn outcome(&self, outcome: Outcome) {
        bump(match outcome {
            Outcome::Authorized => self.authorized,
            Outcome::ServiceNotFound => self.service_not_found,
            Outcome::AuthMissing => self.auth_missing,
            Outcome::NoMatch => self.no_match,
            Outcome::AuthFailed => self.auth_failed,
            Outcome::LimitsExceeded => self.limits_exceeded,
        });
    }

    pub fn backend_call(&self) {
        bump(self.backend_calls);
    }

    /// A JWKS fetch installed new keys, or failed.
    #[cfg(feature = "jwt")]
    pub fn jwks_refresh(&self, ok: bool) {
        bump(if ok {
            self.jwks_refreshes
        } else {
            self.jwks_refresh_errors
        });
    }

    /// No answer, timeout, 5xx, or a callout Envoy refused to dispatch.
    pub fn backend_error(&self) {
        bump(self.backend_errors);
    }
}

fn bump(id: Option<u32>) {
    if let Some(id) = id {
        // A failed increment only loses a count; never worth failing the request.
        let _ = increment_metric(id, 1);
    }
}
