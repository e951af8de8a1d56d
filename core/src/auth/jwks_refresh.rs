//! When to fetch each service's JWKS, and what to do with the answer: one fetch per source
//! per `refresh_s` (each worker VM keeps its own keys); a failed fetch keeps the current keys
//! and is retried sooner. The adapter only sends the fetches and hands back the answers.

use super::jwt_auth::JwksSource;
use crate::config::Config;
use log::{info, warn};

/// Seconds before a failed (or unanswered) fetch is tried again, at most `refresh_s`.
const RETRY_S: u64 = 5;

struct Source {
    service: usize,
    spec: JwksSource,
    next_due_s: u64,
    /// The host's token of the fetch in flight.
    in_flight: Option<u32>,
}

#[derive(Default)]
pub struct JwksRefresh {
    sources: Vec<Source>,
}

/// What a fetch's answer did, for Envoy's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    Installed,
    Refused,
}

impl JwksRefresh {
    pub fn new(config: &Config) -> JwksRefresh {
        JwksRefresh {
            sources: config
                .jwks_sources()
                .into_iter()
                .map(|(service, spec)| Source {
                    service,
                    spec,
                    next_due_s: 0,
                    in_flight: None,
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The fetches due now (by index), each to send with [`JwksRefresh::on_sent`]. One fetch
    /// per source at a time (Envoy answers every call, if only with its timeout).
    pub fn due(&mut self, now_s: u64) -> Vec<(usize, &JwksSource)> {
        let mut due = Vec::new();
        for (index, source) in self.sources.iter_mut().enumerate() {
            if source.next_due_s > now_s || source.in_flight.is_some() {
                continue;
            }
            source.next_due_s = now_s.saturating_add(RETRY_S.min(source.spec.refresh_s));
            due.push((index, &source.spec));
        }
        due
    }

    /// The host sent fetch `index` (`None`: it refused to; the retry delay applies).
    pub fn on_sent(&mut self, index: usize, token: Option<u32>) {
        if let Some(source) = self.sources.get_mut(index) {
            source.in_flight = token;
            if token.is_none() {
                warn!(
                    "tollgate: JWKS fetch from cluster {} failed",
                    source.spec.cluster
                );
            }
        }
    }

    /// Whether `token` is one of the fetches in flight.
    pub fn owns(&self, token: u32) -> bool {
        self.sources.iter().any(|s| s.in_flight == Some(token))
    }

    /// The answer to fetch `token`: a 200 with a valid JWKS replaces the service's keys;
    /// anything else keeps them. `None`: not one of ours.
    pub fn on_answer(
        &mut self,
        token: u32,
        status: Option<u16>,
        body: Option<&[u8]>,
        config: &Config,
        now_s: u64,
    ) -> Option<Refreshed> {
        let source = self
            .sources
            .iter_mut()
            .find(|s| s.in_flight == Some(token))?;
        source.in_flight = None;
        let result = match (status, body) {
            (Some(200), Some(body)) => config
                .refresh_jwks(source.service, body)
                .map_err(|e| e.to_string()),
            (status, _) => Err(format!("status {status:?}")),
        };
        Some(match result {
            Ok(keys) => {
                source.next_due_s = now_s.saturating_add(source.spec.refresh_s);
                info!(
                    "tollgate: JWKS from cluster {} installed: {keys} key(s)",
                    source.spec.cluster
                );
                Refreshed::Installed
            }
            Err(e) => {
                warn!(
                    "tollgate: JWKS from cluster {} refused, keeping the current keys: {e}",
                    source.spec.cluster
                );
                Refreshed::Refused
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Config {
        let v = json!({
            "backend": {"cluster": "b"},
            "services": [{"id": 1, "backend_version": 1, "proxy": {"hosts": ["a"], "proxy_rules": []},
              "authentication": {"mode": "local", "jwt": {
                "jwks_source": {"cluster": "idp", "path": "/certs", "refresh_s": 60},
                "issuer": "https://idp"}}}]
        });
        Config::parse(v.to_string().as_bytes()).unwrap().config
    }

    #[test]
    fn fetches_at_start_retries_after_5_s_and_refreshes_after_refresh_s() {
        let config = config();
        let mut refresh = JwksRefresh::new(&config);
        let due: Vec<usize> = refresh.due(1000).iter().map(|(i, _)| *i).collect();
        assert_eq!(due, vec![0]);
        refresh.on_sent(0, Some(7));
        assert!(refresh.owns(7));
        assert!(refresh.due(1004).is_empty());
        // A refused answer keeps the keys; the fetch is due again 5 s after it was sent.
        let r = refresh.on_answer(7, Some(503), None, &config, 1001);
        assert_eq!(r, Some(Refreshed::Refused));
        assert!(!refresh.owns(7));
        assert_eq!(refresh.due(1005).len(), 1);
        refresh.on_sent(0, Some(8));
        let jwks = br#"{"keys":[{"kty":"oct","kid":"k","alg":"HS256","k":"YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE"}]}"#;
        let r = refresh.on_answer(8, Some(200), Some(jwks), &config, 1006);
        assert_eq!(r, Some(Refreshed::Installed));
        assert!(refresh.due(1065).is_empty());
        assert_eq!(refresh.due(1066).len(), 1);
        // Not ours.
        assert_eq!(
            refresh.on_answer(99, Some(200), Some(jwks), &config, 1),
            None
        );
    }

    #[test]
    fn a_refused_send_waits_for_the_retry_delay() {
        let config = config();
        let mut refresh = JwksRefresh::new(&config);
        assert_eq!(refresh.due(10).len(), 1);
        refresh.on_sent(0, None);
        assert!(refresh.due(14).is_empty());
        assert_eq!(refresh.due(15).len(), 1);
    }
}
