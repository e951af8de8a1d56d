//! `api_backend` and `hostname_rewrite`: the Host header and path prefix APIcast sends upstream.
//!
//! Parsed by hand: the `url` crate would add about 217 KB to the module (measured), for
//! a split of `scheme://authority/path?query`.

use super::json::{error, Result};

/// What the filter changes on a forwarded request (Envoy's route still picks the cluster).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamRewrite {
    /// Sent as `:authority`: `hostname_rewrite`, else the api_backend host with a non-default port.
    pub host: Option<String>,
    /// The api_backend path, joined in front of the request path (`http://api/v1` + `/x` = `/v1/x`).
    pub path_prefix: String,
    /// api_backend's own query, which replaces the request's query (as `ngx.req.set_uri_args`).
    pub query: Option<String>,
}

impl UpstreamRewrite {
    pub fn parse(
        path: &str,
        api_backend: Option<&str>,
        hostname_rewrite: Option<&str>,
    ) -> Result<Option<UpstreamRewrite>> {
        let hostname_rewrite = hostname_rewrite.filter(|h| !h.is_empty());
        let backend = match api_backend.filter(|b| !b.is_empty()) {
            Some(b) => Some(parse_api_backend(path, b)?),
            None => None,
        };
        Ok(match (backend, hostname_rewrite) {
            (None, None) => None,
            (Some(mut b), rewrite) => {
                if let Some(h) = rewrite {
                    b.host = Some(h.to_string());
                }
                Some(b)
            }
            (None, Some(h)) => Some(UpstreamRewrite {
                host: Some(h.to_string()),
                ..Default::default()
            }),
        })
    }

    /// The upstream `:path` for a request path and query (query without `?`).
    pub fn rewrite_path(&self, path: &str, query: Option<&str>) -> String {
        let prefix = self.path_prefix.trim_end_matches('/');
        let mut out = if prefix.is_empty() {
            path.to_string()
        } else if path == "/" {
            self.path_prefix.clone()
        } else {
            format!("{prefix}{path}")
        };
        if let Some(q) = self.query.as_deref().or(query) {
            out.push('?');
            out.push_str(q);
        }
        out
    }
}

fn parse_api_backend(path: &str, value: &str) -> Result<UpstreamRewrite> {
    let (scheme, rest) = value.split_once("://").ok_or_else(|| {
        error(
            path,
            "expected an absolute http or https URL (invalid upstream)",
        )
    })?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => {
            return Err(error(
                path,
                "expected an http or https URL (invalid upstream)",
            ))
        }
    };
    let (authority, path_and_query) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.is_empty() {
        return Err(error(path, "the URL has no host (invalid upstream)"));
    }
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port == default_port => h,
        _ => authority,
    };
    let (prefix, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (path_and_query, None),
    };
    Ok(UpstreamRewrite {
        host: Some(host.to_ascii_lowercase()),
        path_prefix: prefix.to_string(),
        query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &str) -> UpstreamRewrite {
        UpstreamRewrite::parse("p", Some(b), None).unwrap().unwrap()
    }

    #[test]
    fn host_keeps_non_default_port() {
        assert_eq!(parse("http://test:8081").host.as_deref(), Some("test:8081"));
        assert_eq!(parse("http://test:80").host.as_deref(), Some("test"));
        assert_eq!(
            parse("https://Api.Example.com:443/").host.as_deref(),
            Some("api.example.com")
        );
    }

    #[test]
    fn path_prefix_is_joined() {
        let b = parse("http://test/foo");
        assert_eq!(b.rewrite_path("/bar", Some("a=1")), "/foo/bar?a=1");
        assert_eq!(b.rewrite_path("/", None), "/foo");
        assert_eq!(parse("http://test").rewrite_path("/x", None), "/x");
        assert_eq!(parse("http://test/").rewrite_path("/", None), "/");
        assert_eq!(
            parse("http://test/?k=v").rewrite_path("/x", Some("a=1")),
            "/x?k=v"
        );
    }

    #[test]
    fn refuses_url_without_scheme() {
        let err = UpstreamRewrite::parse("services[0].proxy.api_backend", Some("test.com"), None)
            .unwrap_err();
        assert_eq!(err.path, "services[0].proxy.api_backend");
    }

    #[test]
    fn hostname_rewrite_wins() {
        let r = UpstreamRewrite::parse("p", Some("http://a:81"), Some("b.example"))
            .unwrap()
            .unwrap();
        assert_eq!(r.host.as_deref(), Some("b.example"));
    }
}
