//! `api_backend` and `hostname_rewrite`: the Host header and path prefix APIcast sends upstream.
//!
//! Parsed by hand: the `url` crate would add about 217 KB to the module (measured), for
//! a split of `scheme://authority/path?query`.

use super::header_values::{authority_problem, check, path_problem};
use super::json::{error, Obj, Result};

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
    /// `api_backend` and `hostname_rewrite` of a service's `proxy`.
    pub fn parse(proxy: &Obj) -> Result<Option<UpstreamRewrite>> {
        let key = "hostname_rewrite";
        let hostname_rewrite = proxy.string(key)?.filter(|h| !h.is_empty());
        if let Some(h) = hostname_rewrite {
            check(&proxy.child_path(key), h, authority_problem)?;
        }
        let path = proxy.child_path("api_backend");
        let backend = match proxy.string("api_backend")?.filter(|b| !b.is_empty()) {
            Some(b) => Some(parse_api_backend(&path, b)?),
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
    check(path, host, authority_problem)?;
    check(path, path_and_query, path_problem)?;
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
    use serde_json::{json, Value};

    fn rewrite(proxy: Value) -> Result<Option<UpstreamRewrite>> {
        UpstreamRewrite::parse(&Obj::new("services[0].proxy", &proxy)?)
    }

    fn parse(b: &str) -> UpstreamRewrite {
        rewrite(json!({ "api_backend": b })).unwrap().unwrap()
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
        let err = rewrite(json!({"api_backend": "test.com"})).unwrap_err();
        assert_eq!(err.path, "services[0].proxy.api_backend");
    }

    #[test]
    fn hostname_rewrite_wins() {
        let r = rewrite(json!({"api_backend": "http://a:81", "hostname_rewrite": "b.example"}))
            .unwrap()
            .unwrap();
        assert_eq!(r.host.as_deref(), Some("b.example"));
    }

    /// What becomes `:authority` or `:path` upstream is refused at configuration when Envoy
    /// could not send it as it is (found by an audit, 2026-12-06).
    #[test]
    fn refuses_hosts_and_paths_that_are_not_urls() {
        for (proxy, at) in [
            (
                json!({"hostname_rewrite": "a.example\r\nX-Evil: 1"}),
                "hostname_rewrite",
            ),
            (json!({"hostname_rewrite": "a example"}), "hostname_rewrite"),
            (
                json!({"api_backend": "http://a.example\r\nX-Evil: 1/"}),
                "api_backend",
            ),
            (
                json!({"api_backend": "http://a\u{0}b:8080/"}),
                "api_backend",
            ),
            (
                json!({"api_backend": "http://a.example/v1 HTTP/1.1\r\nX: y"}),
                "api_backend",
            ),
            (
                json!({"api_backend": "http://a.example/?q=a\nb"}),
                "api_backend",
            ),
        ] {
            let e = rewrite(proxy.clone()).unwrap_err();
            assert_eq!(e.path, format!("services[0].proxy.{at}"), "{proxy}");
        }
        let ok = json!({"api_backend": "https://u:p@[::1]:8443/v1;x=%20?k=v", "hostname_rewrite": "api.example:81"});
        assert!(rewrite(ok).is_ok());
    }
}
