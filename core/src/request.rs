//! What the core needs to know about an incoming request, without depending on the host.

/// Looks up one request header by name (case-insensitive, as Envoy's header map is).
/// The adapter reads only the headers the core asks for.
pub trait HeaderSource {
    fn header(&self, name: &str) -> Option<String>;

    /// Whether `name` comes more than once with different values: the decision reads the
    /// first, an upstream may read another (a credential header sent twice is refused).
    fn header_ambiguous(&self, _name: &str) -> bool {
        false
    }

    /// The first value of the headers named `name` up to case and `-`/`_` (nginx's `$http_`
    /// variables and CGI-style upstreams read `X-Api-Key`, `x_api_key` and `X_Api-Key` as
    /// one), and whether another of them has a different value. This default tries the
    /// name, all-dashes and all-underscores; the adapter compares every name in the map.
    fn header_any_spelling(&self, name: &str) -> (Option<String>, bool) {
        let mut found: Option<String> = None;
        let mut ambiguous = false;
        let dashes = name.replace('_', "-");
        let underscores = name.replace('-', "_");
        for spelling in [name, &dashes, &underscores] {
            ambiguous |= self.header_ambiguous(spelling);
            if let Some(value) = self.header(spelling) {
                ambiguous |= found.as_ref().is_some_and(|f| *f != value);
                found.get_or_insert(value);
            }
        }
        (found, ambiguous)
    }

    /// Whether `found` holds for a value of a header named `name` up to case and `-`/`_`
    /// (CGI-style upstreams read `X_Forwarded_Host` as `X-Forwarded-Host`). This default
    /// tries the first value of `name` alone; the adapter tries every one.
    fn any_value_any_spelling(&self, name: &str, found: &mut dyn FnMut(&str) -> bool) -> bool {
        self.header(name).is_some_and(|v| found(&v))
    }

    /// Every value of `name` in the request as it arrived, joined with `,` as Envoy's filters
    /// read a repeated header (`jwt_authn` looks for its token in all of them). Header
    /// operations of the service's chain are not applied: filters before Tollgate saw none.
    #[cfg(feature = "jwt")]
    fn header_joined(&self, name: &str) -> Option<String> {
        self.header(name)
    }

    /// Whether the downstream connection is TLS. Asked only by HTTPS-only services, so the
    /// adapter reads it lazily. `:scheme` is no proof: Envoy derives it from a client-sent
    /// `X-Forwarded-Proto` unless `use_remote_address` is set.
    fn is_tls(&self) -> bool {
        false
    }

    /// The request's dynamic metadata as Envoy serializes it for the proxy-wasm `metadata`
    /// property: an `envoy.config.core.v3.Metadata` protobuf message (`None`: none). Asked only
    /// by services that trust `jwt_authn` (`authentication.jwt.from_jwt_authn`), so the adapter
    /// reads it lazily; a failed read must set [`HeaderSource::failed`].
    #[cfg(feature = "jwt")]
    fn dynamic_metadata(&self) -> Option<Vec<u8>> {
        None
    }

    /// Envoy's `source.address` property: the downstream address Envoy trusts, `ip:port` or
    /// `[ipv6]:port` (`None`: absent). Asked only by services whose `ip_check` reads
    /// `last_caller`, so the adapter reads it lazily; a failed read must set
    /// [`HeaderSource::failed`].
    fn source_address(&self) -> Option<String> {
        None
    }

    /// Whether a read failed (the adapter's host call). The request then fails closed: an
    /// absent header is not always the safe reading.
    fn failed(&self) -> bool {
        false
    }
}

/// Whether two header names are one to nginx's `$http_` and to CGI: equal up to ASCII case,
/// with `-` and `_` equal.
pub fn same_header_spelling(a: &[u8], b: &[u8]) -> bool {
    let dash = |c: u8| c == b'-' || c == b'_';
    a.len() == b.len()
        && (a.iter().zip(b)).all(|(x, y)| x.eq_ignore_ascii_case(y) || (dash(*x) && dash(*y)))
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
    pub now_s: u64,
}

/// The host used for service selection: lower-cased, a final `:<digits>` port removed, then
/// one trailing `.` (nginx's `$host`: `api.example.com.` is `api.example.com`).
///
/// Only a port Envoy would strip too (the last `:` outside IPv6 brackets, followed by digits
/// that fit 32 bits, as `strip_any_host_port` parses them):
/// `h:1:2` is `h:1`, and anything else after a `:` (`h:`, `h:abc`, `[::1]x:80`) is kept, so it
/// selects no service rather than one Envoy's routes do not send it to.
pub fn host_of(authority: &str) -> std::borrow::Cow<'_, str> {
    let (host, _) = split_port(authority);
    let host = host.strip_suffix('.').unwrap_or(host);
    // Borrowed when already lower-case (the usual case): one allocation less per request.
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        host.to_ascii_lowercase().into()
    } else {
        host.into()
    }
}

/// `authority` as (host, `:port` or ""), the port as [`host_of`] strips it.
pub fn split_port(authority: &str) -> (&str, &str) {
    match authority.rsplit_once(':') {
        Some((host, port))
            if port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u32>().is_ok()
                && (!host.starts_with('[') || host.ends_with(']')) =>
        {
            authority.split_at(host.len())
        }
        _ => (authority, ""),
    }
}

