//! Envoy counters (shown in `/stats` and Prometheus output under `tollgate.*`).

use crate::abi;
use std::cell::Cell;
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
    bad_request: Option<u32>,
    backend_calls: Option<u32>,
    backend_errors: Option<u32>,
    jwks_refreshes: Option<u32>,
    jwks_refresh_errors: Option<u32>,
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

/// The backend endpoints, counted apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendCallKind {
    Authrep,
    Authorize,
    Report,
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
        // Tokens refused with no signature check (a forged-token flood) are auth failures;
        // the core counts them, this takes the count.
        #[cfg(feature = "jwt")]
        if outcome == Outcome::AuthFailed {
            add(
                self.jwt_verify_budget_exhausted,
                tollgate_core::auth::jwt::take_budget_refusals(),
            );
        }
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

    pub fn backend_call(&self, kind: BackendCallKind) {
        bump(self.backend_calls);
        bump(match kind {
            BackendCallKind::Authrep => self.authrep_calls,
            BackendCallKind::Authorize => self.authorize_calls,
            BackendCallKind::Report => self.report_calls,
        });
    }

    /// Requests answered from the cache, and requests that waited for the backend.
    pub fn cache(&self, hits: u64, misses: u64) {
        add(self.cache_hits, hits);
        add(self.cache_misses, misses);
    }

    pub fn report_failure(&self) {
        bump(self.report_failures);
    }

    /// Calls that could not be kept for reporting (the pending bound, or a refused report).
    pub fn reports_dropped(&self, calls: u64) {
        add(self.reports_dropped, calls);
    }

    pub fn usage_pending(&self, calls: u64) {
        if let Some(id) = self.usage_pending {
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

    /// No answer, timeout, 5xx, or a callout Envoy refused to dispatch.
    pub fn backend_error(&self) {
        bump(self.backend_errors);
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
