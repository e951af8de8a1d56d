//! Envoy counters (shown in `/stats` and Prometheus output under `tollgate.*`).

use crate::abi;
use std::cell::Cell;
use tollgate_core::backend::protocol::Endpoint;
use tollgate_core::pipeline::{Outcome, Tally};

#[derive(Default)]
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub struct Metrics {
    authorized: Option<u32>,
    service_not_found: Option<u32>,
    auth_missing: Option<u32>,
    no_match: Option<u32>,
    auth_failed: Option<u32>,
    limits_exceeded: Option<u32>,
    bad_request: Option<u32>,
    backend_calls: Option<u32>,
    backend_errors: Option<u32>,
    jwks_refreshes: Option<u32>,
    jwks_refresh_errors: Option<u32>,
    #[cfg(feature = "jwt")]
    jwt_verify_budget_exhausted: Option<u32>,
    cache_hits: Option<u32>,
    cache_misses: Option<u32>,
    authorize_calls: Option<u32>,
    authrep_calls: Option<u32>,
    report_calls: Option<u32>,
    report_failures: Option<u32>,
    reports_dropped: Option<u32>,
    usage_pending: Option<u32>,
    /// With a worker timer (batching), authorized requests are counted here and added to
    /// Envoy's counter on each tick: one host call per tick instead of one per request.
    deferred: Cell<bool>,
    authorized_pending: Cell<u64>,
}

const COUNTER: u32 = 0;
const GAUGE: u32 = 1;

fn counter(name: &str) -> Option<u32> {
    abi::define_metric(COUNTER, name).ok()
}

thread_local! {
    /// `tollgate.host_errors`, counted from `host.rs` without a `Metrics` at hand.
    static HOST_ERRORS: Cell<Option<u32>> = const { Cell::new(None) };
}

/// A host call failed (counted in `tollgate.host_errors`).
pub fn host_error() {
    HOST_ERRORS.with(|id| bump(id.get()));
}

impl Metrics {
    pub fn define() -> Metrics {
        HOST_ERRORS.with(|id| id.set(counter("tollgate.host_errors")));
        Metrics {
            authorized: counter("tollgate.requests_authorized"),
            service_not_found: counter("tollgate.requests_denied.service_not_found"),
            auth_missing: counter("tollgate.requests_denied.auth_missing"),
            no_match: counter("tollgate.requests_denied.no_match"),
            auth_failed: counter("tollgate.requests_denied.auth_failed"),
            limits_exceeded: counter("tollgate.requests_denied.limits_exceeded"),
            bad_request: counter("tollgate.requests_denied.bad_request"),
            backend_calls: counter("tollgate.backend_calls"),
            backend_errors: counter("tollgate.backend_errors"),
            jwks_refreshes: counter("tollgate.jwks_refreshes"),
            jwks_refresh_errors: counter("tollgate.jwks_refresh_errors"),
            #[cfg(feature = "jwt")]
            jwt_verify_budget_exhausted: counter("tollgate.jwt_verify_budget_exhausted"),
            cache_hits: counter("tollgate.cache_hits"),
            cache_misses: counter("tollgate.cache_misses"),
            authorize_calls: counter("tollgate.backend_authorize_calls"),
            authrep_calls: counter("tollgate.backend_authrep_calls"),
            report_calls: counter("tollgate.backend_report_calls"),
            report_failures: counter("tollgate.report_failures"),
            reports_dropped: counter("tollgate.reports_dropped"),
            usage_pending: abi::define_metric(GAUGE, "tollgate.usage_pending").ok(),
            deferred: Cell::new(false),
            authorized_pending: Cell::new(0),
        }
    }

    pub fn outcome(&self, outcome: Outcome) {
        if outcome == Outcome::Authorized && self.deferred.get() {
            self.authorized_pending
                .set(self.authorized_pending.get().saturating_add(1));
            return;
        }
        bump(match outcome {
            Outcome::Authorized => self.authorized,
            Outcome::ServiceNotFound => self.service_not_found,
            Outcome::AuthMissing => self.auth_missing,
            Outcome::NoMatch => self.no_match,
            Outcome::AuthFailed => self.auth_failed,
            Outcome::LimitsExceeded => self.limits_exceeded,
            Outcome::BadRequest => self.bad_request,
            // Counted in `tollgate.host_errors` by the call that failed.
            Outcome::InternalError => None,
        });
    }

    /// Defers the authorized counter to `flush` (called from the worker's timer).
    pub fn set_deferred(&self, deferred: bool) {
        self.flush();
        self.deferred.set(deferred);
    }

    pub fn flush(&self) {
        add(self.authorized, self.authorized_pending.replace(0));
    }

    /// A backend call, counted by endpoint (OAuth variants with theirs).
    pub fn backend_call(&self, endpoint: Endpoint) {
        bump(self.backend_calls);
        bump(match endpoint {
            Endpoint::Authrep | Endpoint::OauthAuthrep => self.authrep_calls,
            Endpoint::Authorize | Endpoint::OauthAuthorize => self.authorize_calls,
            Endpoint::Report => self.report_calls,
        });
    }

    /// The core's counts since its last event (zeros cost no host call).
    pub fn tally(&self, tally: Tally) {
        add(self.backend_errors, tally.backend_errors);
        add(self.cache_hits, tally.cache_hits);
        add(self.cache_misses, tally.cache_misses);
        add(self.report_failures, tally.report_failures);
        add(self.reports_dropped, tally.reports_dropped);
        #[cfg(feature = "jwt")]
        add(
            self.jwt_verify_budget_exhausted,
            tally.jwt_verify_budget_exhausted,
        );
        if let (Some(id), Some(calls)) = (self.usage_pending, tally.usage_pending) {
            let _ = abi::record_metric(id, calls);
        }
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
}

fn bump(id: Option<u32>) {
    add(id, 1);
}

fn add(id: Option<u32>, n: u64) {
    if let (Some(id), Ok(n)) = (id, i64::try_from(n)) {
        // Envoy refuses increments of 0; a failed increment only loses a count.
        if n > 0 {
            let _ = abi::increment_metric(id, n);
        }
    }
}