/// `authority` without the trailing `.` of its host, when it has one (`api.example.com.:80`
/// is `api.example.com:80`): the `:authority` a request [`host_of`] stripped goes upstream
/// with, so that Envoy routes it by the host its service was chosen by.
pub fn without_host_dot(authority: &str) -> Option<String> {
    let (host, port) = split_port(authority);
    host.strip_suffix('.').map(|host| format!("{host}{port}"))
}

/// Splits `:path` into path and query (without `?`); a fragment is dropped.
pub fn split_path(path: &str) -> (&str, Option<&str>) {
    let path = path.split('#').next().unwrap_or(path);
    match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    }
}

/// Whether an upstream could read `path` (query excluded) differently from the mapping rules,
/// which see it percent-decoded with dot segments resolved (`mapping::normalize_path`).
///
/// Such a path is refused rather than forwarded: an encoded slash or backslash (`%2F`,
/// `%5C`, `\`), which many upstreams decode or treat as `/`; a `;`, which Tomcat and Spring
/// strip with what follows it in a segment (`/public/..;/admin`); a `.` or `..` segment,
/// raw or encoded (`%2e%2e`), which Envoy resolves only when `normalize_path` is on; and
/// control bytes (`%00` truncates paths in C upstreams). Envoy's defaults pass all of these.
pub fn is_ambiguous_path(path: &str) -> bool {
    path.as_bytes().split(|b| *b == b'/').any(|segment| {
        let decoded: std::borrow::Cow<[u8]> = percent_encoding::percent_decode(segment).into();
        matches!(&*decoded, b"." | b"..")
            || decoded
                .iter()
                .any(|b| matches!(b, b'/' | b'\\' | b';' | 0x00..=0x1F | 0x7F))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_paths() {
        for path in [
            "/admin%2F..%2Fpublic",
            "/admin/..%2Fpublic",
            "/admin%2f%2e%2e%2fpublic",
            "/admin%20/..%2f..%2fpublic",
            "/public/..;/admin",
            "/public%5c..%5cadmin",
            "/public%5C..%5Cadmin",
            "/public\\..\\admin",
            "/public/../admin",
            "/public/%2e%2e/admin",
            "/public/.%2E/admin",
            "/public/%2e/admin",
            "/public/./admin",
            "/..",
            "/a/.",
            "/admin;jsessionid=1/x",
            "/admin%3Bx/y",
            "/admin%00/public",
            "/a%0Ab",
            "/a%7f",
            "/a\tb",
        ] {
            assert!(is_ambiguous_path(path), "{path}");
        }
    }

    #[test]
    fn plain_paths_are_not_ambiguous() {
        for path in [
            "/",
            "",
            "/public",
            "/public/x%20y",
            "/public//x",
            "/public/%41",
            "/a%252Fb",
            "/...",
            "/..foo/bar.",
            "/v1/word/hello.json",
            "/caf%C3%A9",
            "/a%",
            "/a%zz",
            "/$=!,&+:@'*()~",
        ] {
            assert!(!is_ambiguous_path(path), "{path}");
        }
    }

    #[test]
    fn host_is_lowercased_without_port() {
        assert_eq!(host_of("API.Example.com:8080"), "api.example.com");
        assert_eq!(host_of("[::1]:10000"), "[::1]");
        assert_eq!(host_of("localhost"), "localhost");
        assert_eq!(host_of("[::1]"), "[::1]");
        // Not a port Envoy strips: kept, so no service's host matches.
        for kept in [
            "h.example.com:",
            "h.example.com:abc",
            "[::1]x:80",
            "h.example.com:+80",
            "h.example.com:4294967296",
            "h.example.com:99999999999",
        ] {
            assert_eq!(host_of(kept), kept);
        }
        // Envoy's view too (ignore_port_in_host_matching): no service's host.
        assert_eq!(host_of("h.example.com:1:2"), "h.example.com:1");
        assert_eq!(host_of("[::1]:"), "[::1]:");
        assert_eq!(host_of("h.example.com:4294967295"), "h.example.com");
    }

    /// nginx's `$host` drops one trailing dot, after the port (found by an audit, 2026-12-07).
    #[test]
    fn host_loses_one_trailing_dot() {
        assert_eq!(host_of("API.example.com."), "api.example.com");
        assert_eq!(host_of("api.example.com.:8080"), "api.example.com");
        assert_eq!(host_of("api.example.com.."), "api.example.com.");
        assert_eq!(host_of("api.example.com:80."), "api.example.com:80");
        assert_eq!(host_of("."), "");
        let dotless = |a| without_host_dot(a);
        assert_eq!(dotless("Api.Example.com."), Some("Api.Example.com".into()));
        assert_eq!(
            dotless("api.example.com.:80"),
            Some("api.example.com:80".into())
        );
        assert_eq!(dotless("api.example.com:80"), None);
        assert_eq!(dotless("[::1]:80"), None);
    }

    #[test]
    fn path_and_query() {
        assert_eq!(split_path("/a?b=c?d"), ("/a", Some("b=c?d")));
        assert_eq!(split_path("/a"), ("/a", None));
    }
}
