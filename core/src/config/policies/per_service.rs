//! The `caching` and `3scale_batcher` policies (reference apicast-policies.md §3.10, §3.11):
//! a service's own caching type and batching. A service without them follows the `backend`
//! block (`backend.caching_type`, `backend.batching`), which is the default for every service.

use super::configs::Batcher;
use super::PolicyChain;
use crate::cache::CacheSettings;
use crate::config::backend::{bounded, Batching, DEFAULT_MAX_PENDING, MAX_SECONDS};
use crate::config::json::{Obj, Result};
use crate::config::{BackendConfig, CachingType, Config};

/// APIcast's default for both `auths_ttl` and `batch_report_seconds`.
const DEFAULT_SECONDS: u64 = 10;

/// `3scale_batcher`'s configuration; each value in 1 to a day (as `backend.batching`'s): 0
/// would cache nothing or report without pause.
pub fn batcher(c: &Obj) -> Result<Batcher> {
    let seconds = |key| bounded(c, key, DEFAULT_SECONDS, MAX_SECONDS).map(Some);
    Ok(Batcher {
        auths_ttl: seconds("auths_ttl")?,
        batch_report_seconds: seconds("batch_report_seconds")?,
    })
}

impl BackendConfig {
    /// The service's caching type: its `caching` policy's, else `backend.caching_type`.
    pub fn caching_for(&self, chain: &PolicyChain) -> CachingType {
        chain.caching.unwrap_or(self.caching_type)
    }

    /// The service's batching: its `3scale_batcher` policy's (APIcast's defaults, 10 s, for
    /// what it leaves out; `backend.batching`'s bounds), else `backend.batching`.
    pub fn batching_for(&self, chain: &PolicyChain) -> Option<Batching> {
        if chain.has_referrer() {
            // The Referer is part of the authorization (and of its cache key): an entry per
            // value a client chooses, each with the whole remaining limit, would multiply the
            // limit (found by an audit, 2026-12-05). An authrep per request is exact.
            return None;
        }
        let Some(b) = chain.batcher else {
            return self.batching;
        };
        let auths_ttl = b.auths_ttl.unwrap_or(DEFAULT_SECONDS);
        Some(Batching {
            auths_ttl,
            batch_report_seconds: b.batch_report_seconds.unwrap_or(DEFAULT_SECONDS),
            denied_ttl: auths_ttl,
            max_pending: self
                .batching
                .map_or(DEFAULT_MAX_PENDING as u32, |g| g.max_pending),
        })
    }
}

impl Config {
    /// Whether any service (or `backend.batching`, the default) batches.
    pub fn any_batching(&self) -> bool {
        self.backend.batching.is_some()
            || self.services.iter().any(|s| s.policies.batcher.is_some())
    }

    /// Whether the authorization cache is used (batching, or a `caching_type`'s memory in
    /// authrep mode), by the `backend` block's default or a service: the first such
    /// configuration fixes the slot count (`cache::slot_count`).
    pub fn uses_cache(&self) -> bool {
        let caches = |c: CachingType| c != CachingType::None;
        self.any_batching()
            || caches(self.backend.caching_type)
            || (self.services.iter()).any(|s| s.policies.caching.is_some_and(caches))
    }

    /// How often pending usage is reported: the shortest `batch_report_seconds` among the
    /// batching services (one schedule for the shared reports; a service is reported at
    /// least as often as it asks).
    pub fn report_interval_ms(&self) -> u64 {
        let services = self.services.iter();
        let batching = services.filter_map(|s| self.backend.batching_for(&s.policies));
        let shortest = batching.map(|b| b.batch_report_seconds).min();
        // No batching service (yet: System): the backend block's, else APIcast's default.
        let fallback = self.backend.batching.map(|b| b.batch_report_seconds);
        shortest
            .or(fallback)
            .unwrap_or(DEFAULT_SECONDS)
            .saturating_mul(1000)
    }
}

impl CacheSettings {
    /// The `backend` block's (every service's default). `None` when nothing is cached:
    /// authrep per request with `caching_type: none`.
    pub fn new(backend: &BackendConfig) -> Option<CacheSettings> {
        CacheSettings::for_service(backend, &PolicyChain::default())
    }

    /// A service's: its `caching` and `3scale_batcher` policies', else the `backend` block's.
    pub fn for_service(backend: &BackendConfig, chain: &PolicyChain) -> Option<CacheSettings> {
        let (caching_type, batching) = (backend.caching_for(chain), backend.batching_for(chain));
        (batching.is_some() || caching_type != CachingType::None)
            .then(|| CacheSettings::of(backend, caching_type, batching))
    }

    /// With this caching type and batching (`None`: authrep mode, nothing leased).
    pub fn of(
        backend: &BackendConfig,
        caching_type: CachingType,
        batching: Option<Batching>,
    ) -> CacheSettings {
        let ttl = |f: fn(&Batching) -> u64| batching.as_ref().map_or(0, f).saturating_mul(1000);
        CacheSettings {
            caching_type,
            auths_ttl_ms: ttl(|b| b.auths_ttl),
            denied_ttl_ms: ttl(|b| b.denied_ttl),
            slots: backend.cache_max_entries,
            wait_ms: backend.timeout_ms.saturating_add(1000),
        }
    }
}
