//! The 3scale Service Management API's vocabulary, written once: the endpoints, the
//! `3scale-options` header and its value, the answer headers the filter reads, and the
//! rejection reason it acts on. The adapter and the mock backend (`tools/mock-backend`) use
//! these names too.

/// A transaction endpoint of the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /transactions/authrep.xml`: authorize and report one call.
    Authrep,
    /// `GET /transactions/authorize.xml`: authorize only (batching).
    Authorize,
    /// `GET /transactions/oauth_authrep.xml`: authrep of an OpenID Connect service.
    OauthAuthrep,
    /// `GET /transactions/oauth_authorize.xml`: authorize of an OpenID Connect service.
    OauthAuthorize,
    /// `POST /transactions.xml`: report calls in a form body.
    Report,
}

impl Endpoint {
    pub const ALL: [Endpoint; 5] = [
        Endpoint::Authrep,
        Endpoint::Authorize,
        Endpoint::OauthAuthrep,
        Endpoint::OauthAuthorize,
        Endpoint::Report,
    ];

    /// Authrep, or its OAuth variant for an OpenID Connect service.
    pub fn authrep(oauth: bool) -> Endpoint {
        if oauth {
            Endpoint::OauthAuthrep
        } else {
            Endpoint::Authrep
        }
    }

    /// Authorize, or its OAuth variant for an OpenID Connect service.
    pub fn authorize(oauth: bool) -> Endpoint {
        if oauth {
            Endpoint::OauthAuthorize
        } else {
            Endpoint::Authorize
        }
    }

    /// The path, without a query.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Authrep => "/transactions/authrep.xml",
            Endpoint::Authorize => "/transactions/authorize.xml",
            Endpoint::OauthAuthrep => "/transactions/oauth_authrep.xml",
            Endpoint::OauthAuthorize => "/transactions/oauth_authorize.xml",
            Endpoint::Report => "/transactions.xml",
        }
    }

    /// The method the filter sends (the backend also takes `HEAD` for the `GET` ones).
    pub fn method(self) -> &'static str {
        match self {
            Endpoint::Report => "POST",
            _ => "GET",
        }
    }

    /// The endpoint at `path` (without a query), if any.
    pub fn from_path(path: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.path() == path)
    }

    /// An authrep (authorize and report), OAuth or not.
    pub fn is_authrep(self) -> bool {
        matches!(self, Endpoint::Authrep | Endpoint::OauthAuthrep)
    }

    /// An OpenID Connect endpoint.
    pub fn is_oauth(self) -> bool {
        matches!(self, Endpoint::OauthAuthrep | Endpoint::OauthAuthorize)
    }
}

/// The request header that turns the backend's extensions on.
pub const OPTIONS_HEADER: &str = "3scale-options";
/// The extensions APIcast asks for: rejection reason and limit headers, no XML body.
pub const OPTIONS: &str = "rejection_reason_header=1&limit_headers=1&no_body=1";

/// Answer header: why the call was denied (`rejection_reason_header=1`).
pub const REJECTION_REASON_HEADER: &str = "3scale-rejection-reason";
/// Answer headers of `limit_headers=1`: calls left, seconds to the reset, the limit.
pub const LIMIT_REMAINING_HEADER: &str = "3scale-limit-remaining";
pub const LIMIT_RESET_HEADER: &str = "3scale-limit-reset";
pub const LIMIT_MAX_VALUE_HEADER: &str = "3scale-limit-max-value";

/// The rejection reason of a call over its limits (the limits-exceeded error, not auth failed).
pub const LIMITS_EXCEEDED: &str = "limits_exceeded";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_endpoint() {
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::from_path(e.path()), Some(e));
        }
        assert_eq!(Endpoint::from_path("/transactions/authrep.xml?x=1"), None);
        assert_eq!(
            Endpoint::authorize(true).path(),
            "/transactions/oauth_authorize.xml"
        );
        assert_eq!(Endpoint::Report.method(), "POST");
    }
}
