//! The request pipeline, in APIcast's order: service, credentials, mapping rules,
//! backend authorization, then a local reply or the upstream.
//!
//! ```text
//! Pipeline::begin ──► Begin::Reply (404 unknown host)
//!        │
//!        └► PendingRequest ──(wants_body? add_form_body)──► authorize()
//!                 ├─► LocalReply (401 auth missing, 404 no match)
//!                 └─► Authorization { call } ──(backend answer)──► decide() ─► Verdict
//! ```

mod authorization;
mod reply;

pub use authorization::Authorization;
pub use reply::{Forward, LocalReply, Outcome, Verdict, STRIPPED_REQUEST_HEADERS};

use crate::config::{Config, CredentialsLocation, Service};
use crate::credentials::{self, Found};
use crate::mapping::{any_rule_matches, match_rules, normalize_path, QueryArgs};
use crate::request::{host_of, split_path, HeaderSource, RequestHead};
use crate::secret::constant_time_eq;
use std::sync::Arc;

pub enum Begin {
    Reply(LocalReply),
    Request(PendingRequest),
}

/// A request whose service is known, possibly waiting for its form body.
pub struct PendingRequest {
    service: Arc<Service>,
    method: String,
    normalized_path: String,
    /// Raw path and query, for the upstream rewrite.
    path: String,
    query: Option<String>,
    args: QueryArgs,
    found: Found,
    debug: bool,
    body_eligible: bool,
}

/// Starts the pipeline from the request head; reads only the headers it needs.
pub fn begin(config: &Config, head: RequestHead, headers: &dyn HeaderSource) -> Begin {
    let (path, query) = split_path(head.path);
    let normalized_path = normalize_path(path);
    let args = query.map(QueryArgs::parse).unwrap_or_default();
    let Some(service) = select_service(config, head, &normalized_path, &args) else {
        return Begin::Reply(LocalReply::service_not_found());
    };
    let found = credentials::extract(&service, &args, headers);
    let debug = is_debug(&service, headers);
    let body_eligible = service.location == CredentialsLocation::Query
        && matches!(head.method, "POST" | "PUT" | "PATCH")
        && headers
            .header("content-type")
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("application/x-www-form-urlencoded"));
    Begin::Request(PendingRequest {
        service,
        method: head.method.to_string(),
        normalized_path,
        path: path.to_string(),
        query: query.map(str::to_string),
        args,
        found,
        debug,
        body_eligible,
    })
}

/// Host routing (first service listing the host), or path routing (first service with a
/// matching rule, URI args only), falling back to host routing unless path routing only.
fn select_service(
    config: &Config,
    head: RequestHead,
    normalized_path: &str,
    args: &QueryArgs,
) -> Option<Arc<Service>> {
    let host = host_of(head.authority);
    let mut candidates = config.services_for_host(&host);
    if !config.path_routing {
        return candidates.next().cloned();
    }
    let by_path = config
        .services_for_host(&host)
        .find(|s| any_rule_matches(&s.rules, head.method, normalized_path, args));
    match by_path {
        Some(s) => Some(s.clone()),
        None if config.path_routing_only => None,
        None => candidates.next().cloned(),
    }
}

/// Debug headers are on when `X-3scale-Debug` equals the backend authentication value.
fn is_debug(service: &Service, headers: &dyn HeaderSource) -> bool {
    let Some(auth) = &service.backend_auth else {
        return false;
    };
    headers
        .header("x-3scale-debug")
        .is_some_and(|v| constant_time_eq(v.as_bytes(), auth.value.as_bytes()))
}

impl PendingRequest {
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// True when the form body must be read: credentials may be in it, or rules look at args.
    pub fn wants_body(&self) -> bool {
        self.body_eligible
            && (self.found.complete(self.service.mode).is_none() || self.service.rules_use_args)
    }

    /// Adds a form-urlencoded body: it fills missing credentials, and its args win for rules.
    pub fn add_form_body(&mut self, body: &[u8]) {
        let form = QueryArgs::parse_form(&String::from_utf8_lossy(body));
        self.found.fill_from_args(&self.service, &form);
        self.args.overlay(&form);
    }

    /// Credentials, then mapping rules; on success, the backend call to make.
    pub fn authorize(self) -> Result<Authorization, LocalReply> {
        let errors = &self.service.errors;
        let Some(credentials) = self.found.complete(self.service.mode) else {
            return Err(LocalReply::error(&errors.auth_missing, Outcome::AuthMissing));
        };
        let matched = match_rules(&self.service.rules, &self.method, &self.normalized_path, &self.args);
        if matched.usage.is_empty() {
            return Err(LocalReply::error(&errors.no_match, Outcome::NoMatch));
        }
        Ok(Authorization::new(
            self.service,
            credentials,
            matched,
            self.debug,
            &self.path,
            self.query.as_deref(),
        ))
    }
}

#[cfg(test)]
mod tests;
