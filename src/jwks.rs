//! Sends the JWKS fetches the core says are due (`tollgate_core::auth::jwks_refresh`) through
//! Envoy clusters on the root context's timer, and hands back their answers.

use crate::host;
use crate::metrics::Metrics;
use std::time::Duration;
use tollgate_core::auth::jwks_refresh::{JwksRefresh, Refreshed};
use tollgate_core::config::Config;

#[derive(Default)]
pub struct JwksFetcher(JwksRefresh);

impl JwksFetcher {
    pub fn new(config: &Config) -> JwksFetcher {
        JwksFetcher(JwksRefresh::new(config))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Dispatches the fetches that are due.
    pub fn tick(&mut self, now_s: u64) {
        let mut sent = Vec::new();
        for (index, spec) in self.0.due(now_s) {
            let headers = vec![
                (":method", "GET"),
                (":path", spec.path.as_str()),
                (":authority", spec.authority.as_str()),
                ("accept", "application/json"),
            ];
            let timeout = Duration::from_millis(spec.timeout_ms);
            sent.push((
                index,
                host::dispatch(&spec.cluster, headers, None, timeout).ok(),
            ));
        }
        for (index, token) in sent {
            self.0.on_sent(index, token);
        }
    }

    pub fn owns(&self, token: u32) -> bool {
        self.0.owns(token)
    }

    /// Hands the answer to a fetch to the core, and counts what it did.
    pub fn on_response(
        &mut self,
        token: u32,
        body_size: usize,
        config: &Config,
        metrics: &Metrics,
    ) {
        // A failed read (logged and counted) is a refused fetch: the keys stay.
        let status = crate::headers::call_status();
        let body = host::call_response_body(body_size).ok().flatten();
        let now_s = host::now_ms().unwrap_or(0) / 1000;
        if let Some(refreshed) = self
            .0
            .on_answer(token, status, body.as_deref(), config, now_s)
        {
            metrics.jwks_refresh(refreshed == Refreshed::Installed);
        }
    }
}
