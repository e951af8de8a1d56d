//! HTTPS-only: refuse credential-bearing requests that did not arrive over TLS.

use crate::config::json::{Obj, Result};
use crate::request::HeaderSource;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpsOnly {
    /// Believe `X-Forwarded-Proto` (set only when a trusted proxy in front terminates TLS
    /// and overwrites the header); otherwise only the connection's own TLS state counts.
    pub trust_forwarded_proto: bool,
}

impl HttpsOnly {
    pub fn parse(obj: &Obj) -> Result<Option<HttpsOnly>> {
        let on = obj.bool("https_only")?.unwrap_or(false);
        let trust = obj.bool("trust_forwarded_proto")?.unwrap_or(false);
        Ok(on.then_some(HttpsOnly {
            trust_forwarded_proto: trust,
        }))
    }

    pub fn is_secure(&self, headers: &dyn HeaderSource) -> bool {
        if self.trust_forwarded_proto {
            if let Some(proto) = headers.header("x-forwarded-proto") {
                // The first hop's value, when a chain of proxies appended theirs.
                let first = proto.split(',').next().unwrap_or("").trim();
                return first.eq_ignore_ascii_case("https");
            }
        }
        headers.is_tls()
    }
}
