//! A request whose credentials and mapping rules are known: the backend calls for it, its
//! cache key, and its verdict once the backend has answered.

use super::reply::{Forward, LocalReply, Outcome, SERVICE_ID_HEADER};
use crate::backend::{BackendAnswer, BackendCall, Decision};
use crate::cache::entry::key_digest;
use crate::cache::{Denial, EntryKey};
use crate::config::{Service, UpstreamRewrite};
use crate::credentials::Credentials;
use crate::mapping::{RuleMatch, Usage};
use std::sync::Arc;

pub struct MatchedRequest {
    service: Arc<Service>,
    pub credentials: Credentials,
    pub usage: Usage,
    /// The `X-3scale-*` debug headers, when the request asked for them with the right token.
    debug_headers: Vec<(String, String)>,
    /// `:authority` and `:path` to send upstream, when api_backend/hostname_rewrite say so.
    upstream_headers: Vec<(String, String)>,
    /// The request's `Referer`, sent as `referrer` (the `3scale_referrer` policy).
    pub referrer: Option<String>,
}

impl MatchedRequest {
    pub(super) fn new(
        service: Arc<Service>,
        credentials: Credentials,
        matched: RuleMatch,
        debug: bool,
        line: Line,
    ) -> MatchedRequest {
        let debug_headers = if debug {
            debug_headers(&service, Some(&credentials), &matched)
        } else {
            Vec::new()
        };
        MatchedRequest {
            upstream_headers: upstream_headers(&service, line),
            service,
            credentials,
            usage: matched.usage,
            debug_headers,
            referrer: None,
        }
    }

    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The authrep call that authorizes and reports this request.
    pub fn authrep_call(&self) -> BackendCall {
        BackendCall::authrep(
            &self.service,
            &self.credentials,
            &self.usage,
            self.referrer.as_deref(),
        )
    }

    /// The `authorize` call of batching mode (usage predicted, reported later).
    pub fn authorize_call(&self) -> BackendCall {
        BackendCall::authorize(
            &self.service,
            &self.credentials,
            &self.usage,
            self.referrer.as_deref(),
        )
    }

    /// What this request is cached under: an app_id and app_key under the application's
    /// entry (its keys share its limit), the key checked against it ([`Self::key_check`]).
    pub fn cache_key(&self) -> EntryKey {
        let fingerprint = &self.service.reporting_fingerprint;
        let application;
        let credentials = match &self.credentials {
            Credentials::AppIdAndKey { app_id, .. } => {
                application = Credentials::AppId(app_id.clone());
                &application
            }
            other => other,
        };
        EntryKey::identified(&self.service.id, fingerprint, credentials, &self.usage)
            .with_referrer(self.referrer.as_deref())
    }

    /// The app_key's digest, checked against its application's entry (`SharedEntry::members`).
    pub fn key_check(&self) -> Option<String> {
        match &self.credentials {
            Credentials::AppIdAndKey { app_key, .. } => Some(key_digest(app_key)),
            _ => None,
        }
    }

    /// Turns the backend's answer into the verdict: forward, or the reply. Fails closed when
    /// the backend is unavailable (the failure policy, if any, is applied before this).
    pub fn decide(&self, answer: &BackendAnswer) -> Result<Forward, LocalReply> {
        match answer.decision() {
            Decision::Authorized => Ok(self.forward()),
            Decision::LimitsExceeded { retry_after } => {
                Err(self.denied(Denial::LimitsExceeded { retry_after }))
            }
            Decision::Denied | Decision::BackendUnavailable => Err(self.denied(Denial::AuthFailed)),
        }
    }

    /// The service's error for a denial, with `Retry-After` when the reset is known.
    pub fn denied(&self, denial: Denial) -> LocalReply {
        let errors = &self.service.errors;
        let mut reply = match denial {
            Denial::AuthFailed => LocalReply::error(&errors.auth_failed, Outcome::AuthFailed),
            Denial::LimitsExceeded { retry_after } => {
                let mut r = LocalReply::error(&errors.limits_exceeded, Outcome::LimitsExceeded);
                if let Some(seconds) = retry_after {
                    r.headers
                        .push(("retry-after".to_string(), seconds.to_string()));
                }
                r
            }
        };
        reply.headers.extend(self.debug_headers.iter().cloned());
        reply
    }

