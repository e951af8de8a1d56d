//! Envoy counters (shown in `/stats` and Prometheus output under `tollgate.*`).

use crate::abi;
use std::cell::Cell;
use tollgate_core::backend::protocol::Endpoint;
use tollgate_core::config::Config;
use tollgate_core::pipeline::{Outcome, Tally};
use tollgate_core::system::loader::LoaderCounts;

#[derive(Default)]
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub struct Metrics {
    authorized: Option<u32>,
    public: Option<u32>,
    service_not_found: Option<u32>,
    auth_missing: Option<u32>,
    no_match: Option<u32>,
    auth_failed: Option<u32>,
    limits_exceeded: Option<u32>,
    bad_request: Option<u32>,
    config_not_loaded: Option<u32>,
    maintenance: Option<u32>,
    claim_check: Option<u32>,
    ip_check: Option<u32>,
    preflight: Option<u32>,
    config_fetches: Option<u32>,
    config_fetch_failures: Option<u32>,
    config_services: Option<u32>,
    config_loaded_at: Option<u32>,
    /// `tollgate.config_version.<service id>` gauges defined so far.
    config_versions: std::cell::RefCell<Vec<(String, Option<u32>)>>,
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

fn gauge(name: &str) -> Option<u32> {
    abi::define_metric(GAUGE, name).ok()
}

fn record(id: Option<u32>, value: u64) {
    if let Some(id) = id {
        let _ = abi::record_metric(id, value);
    }
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
            public: counter("tollgate.requests_public"),
            service_not_found: counter("tollgate.requests_denied.service_not_found"),
            auth_missing: counter("tollgate.requests_denied.auth_missing"),
            no_match: counter("tollgate.requests_denied.no_match"),
            auth_failed: counter("tollgate.requests_denied.auth_failed"),
            limits_exceeded: counter("tollgate.requests_denied.limits_exceeded"),
            bad_request: counter("tollgate.requests_denied.bad_request"),
            config_not_loaded: counter("tollgate.requests_denied.config_not_loaded"),
            maintenance: counter("tollgate.requests_denied.maintenance"),
            claim_check: counter("tollgate.requests_denied.jwt_claim_check"),
            ip_check: counter("tollgate.requests_denied.ip_check"),
            preflight: counter("tollgate.requests_preflight"),
            config_fetches: counter("tollgate.config_fetches"),
            config_fetch_failures: counter("tollgate.config_fetch_failures"),
            config_services: gauge("tollgate.config_services"),
            config_loaded_at: gauge("tollgate.config_loaded_at"),
            config_versions: Default::default(),
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
            usage_pending: gauge("tollgate.usage_pending"),
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
            Outcome::Public => self.public,
            Outcome::ServiceNotFound => self.service_not_found,
            Outcome::AuthMissing => self.auth_missing,
            Outcome::NoMatch => self.no_match,
            Outcome::AuthFailed => self.auth_failed,
            Outcome::LimitsExceeded => self.limits_exceeded,
            Outcome::BadRequest => self.bad_request,
            Outcome::ConfigNotLoaded => self.config_not_loaded,
            Outcome::Maintenance => self.maintenance,
            Outcome::ClaimCheckDenied => self.claim_check,
            Outcome::IpDenied => self.ip_check,
            Outcome::Preflight => self.preflight,
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
        if let Some(calls) = tally.usage_pending {
            record(self.usage_pending, calls);
        }
        for _ in 0..tally.authorized {
            self.outcome(Outcome::Authorized);
        }
        add(self.public, tally.public);
    }

    /// Fetches from 3scale System started, and failed.
    pub fn config_fetches(&self, counts: LoaderCounts) {
        add(self.config_fetches, counts.fetches);
        add(self.config_fetch_failures, counts.failures);
    }

    /// A fetch from 3scale System succeeded at `at_s` (Unix seconds).
    pub fn config_fetched_at(&self, at_s: u64) {
        record(self.config_loaded_at, at_s);
    }

    /// A configuration from 3scale System is installed: the services live, when it was
    /// fetched, and each service's version (`tollgate.config_version.<id>`).
    pub fn config_installed(&self, config: &Config, loaded_at_s: u64) {
        record(self.config_services, config.services.len() as u64);
        self.config_fetched_at(loaded_at_s);
        let mut versions = self.config_versions.borrow_mut();
        for service in &config.services {
            let Some(version) = service.config_version else {
                continue;
            };
            let id = match versions.iter().find(|(s, _)| *s == service.id) {
                Some((_, id)) => *id,
                None => {
                    let id = gauge(&format!("tollgate.config_version.{}", service.id));
                    versions.push((service.id.clone(), id));
                    id
                }
            };
            record(id, version);
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
