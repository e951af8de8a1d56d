//! `PendingRequest::authorize`: transport and header secrets, credentials, then the mapping
//! rules and the access-phase policies, in APIcast's order; then the backend call to make, or
//! (local authentication) the request to forward.

use super::{access, matched, routing, MatchedRequest, Next, PendingRequest};
use super::{Forward, LocalReply, Outcome};
use crate::auth::identity::Identity;
use crate::auth::local::LocalFailure;
use crate::auth::Mode;
use crate::mapping::{match_rules, RuleMatch};
use crate::policies;

impl PendingRequest {
    /// Transport and header secrets, credentials, then mapping rules; on success, the
    /// backend call to make, or (local authentication) the request to forward.
    pub fn authorize(mut self) -> Result<Next, LocalReply> {
        let errors = &self.service.errors;
        let failed = || LocalReply::error(&errors.auth_failed, Outcome::AuthFailed);
        if let Some(reply) = self.early {
            return Err(reply);
        }
        if self.method_overridden {
            return Err(LocalReply::method_override());
        }
        if self.body_arg_changed {
            return Err(LocalReply::ambiguous_arg());
        }
        if self.encoded_form && self.reads_form() {
            return Err(LocalReply::encoded_form());
        }
        if self.encoded_body {
            return Err(LocalReply::encoded_body());
        }
        if self.insecure {
            return Err(LocalReply::https_required());
        }
        if self.header_secret_failed || self.body_credential_failed {
            return Err(failed());
        }
        if self.public_path {
            // No credentials, but every other check: a preflight is answered here (never
            // forwarded), and the `ip_check` after `apicast` and `jwt_claim_check` (no token:
            // every claim is empty) still apply.
            if self.preflight {
                return Err(policies::preflight());
            }
            self.check_ip_after_apicast()?;
            self.check_claims(None, true)?;
            self.check_claims(None, false)?;
            return Ok(Next::Forward(self.public(&RuleMatch::default())));
        }
        let identity = match &self.local {
            None => None,
            Some(Ok(identity)) => Some(identity),
            Some(Err(LocalFailure::Missing)) => {
                return Err(LocalReply::error(
                    &errors.auth_missing,
                    Outcome::AuthMissing,
                ))
            }
            Some(Err(LocalFailure::Failed)) => return Err(failed()),
        };
        let credentials = match identity {
            Some(who) if self.names_another_caller(who) => return Err(failed()),
            Some(who) => access::credentials_for(&self.service, who),
            None if self.found.ambiguous => return Err(failed()),
            None => {
                let found = self.found.take_complete(self.service.mode);
                found.or_else(|| self.default_credentials())
            }
        };
        // Longer than any 3scale credential: refused before the backend is asked or a cache
        // key holds it (`credentials::MAX_VALUE_BYTES`).
        let asks_backend = matches!(
            self.service.auth.mode,
            Mode::ThreeScale | Mode::LocalThenThreeScale
        );
        if asks_backend && credentials.as_ref().is_some_and(|c| !c.fits()) {
            return Err(failed());
        }
        let open = self.service.auth.mode == Mode::Open;
        if credentials.is_none() && !open {
            return Err(LocalReply::error(
                &errors.auth_missing,
                Outcome::AuthMissing,
            ));
        }
        if self.preflight {
            // APIcast's `cors` after `apicast`: its rewrite answers once apicast's found them.
            return Err(policies::preflight());
        }
        // `jwt_claim_check` before `apicast` answers before the mapping rules, after it once
        // they matched; either way before the backend is called.
        self.check_claims(identity, true)?;
        if self.service.rules_use_args && self.args.truncated() {
            return Err(LocalReply::too_many_args());
        }
        let matched = match_rules(
            &self.service.rules,
            &self.method,
            &self.normalized_path,
            &self.args,
        );
        if matched.ambiguous_arg || self.route.as_ref().is_some_and(|r| r.ambiguous) {
            return Err(LocalReply::ambiguous_arg());
        }
        // Without a backend, a service without rules lets every path through, and a matched
        // rule is enough (there is no usage to report, so a `delta` of 0 matches too).
        let local = matches!(self.service.auth.mode, Mode::Local | Mode::Open);
        let no_match = || Err(LocalReply::error(&errors.no_match, Outcome::NoMatch));
        if local && matched.matched.is_empty() && !self.service.rules.is_empty() {
            return no_match();
        }
        if !local && matched.usage.is_empty() {
            return no_match();
        }
        let mut matched = matched;
        self.route(identity, &mut matched);
        if !local && matched.usage.is_empty() {
            // `routing` left nothing to report: an authrep without usage would be served
            // unmetered (APIcast's `authorize` answers no match to an empty usage).
            return no_match();
        }
        if let Some(who) = identity {
            let allowed = matched
                .matched
                .iter()
                .filter_map(|&i| self.service.rule_access.get(i))
                .all(|access| who.may(access, &self.method));
            if !allowed {
                return Err(failed());
            }
        }
        self.check_ip_after_apicast()?;
        self.check_claims(identity, false)?;
        let Some(credentials) = credentials else {
            // Mode none: nobody to authorize or report.
            return Ok(Next::Forward(self.public(&matched)));
        };
        let mut matched = MatchedRequest::new(
            self.service.clone(),
            credentials,
            matched,
            self.debug,
            self.line(),
        );
        matched.referrer = self.referrer;
        Ok(match self.service.auth.mode {
            Mode::Local | Mode::Open => Next::Forward(matched.forward()),
            Mode::ThreeScale | Mode::LocalThenThreeScale => Next::Backend(matched),
        })
    }

    /// The `routing` policy: the usage of rules owned by backends the request is not routed
    /// to goes: after the rules' no-match check, and before `authorize`'s check of an empty
    /// usage, as in APIcast.
    fn route(&self, _who: Option<&Identity>, matched: &mut RuleMatch) {
        let (Some(rules), Some(inputs)) = (self.service.policies.routing(), &self.route) else {
            return;
        };
        #[cfg(feature = "jwt")]
        let claims = _who.and_then(|w| w.claims.as_ref());
        #[cfg(not(feature = "jwt"))]
        let claims = None;
        let claim = |name: &str| routing::claim_text(claims, name);
        if let Some(owner) = routing::owner(rules, inputs, self.access_path(), &claim) {
            routing::clean_usage(&self.service, matched, owner);
        }
    }

    /// The path APIcast's access-phase policies (`routing`, `jwt_claim_check`) read: after
    /// every url_rewriting, as Envoy's route reads it (found by audits).
    pub(super) fn access_path(&self) -> &str {
        match self.rewritten {
            true => &self.path,
            false => &self.normalized_path,
        }
    }

    fn public(&self, matched: &RuleMatch) -> Forward {
        matched::public_forward(&self.service, matched, self.debug, self.line())
    }

    /// What the upstream's request line and service header are made of.
    fn line(&self) -> matched::Line<'_> {
        let (query, rewritten) = (self.query.as_deref(), self.rewritten);
        let authority = self.dotless_authority.as_deref();
        (&self.path, query, rewritten, self.shared_host, authority)
    }
}
