//! What the core needs to know about an incoming request, without depending on the host.

/// Looks up one request header by name (case-insensitive, as Envoy's header map is).
/// The adapter reads only the headers the core asks for.
pub trait HeaderSource {
    fn header(&self, name: &str) -> Option<String>;

    /// Whether the downstream connection is TLS. Asked only by HTTPS-only services, so the
    /// adapter reads it lazily. `:scheme` is no proof: Envoy derives it from a client-sent
    /// `X-Forwarded-Proto` unless `use_remote_address` is set.
    fn is_tls(&self) -> bool {
        false
    }
}

/// The pseudo-headers of a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    /// `:authority` (may carry a port).
    pub authority: &'a str,
    /// `:path`, query included.
    pub path: &'a str,
    /// Current time, seconds since the Unix epoch (JWT and signed-URL expiry).
    pub now: u64,
}

/// The host used for service selection: lower-cased, port removed.
pub fn host_of(authority: &str) -> String {
    let host = if authority.starts_with('[') {
        // IPv6 literal: keep the brackets, drop a port after them.
        authority.split_inclusive(']').next().unwrap_or(authority)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    host.to_ascii_lowercase()
}

/// Splits `:path` into path and query (without `?`); a fragment is dropped.
pub fn split_path(path: &str) -> (&str, Option<&str>) {
    let path = path.split('#').next().unwrap_or(path);
    match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_lowercased_without_port() {
        assert_eq!(host_of("API.Example.com:8080"), "api.example.com");
        assert_eq!(host_of("[::1]:10000"), "[::1]");
        assert_eq!(host_of("localhost"), "localhost");
    }

    #[test]
    fn path_and_query() {
        assert_eq!(split_path("/a?b=c?d"), ("/a", Some("b=c?d")));
        assert_eq!(split_path("/a"), ("/a", None));
    }
}
