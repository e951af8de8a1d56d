//! Sends the JWKS fetches (and OpenID Connect discoveries) the core says are due
//! (`tollgate_core::auth::jwks_refresh`) through Envoy clusters on the root context's timer,
//! and hands back their answers.

use crate::host;
use crate::metrics::Metrics;
use std::rc::Rc;
use std::time::Duration;
use tollgate_core::auth::jwks_refresh::{JwksRefresh, Refreshed};
use tollgate_core::config::Config;

/// The fetches, and the configuration whose services receive the keys.
#[derive(Default)]
pub struct JwksFetcher {
    refresh: JwksRefresh,
    config: Option<Rc<Config>>,
}

impl JwksFetcher {
    pub fn new(config: Rc<Config>) -> JwksFetcher {
        JwksFetcher {
            refresh: JwksRefresh::new(&config),
            config: Some(config),
        }
    }

    /// A configuration from 3scale System is installed: its services get the keys now.
    pub fn follow(&mut self, config: Rc<Config>) {
        match &self.config {
            Some(old) => self.refresh.follow(old, &config),
            None => self.refresh = JwksRefresh::new(&config),
        }
        self.config = Some(config);
    }

    pub fn is_empty(&self) -> bool {
        self.refresh.is_empty()
    }

    /// Dispatches the fetches that are due.
    pub fn tick(&mut self, now_s: u64) {
        let mut sent = Vec::new();
        for (index, fetch) in self.refresh.due(now_s) {
            let mut headers = vec![
                (":method", "GET"),
                (":path", fetch.path.as_str()),
                (":authority", fetch.authority.as_str()),
                ("accept", "application/json"),
            ];
            if let Some(authorization) = &fetch.authorization {
                headers.push(("authorization", authorization.as_str()));
            }
            let timeout = Duration::from_millis(fetch.timeout_ms);
            sent.push((
                index,
                host::dispatch(&fetch.cluster, headers, None, timeout).ok(),
            ));
        }
        for (index, token) in sent {
            self.refresh.on_sent(index, token);
        }
    }

    pub fn owns(&self, token: u32) -> bool {
        self.refresh.owns(token)
    }

    /// Hands the answer to a fetch to the core, and counts what it did.
    pub fn on_response(&mut self, token: u32, body_size: usize, metrics: &Metrics) {
        let Some(config) = &self.config else {
            return;
        };
        // The core reads the body only if it wants it (not one over its size limit). A failed
        // read (logged and counted) is a refused fetch: the keys stay.
        let status = crate::headers::call_status();
        let read_body = || host::call_response_body(body_size).ok().flatten();
        let now_s = host::now_ms().unwrap_or(0) / 1000;
        match self
            .refresh
            .on_answer(token, status, body_size, read_body, config, now_s)
        {
            Some(Refreshed::Installed) => metrics.jwks_refresh(true),
            Some(Refreshed::Refused) => metrics.jwks_refresh(false),
            // The keys' fetch goes out now rather than on the next tick.
            Some(Refreshed::Discovered) => self.tick(now_s),
            None => {}
        }
    }
}
