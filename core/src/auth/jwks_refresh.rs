//! When to fetch each service's JWKS, and what to do with the answer: one fetch per source
//! per `refresh_s` (each worker VM keeps its own keys); a failed fetch keeps the current keys
//! and is retried sooner. An OpenID Connect issuer is discovered first (its discovery
//! document names the issuer and the keys' URL), then its keys are fetched, at every
//! refresh. The adapter only sends the fetches and hands back the answers.

use super::jwt_auth::JwksSource;
use super::oidc_discovery::{parse_discovery, Discovered};
use crate::config::Config;
use log::{info, warn};

/// Seconds before a failed (or unanswered) fetch is tried again, at most `refresh_s`.
const RETRY_S: u64 = 5;

/// Largest answer body read (a JWKS or a discovery document). A JWKS of 32 keys with `x5c`
/// chains is well under it; a bigger answer is refused unread, as copying it into the VM
/// and parsing it could exhaust the worker's memory.
pub const MAX_FETCHED_BODY_BYTES: usize = 512 * 1024;

/// One request to send through an Envoy cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct Fetch {
    pub cluster: String,
    pub path: String,
    pub authority: String,
    /// Basic credentials (discovery only; a secret: never logged).
    pub authorization: Option<String>,
    pub timeout_ms: u64,
}

impl std::fmt::Debug for Fetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetch")
            .field("cluster", &self.cluster)
            .field("path", &self.path)
            .field("authority", &self.authority)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

struct Source {
    service: usize,
    service_id: String,
    spec: JwksSource,
    next_due_s: u64,
    /// The host's token of the fetch in flight.
    in_flight: Option<u32>,
    /// Discovery answered: the keys' fetch comes next, then the issuer is installed with them.
    discovered: Option<(Discovered, Fetch)>,
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
    /// A discovery document was read; the keys' fetch is due now.
    Discovered,
}

impl JwksRefresh {
    pub fn new(config: &Config) -> JwksRefresh {
        JwksRefresh {
            sources: config
                .jwks_sources()
                .into_iter()
                .map(|(service, spec)| Source {
                    service,
                    service_id: config
                        .services
                        .get(service)
                        .map(|s| s.id.clone())
                        .unwrap_or_default(),
                    spec,
                    next_due_s: 0,
                    in_flight: None,
                    discovered: None,
                })
                .collect(),
        }
    }

    /// Follows a new configuration (services from 3scale System): a source that is still
    /// there (same service id and source) keeps its keys, its schedule and its fetch in
    /// flight; a new one is due now.
    pub fn follow(&mut self, old: &Config, new: &Config) {
        let mut next = JwksRefresh::new(new);
        for source in &mut next.sources {
            let same = |s: &&mut Source| s.service_id == source.service_id && s.spec == source.spec;
            let Some(kept) = self.sources.iter_mut().find(same) else {
                continue;
            };
            if let (Some(from), Some(to)) = (
                old.services
                    .get(kept.service)
                    .and_then(|s| s.auth.jwt.as_ref()),
                new.services
                    .get(source.service)
                    .and_then(|s| s.auth.jwt.as_ref()),
            ) {
                to.adopt_keys(from);
            }
            source.next_due_s = kept.next_due_s;
            source.in_flight = kept.in_flight.take();
            source.discovered = kept.discovered.take();
        }
        *self = next;
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The fetches due now (by index), each to send with [`JwksRefresh::on_sent`]. One fetch
    /// per source at a time (Envoy answers every call, if only with its timeout).
    pub fn due(&mut self, now_s: u64) -> Vec<(usize, Fetch)> {
        let mut due = Vec::new();
        for (index, source) in self.sources.iter_mut().enumerate() {
            if source.next_due_s > now_s || source.in_flight.is_some() {
                continue;
            }
            source.next_due_s = now_s.saturating_add(RETRY_S.min(source.spec.refresh_s));
            let fetch = match &source.discovered {
                Some((_, keys)) => keys.clone(),
                None => Fetch {
                    cluster: source.spec.cluster.clone(),
                    path: source.spec.path.clone(),
                    authority: source.spec.authority.clone(),
                    authorization: source
                        .spec
                        .discovery
                        .as_ref()
                        .and_then(|d| d.authorization.clone()),
                    timeout_ms: source.spec.timeout_ms,
                },
            };
            due.push((index, fetch));
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
                source.discovered = None;
            }
        }
    }

    /// Whether `token` is one of the fetches in flight.
    pub fn owns(&self, token: u32) -> bool {
        self.sources.iter().any(|s| s.in_flight == Some(token))
    }

