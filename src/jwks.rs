//! Fetches JWKS documents through Envoy clusters on the root context's timer, one fetch per
//! source per `refresh_s` (each worker VM keeps its own keys). A failed fetch keeps the
//! current keys and is retried sooner.

use crate::host;
use crate::metrics::Metrics;
use log::{info, warn};
use std::collections::HashMap;
use std::time::Duration;
use tollgate_core::auth::jwt_auth::JwksSource;
use tollgate_core::config::Config;

/// Seconds before a failed fetch is tried again.
const RETRY_S: u64 = 5;

struct Source {
    service: usize,
    spec: JwksSource,
    next_due: u64,
}

#[derive(Default)]
pub struct JwksFetcher {
    sources: Vec<Source>,
    /// Callout token → index in `sources`.
    pending: HashMap<u32, usize>,
}

impl JwksFetcher {
    pub fn new(config: &Config) -> JwksFetcher {
        JwksFetcher {
            sources: config
                .jwks_sources()
                .into_iter()
                .map(|(service, spec)| Source {
                    service,
                    spec,
                    next_due: 0,
                })
                .collect(),
            pending: HashMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Dispatches the fetches that are due.
    pub fn tick(&mut self, now: u64) {
        for (index, source) in self.sources.iter_mut().enumerate() {
            if source.next_due > now || self.pending.values().any(|&i| i == index) {
                continue;
            }
            let spec = &source.spec;
            let headers = vec![
                (":method", "GET"),
                (":path", spec.path.as_str()),
                (":authority", spec.authority.as_str()),
                ("accept", "application/json"),
            ];
            source.next_due = now + RETRY_S.min(spec.refresh_s);
            let timeout = Duration::from_millis(spec.timeout_ms);
            match host::dispatch(&spec.cluster, headers, None, timeout) {
                Ok(token) => {
                    self.pending.insert(token, index);
                }
                Err(_) => warn!("tollgate: JWKS fetch from cluster {} failed", spec.cluster),
            }
        }
    }

    /// Installs the answer to a fetch, if `token` is one of ours.
    pub fn on_response(
        &mut self,
        token: u32,
        status: Option<u16>,
        body: Option<Vec<u8>>,
        config: &Config,
        metrics: &Metrics,
        now: u64,
    ) {
        let Some(index) = self.pending.remove(&token) else {
            return;
        };
        let Some(source) = self.sources.get_mut(index) else {
            return;
        };
        let result = match (status, body) {
            (Some(200), Some(body)) => config
                .refresh_jwks(source.service, &body)
                .map_err(|e| e.to_string()),
            (status, _) => Err(format!("status {status:?}")),
        };
        match result {
            Ok(keys) => {
                source.next_due = now + source.spec.refresh_s;
                metrics.jwks_refresh(true);
                info!(
                    "tollgate: JWKS from cluster {} installed: {keys} key(s)",
                    source.spec.cluster
                );
            }
            Err(e) => {
                metrics.jwks_refresh(false);
                warn!(
                    "tollgate: JWKS from cluster {} refused, keeping the current keys: {e}",
                    source.spec.cluster
                );
            }
        }
    }
}
