//! The access-phase checks of a [`PendingRequest`] that come from the policy chain
//! (`default_credentials`, `ip_check` after `apicast`, `jwt_claim_check`), and the 3scale
//! credential of a locally authenticated caller.

use super::{LocalReply, PendingRequest};
#[cfg(feature = "jwt")]
use crate::auth::claim_check;
use crate::auth::identity::{Identity, Method};
use crate::auth::Mode;
use crate::config::policies::configs::DefaultCredentials;
use crate::config::policies::Policy;
use crate::config::{AuthMode, CredentialsLocation, Service};
use crate::credentials::{Credentials, Slot};
use crate::mapping::QueryArgs;
use crate::request::HeaderSource;
use crate::secret::constant_time_eq;

impl PendingRequest {
    /// APIcast's `default_credentials` (before `apicast`): a version 1 service without
    /// `user_key` gets the configured `user_key`, a version 2 service with neither `app_id`
    /// nor `app_key` the configured `app_id` and `app_key` (both, else none: APIcast logs
    /// "No default app_id + app_key configured"), whatever `auth_type` says. They are then
    /// authorized and reported as any others. Credentials the request carries, even invalid
    /// or incomplete, are never replaced. Of several such policies the last that has them
    /// wins: each asks the request, not the one before it (found by an audit, 2026-12-07).
    pub(super) fn default_credentials(&self) -> Option<Credentials> {
        if self.service.auth.mode != Mode::ThreeScale {
            return None;
        }
        let found = &self.found;
        // A credential only in a spelling an upstream reads as it (`user.key`, `user_key[]`,
        // query or form body) is carried too: the defaults would authorize the anonymous
        // application while the upstream read that one (found by an audit, 2026-12-06).
        let names = &self.service.names;
        let spelled = |name: &str| self.spelled_args(name, true).next().is_some();
        let missing = match self.service.mode {
            AuthMode::UserKey => found.user_key.is_none() && !spelled(&names.user_key),
            AuthMode::AppIdAndKey => {
                found.app_id.is_none()
                    && found.app_key.is_none()
                    && !spelled(&names.app_id)
                    && !spelled(&names.app_key)
            }
            _ => false,
        };
        if !missing || self.carried_elsewhere {
            return None;
        }
        let policies = self.service.policies.default_credentials();
        policies
            .rev()
            .find_map(|defaults| match (defaults, self.service.mode) {
                (
                    DefaultCredentials {
                        user_key: Some(key),
                        ..
                    },
                    AuthMode::UserKey,
                ) => Some(Credentials::UserKey(key.clone())),
                (
                    DefaultCredentials {
                        app_id: Some(id),
                        app_key: Some(key),
                        ..
                    },
                    AuthMode::AppIdAndKey,
                ) => Some(Credentials::AppIdAndKey {
                    app_id: id.clone(),
                    app_key: key.clone(),
                }),
                _ => None,
            })
    }

    /// `local+3scale` (and OIDC): the caller's id is the 3scale credential, so a `user_key`
    /// or `app_id` the request carries beside the local credential, where the service reads
    /// credentials and in any spelling an upstream reads as one (`user.key`, `user_key[]`),
    /// must be that id, or the caller's own credential read as one (its API key, or with
    /// `credentials_location: authorization` its Basic username or Bearer token): the
    /// README's "a credential sent twice with different values is refused" (found by audits,
    /// 2026-12-06). A signed URL's query is its signer's; its body and headers are not.
    pub(super) fn names_another_caller(&self, who: &Identity) -> bool {
        if self.service.auth.mode != Mode::LocalThenThreeScale {
            return false;
        }
        let keys = self.service.auth.api_keys.as_ref();
        let is_own = |value: &str| match who.method {
            Method::ApiKey => {
                (keys.and_then(|k| k.find(value))).is_some_and(|key| key.id == who.id)
            }
            Method::Jwt => (self.bearer.as_deref())
                .is_some_and(|token| constant_time_eq(token.as_bytes(), value.as_bytes())),
            Method::Basic | Method::SignedUrl => false,
        };
        let names = &self.service.names;
        let signed = who.method == Method::SignedUrl;
        let spelled_another = [&names.user_key, &names.app_id].iter().any(|name| {
            (self.spelled_args(name, !signed))
                .any(|v| !constant_time_eq(v.as_bytes(), who.id.as_bytes()) && !is_own(v))
        });
        // With the query location, what `found` holds is in those args (checked above).
        let found_another = !(signed && self.service.location == CredentialsLocation::Query)
            && (self.found.ambiguous || self.found.names_another(&who.id, is_own));
        // A header the query location does not read, naming another caller (found by an
        // audit, 2026-12-07: `User-Key: victim` rode along with a verified token).
        let in_headers = (self.found.in_headers.iter()).any(|(slot, v)| {
            *slot != Slot::AppKey
                && !constant_time_eq(v.as_bytes(), who.id.as_bytes())
                && !is_own(v)
        });
        spelled_another || found_another || in_headers
    }