    pub fn forward(&self) -> Forward {
        forward(
            &self.service,
            self.upstream_headers.clone(),
            self.debug_headers.clone(),
        )
    }
}

/// A request let through without credentials (a public path, or `authentication.mode: none`):
/// the same upstream headers and debug headers as any forwarded request, with no credentials
/// and no usage (nothing is reported).
pub(super) fn public_forward(
    service: &Service,
    matched: &RuleMatch,
    debug: bool,
    line: Line,
) -> Forward {
    let debug_headers = if debug {
        debug_headers(service, None, matched)
    } else {
        Vec::new()
    };
    let upstream = upstream_headers(service, line);
    Forward {
        public: true,
        ..forward(service, upstream, debug_headers)
    }
}

/// The upstream rewrite (`api_backend`, `hostname_rewrite`) and the secret token.
fn forward(
    service: &Service,
    set_request_headers: Vec<(String, String)>,
    response_headers: Vec<(String, String)>,
) -> Forward {
    Forward {
        set_request_headers,
        secret_token: service.secret_token.clone(),
        response_headers,
        public: false,
    }
}

/// The request's path and query, whether `url_rewriting` changed them, whether the host
/// is shared (`select::Selected::path_routed`), and its `:authority` when its host lost a
/// trailing dot.
pub(super) type Line<'a> = (&'a str, Option<&'a str>, bool, bool, Option<&'a str>);

/// `:authority` and `:path` to send upstream, when api_backend/hostname_rewrite (or a
/// `url_rewriting` policy) say so; on a shared host, the service's id.
fn upstream_headers(
    service: &Service,
    (path, query, rewritten, shared_host, dotless_authority): Line,
) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    if shared_host {
        // Path routing chose by method, path and args; Envoy's routes read the path alone,
        // so a prefix route can send the request to another service's upstream (found by an
        // audit, 2026-12-06: `DELETE /two` checked as `ANY /`'s service reached `/two`'s).
        // Envoy re-routes on this header, which no client can send (`reply.rs`).
        headers.push((SERVICE_ID_HEADER.to_string(), service.id.clone()));
    }
    let none = UpstreamRewrite::default();
    let rewrite = service.upstream.as_ref().unwrap_or(&none);
    // Envoy's virtual hosts do not match `api.example.com.`: a catch-all's upstream would get
    // what this service let through (found by an audit, 2026-12-07). Envoy re-routes on it.
    let authority = rewrite.host.as_deref().or(dotless_authority);
    if let Some(host) = authority {
        headers.push((":authority".to_string(), host.to_string()));
    }
    if rewritten || !rewrite.path_prefix.is_empty() || rewrite.query.is_some() {
        headers.push((":path".to_string(), rewrite.rewrite_path(path, query)));
    }
    headers
}

/// The `X-3scale-*` debug headers; without credentials (a public request) the credentials
/// and usage are empty.
fn debug_headers(
    service: &Service,
    credentials: Option<&Credentials>,
    matched: &RuleMatch,
) -> Vec<(String, String)> {
    let patterns: Vec<&str> = matched
        .matched
        .iter()
        .filter_map(|&i| service.rules.get(i))
        .map(|r| r.raw_pattern.as_str())
        .collect();
    let mut headers = vec![
        ("x-3scale-matched-rules".to_string(), patterns.join(", ")),
        (
            "x-3scale-credentials".to_string(),
            credentials.map(Credentials::encoded).unwrap_or_default(),
        ),
        (
            "x-3scale-usage".to_string(),
            credentials
                .map(|_| matched.usage.encoded())
                .unwrap_or_default(),
        ),
        ("x-3scale-service-id".to_string(), service.id.clone()),
        (
            "x-3scale-service-name".to_string(),
            service.system_name.clone(),
        ),
    ];
    if let Some(version) = service.config_version {
        headers.push(("x-3scale-config-version".to_string(), version.to_string()));
    }
    headers
}