    /// The answer to fetch `token`: a 200 with a valid JWKS replaces the service's keys;
    /// anything else keeps them. A discovery document makes the keys' fetch due now.
    /// `read_body` is called only for a 200 of at most [`MAX_FETCHED_BODY_BYTES`]
    /// (`body_size`, as the host announces it). `None`: not one of ours.
    pub fn on_answer(
        &mut self,
        token: u32,
        status: Option<u16>,
        body_size: usize,
        read_body: impl FnOnce() -> Option<Vec<u8>>,
        config: &Config,
        now_s: u64,
    ) -> Option<Refreshed> {
        let source = self
            .sources
            .iter_mut()
            .find(|s| s.in_flight == Some(token))?;
        source.in_flight = None;
        let body = match status {
            Some(200) if body_size > MAX_FETCHED_BODY_BYTES => Err(format!(
                "answer of {body_size} bytes, at most {MAX_FETCHED_BODY_BYTES} are read"
            )),
            Some(200) => read_body().ok_or_else(|| "its body could not be read".to_string()),
            _ => Err(format!("status {status:?}")),
        };
        let discovering = source.spec.discovery.is_some() && source.discovered.is_none();
        if discovering {
            let read = body.and_then(|body| {
                let discovered = parse_discovery(&body)?;
                let keys = discovered_keys(source, &discovered)?;
                Ok((discovered, keys))
            });
            return Some(match read {
                Ok(found) => {
                    source.discovered = Some(found);
                    source.next_due_s = now_s;
                    Refreshed::Discovered
                }
                Err(e) => {
                    warn!(
                        "tollgate: OpenID Connect discovery through cluster {} failed, keeping the current keys: {e}",
                        source.spec.cluster
                    );
                    Refreshed::Refused
                }
            });
        }
        let discovered = source.discovered.take();
        let named = discovered
            .as_ref()
            .map(|(d, _)| (d.issuer.as_str(), d.algs));
        let result = body.and_then(|body| {
            let service = config.services.get(source.service);
            let jwt = service
                .and_then(|s| s.auth.jwt.as_ref())
                .ok_or("no such service")?;
            jwt.refresh_discovered(&body, named)
                .map_err(|e| e.to_string())
        });
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
impl JwksRefresh {
    /// [`JwksRefresh::on_answer`] with the body at hand, as the adapter reads it.
    pub(crate) fn on_answer_body(
        &mut self,
        token: u32,
        status: Option<u16>,
        body: Option<&[u8]>,
        config: &Config,
        now_s: u64,
    ) -> Option<Refreshed> {
        let size = body.map_or(0, <[u8]>::len);
        self.on_answer(
            token,
            status,
            size,
            || body.map(<[u8]>::to_vec),
            config,
            now_s,
        )
    }
}

/// The keys' fetch a discovery document names, through the cluster mapped to its host.
fn discovered_keys(source: &Source, discovered: &Discovered) -> Result<Fetch, String> {
    let jwks = &discovered.jwks;
    let clusters = source
        .spec
        .discovery
        .as_ref()
        .map(|d| d.clusters.as_slice())
        .unwrap_or_default();
    let cluster = clusters
        .iter()
        .find(|(host, _)| host.eq_ignore_ascii_case(&jwks.host))
        .map(|(_, cluster)| cluster.clone())
        .ok_or_else(|| {
            format!(
                "jwks_uri host {} has no cluster in system.issuer_clusters",
                jwks.host
            )
        })?;
    Ok(Fetch {
        cluster,
        path: jwks.path.clone(),
        authority: jwks.authority.clone(),
        authorization: None,
        timeout_ms: source.spec.timeout_ms,
    })
}

#[cfg(test)]
pub(super) mod tests {
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
        let r = refresh.on_answer_body(7, Some(503), None, &config, 1001);
        assert_eq!(r, Some(Refreshed::Refused));
        assert!(!refresh.owns(7));
        assert_eq!(refresh.due(1005).len(), 1);
        refresh.on_sent(0, Some(8));
        let jwks = br#"{"keys":[{"kty":"oct","kid":"k","alg":"HS256","k":"YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE"}]}"#;
        let r = refresh.on_answer_body(8, Some(200), Some(jwks), &config, 1006);
        assert_eq!(r, Some(Refreshed::Installed));
        assert!(refresh.due(1065).is_empty());
        assert_eq!(refresh.due(1066).len(), 1);
        // Not ours.
        assert_eq!(
            refresh.on_answer_body(99, Some(200), Some(jwks), &config, 1),
            None
        );
    }

    /// Keeps the warnings logged on this thread: what a refused fetch says.
    struct Warnings;

    thread_local! {
        static WARNINGS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    impl log::Log for Warnings {
        fn enabled(&self, metadata: &log::Metadata) -> bool {
            metadata.level() <= log::Level::Warn
        }
        fn log(&self, record: &log::Record) {
            if self.enabled(record.metadata()) {
                WARNINGS.with(|w| w.borrow_mut().push(record.args().to_string()));
            }
        }
        fn flush(&self) {}
    }

    /// The warnings logged on this thread since the last call (starts capturing them).
    pub(in crate::auth) fn take_warnings() -> Vec<String> {
        let _ = log::set_logger(&Warnings);
        log::set_max_level(log::LevelFilter::Warn);
        WARNINGS.with(|w| std::mem::take(&mut *w.borrow_mut()))
    }

    /// `json` padded with spaces to `size` bytes (still valid JSON).
    pub(in crate::auth) fn padded(json: &[u8], size: usize) -> Vec<u8> {
        let mut body = json.to_vec();
        body.resize(size, b' ');
        body
    }

    /// A JWKS of HS256 keys `k0`, `k1`, ... (secret `aaa...`).
    fn oct_jwks(n: usize) -> Vec<u8> {
        let k = crate::base64::encode_url(&[b'a'; 32]);
        let keys: Vec<_> = (0..n)
            .map(|i| json!({"kty": "oct", "kid": format!("k{i}"), "alg": "HS256", "k": k}))
            .collect();
        json!({ "keys": keys }).to_string().into_bytes()
    }

    fn hs256_token(kid: &str) -> String {
        let claims = json!({"iss": "https://idp", "exp": 2000});
        crate::auth::jwt::tests::hs256_token(&[b'a'; 32], kid, &claims)
    }

    #[test]
    fn a_fetched_jwks_over_the_key_limit_is_refused_and_the_keys_stay() {
        let config = config();
        let jwt = config.services[0].auth.jwt.as_ref().unwrap();
        let mut refresh = JwksRefresh::new(&config);
        assert_eq!(refresh.due(1000).len(), 1);
        refresh.on_sent(0, Some(1));
        let r = refresh.on_answer_body(1, Some(200), Some(&oct_jwks(2)), &config, 1000);
        assert_eq!(r, Some(Refreshed::Installed));
        assert!(jwt.verify(&hs256_token("k1"), 1000).is_ok());
        take_warnings();

        // 33 keys: refused (Envoy's jwks_refresh_errors counter), said why, the 2 keys stay.
        assert_eq!(refresh.due(1060).len(), 1);
        refresh.on_sent(0, Some(2));
        let r = refresh.on_answer_body(2, Some(200), Some(&oct_jwks(33)), &config, 1060);
        assert_eq!(r, Some(Refreshed::Refused));
        assert_eq!(
            take_warnings(),
            vec![
                "tollgate: JWKS from cluster idp refused, keeping the current keys: \
                  jwks.keys: 33 keys, at most 32 are supported"
                    .to_string()
            ]
        );
        // k0's token was not verified before: no cached answer, the kept keys check it.
        assert!(jwt.verify(&hs256_token("k0"), 1060).is_ok());
        assert!(jwt.verify(&hs256_token("k32"), 1060).is_err());
        // Retried 5 s after the fetch was sent, as for any refused answer.
        assert!(refresh.due(1064).is_empty());
        assert_eq!(refresh.due(1065).len(), 1);
    }

    #[test]
    fn an_answer_over_the_size_limit_is_refused_unread_and_the_keys_stay() {
        let config = config();
        let jwt = config.services[0].auth.jwt.as_ref().unwrap();
        let mut refresh = JwksRefresh::new(&config);
        take_warnings();
        // Exactly at the limit: read and installed.
        let body = padded(&oct_jwks(2), MAX_FETCHED_BODY_BYTES);
        assert_eq!(refresh.due(1000).len(), 1);
        refresh.on_sent(0, Some(1));
        let r = refresh.on_answer_body(1, Some(200), Some(&body), &config, 1000);
        assert_eq!(r, Some(Refreshed::Installed));
        assert!(jwt.verify(&hs256_token("k1"), 1000).is_ok());

        // One byte more: refused before the body is read, said why, the keys stay.
        assert_eq!(refresh.due(1060).len(), 1);
        refresh.on_sent(0, Some(2));
        let size = MAX_FETCHED_BODY_BYTES + 1;
        let r = refresh.on_answer(2, Some(200), size, || unreachable!("read"), &config, 1060);
        assert_eq!(r, Some(Refreshed::Refused));
        assert_eq!(
            take_warnings(),
            vec![format!(
                "tollgate: JWKS from cluster idp refused, keeping the current keys: \
                 answer of {size} bytes, at most {MAX_FETCHED_BODY_BYTES} are read"
            )]
        );
        assert!(jwt.verify(&hs256_token("k0"), 1060).is_ok());
        assert!(refresh.due(1064).is_empty());
        assert_eq!(refresh.due(1065).len(), 1);
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