    /// The values of a credential arg `name` in every spelling an upstream reads as it
    /// (`user.key`, `user_key[]`; the query when `uri`, and the form body), wherever the
    /// service reads credentials: an upstream reads them in the args (found by an audit,
    /// 2026-12-07: `?user_key=` rode beside a token on a service reading the headers).
    fn spelled_args<'a>(&'a self, name: &'a str, uri: bool) -> impl Iterator<Item = &'a str> + 'a {
        self.args.spelled_in(name, uri)
    }

    /// An `ip_check` after `apicast` that denied the client (answered once apicast's own
    /// checks passed).
    pub(super) fn check_ip_after_apicast(&self) -> Result<(), LocalReply> {
        let denied = self
            .ip_denied
            .and_then(|i| self.service.policies.entries.get(i));
        match denied.map(|e| &e.policy) {
            Some(Policy::IpCheck(check)) => Err(LocalReply::ip_denied(&check.error_msg)),
            _ => Ok(()),
        }
    }

    /// The service's `jwt_claim_check` policies on one side of `apicast`: the first that
    /// denies answers 403 with its message. (Refused in a build without JWT.)
    #[cfg(not(feature = "jwt"))]
    pub(super) fn check_claims(&self, _: Option<&Identity>, _: bool) -> Result<(), LocalReply> {
        Ok(())
    }

    #[cfg(feature = "jwt")]
    pub(super) fn check_claims(
        &self,
        who: Option<&Identity>,
        before: bool,
    ) -> Result<(), LocalReply> {
        let claims = who.and_then(|w| w.claims.as_ref());
        let claim = |name: &str| claims.map(|c| c.render(name)).unwrap_or_default();
        let path = self.access_path();
        for (is_before, check) in self.service.policies.claim_checks() {
            if is_before == before && claim_check::denies(check, &self.method, path, &claim) {
                return Err(LocalReply::claim_check(&check.error_message));
            }
        }
        Ok(())
    }
}

/// Whether a credential name the service reads comes, with any value, where it does not read
/// it: in the query (in any spelling an upstream reads as the name, `;` pieces too) of a
/// service reading headers or `Authorization`, as a header (any spelling) of a service
/// reading the query or `Authorization`, or as a cookie (a form body:
/// `PendingRequest::add_form_body`). The default credentials would authorize their
/// application while the upstream read that one (found by an audit, 2026-12-07).
pub(super) fn carried_elsewhere(
    service: &Service,
    args: &QueryArgs,
    headers: &dyn HeaderSource,
) -> bool {
    let location = service.location;
    carries_a_name(service, &|name| {
        (location != CredentialsLocation::Query && args.spelled_other_than(name, None))
            || crate::credentials::cookie_differs(headers, name, None)
            || (location != CredentialsLocation::Headers
                && headers.any_value_any_spelling(name, &mut |_| true))
    })
}

/// Whether `carried` holds for a credential name of the service's version.
pub(super) fn carries_a_name(service: &Service, carried: &dyn Fn(&str) -> bool) -> bool {
    let names = &service.names;
    match service.mode {
        AuthMode::UserKey => carried(&names.user_key),
        AuthMode::AppIdAndKey => carried(&names.app_id) || carried(&names.app_key),
        AuthMode::Unusable => false,
    }
}

/// The 3scale credential for a locally authenticated caller: its id, as the user_key of a
/// version 1 service or the app_id of a version 2 service.
pub(super) fn credentials_for(service: &Service, who: &Identity) -> Option<Credentials> {
    match service.mode {
        AuthMode::UserKey => Some(Credentials::UserKey(who.id.clone())),
        AuthMode::AppIdAndKey => Some(Credentials::AppId(who.id.clone())),
        AuthMode::Unusable => None,
    }
}
