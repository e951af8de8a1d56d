//! The `url_rewriting` step of a request: what `apicast` sees and what the upstream gets
//! (`crate::rewrite`), or nothing in a build without regexes.

use super::reply::LocalReply;
use crate::config::Service;
use crate::request::RequestHead;

/// The service's `url_rewriting` policies on the request (`crate::rewrite`).
#[cfg(feature = "rewrite")]
pub(super) fn rewrite(
    service: &Service,
    head: RequestHead,
    normalized_path: &str,
    query: Option<&str>,
    max_bytes: usize,
) -> Result<crate::rewrite::Outcome, LocalReply> {
    crate::rewrite::run(
        &service.policies,
        head.method,
        normalized_path,
        query,
        max_bytes,
    )
}

/// Without regexes the policy is refused with the configuration: nothing to do.
#[cfg(not(feature = "rewrite"))]
pub(super) fn rewrite(
    _: &Service,
    _: RequestHead,
    _: &str,
    _: Option<&str>,
    _: usize,
) -> Result<NoRewrite, LocalReply> {
    Ok(NoRewrite::default())
}

#[cfg(not(feature = "rewrite"))]
#[derive(Default)]
pub(super) struct NoRewrite {
    pub at_apicast: Option<NoLine>,
    pub upstream: Option<NoLine>,
}

#[cfg(not(feature = "rewrite"))]
pub(super) struct NoLine {
    pub path: String,
    pub query: Option<String>,
}
