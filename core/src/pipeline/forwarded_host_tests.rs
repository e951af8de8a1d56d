//! `X-Forwarded-Host` and `Forwarded: host=` naming another service's host: 400 before any
//! backend call (found by an audit, 2026-12-06); a front proxy's own name passes.

use super::*;
use crate::config::Config;
use serde_json::json;

/// Headers in order, repeats kept, names compared up to case and `-`/`_` as the adapter does.
struct Headers(Vec<(&'static str, &'static str)>);
impl HeaderSource for Headers {
    fn header(&self, name: &str) -> Option<String> {
        let mut first = None;
        self.any_value_any_spelling(name, &mut |v| first.replace(v.to_string()).is_none());
        first
    }

    fn any_value_any_spelling(&self, name: &str, found: &mut dyn FnMut(&str) -> bool) -> bool {
        (self.0.iter()).any(|(k, v)| {
            crate::request::same_header_spelling(k.as_bytes(), name.as_bytes()) && found(v)
        })
    }
}

/// A public service on `public.example.com` and a `user_key` one on `admin.example.com` (and
/// `localhost`, its second host); `held.example.com` is held by a skipped System service.
fn config() -> Config {
    let rules =
        json!([{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let v = json!({"backend": {"cluster": "b"}, "services": [
        {"id": 1, "authentication": {"mode": "none"},
         "proxy": {"hosts": ["public.example.com"], "proxy_rules": rules}},
        {"id": 2, "backend_version": 1,
         "proxy": {"hosts": ["admin.example.com", "localhost"], "proxy_rules": rules}}
    ]});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

fn with_held(config: &Config) -> Config {
    let content = |id: u64, host: &str, mode: &str| {
        json!({"id": id, "backend_version": 1, "authentication": {"mode": mode},
            "proxy": {"hosts": [host], "proxy_rules": []}})
    };
    let fetched: Vec<crate::config::FetchedService> = [
        content(1, "public.example.com", "none"),
        content(3, "held.example.com", "unknown-mode"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, content)| crate::config::FetchedService {
        id: Some((i + 1).to_string()),
        version: 1,
        environment: "production".into(),
        content,
        path: format!("proxy_configs[{i}].proxy_config.content"),
    })
    .collect();
    let (config, warnings) = config.with_fetched(&fetched);
    assert!(
        warnings.iter().any(|w| w.contains("unknown-mode")),
        "{warnings:?}"
    );
    config
}

fn outcome(
    config: &Config,
    authority: &str,
    headers: Vec<(&'static str, &'static str)>,
) -> Result<(), (u16, String)> {
    let head = RequestHead {
        method: "GET",
        authority,
        path: "/x",
        now_s: 0,
    };
    match begin(config, head, &Headers(headers)) {
        Ok(_) => Ok(()),
        Err(r) => Err((r.status, r.body)),
    }
}

#[test]
fn a_forwarded_host_naming_another_service_is_refused() {
    let c = config();
    let refused = Err((400, "Bad Request: ambiguous host".to_string()));
    for headers in [
        vec![("X-Forwarded-Host", "admin.example.com")],
        vec![("x-forwarded-host", "ADMIN.example.com:443")],
        vec![("X-Forwarded-Host", "cdn.example.net, admin.example.com")],
        vec![
            ("X-Forwarded-Host", "cdn.example.net"),
            ("X-Forwarded-Host", "admin.example.com"),
        ],
        vec![("X_Forwarded_Host", "admin.example.com")],
        vec![("X-Forwarded-Host", " localhost ")],
        vec![("Forwarded", "host=admin.example.com")],
        vec![(
            "Forwarded",
            "for=192.0.2.1;host=\"admin.example.com:8443\";proto=https",
        )],
        vec![("Forwarded", "for=192.0.2.1, HOST=Admin.Example.com")],
        vec![
            ("forwarded", "host=cdn.example.net"),
            ("Forwarded", "Host=\"admin.example.com\""),
        ],
        // Read by a regex over the whole value (Spring, Vert.x): found by a review.
        vec![("Forwarded", "for=\"host=admin.example.com\"")],
        vec![("Forwarded", "for=192.0.2.1;xhost=admin.example.com")],
        vec![("Forwarded", "host=\"admin.example.com")],
        vec![("Forwarded", "host=admin.example.com\"")],
        // Cut at the first `:` (Express's `req.hostname`).
        vec![("X-Forwarded-Host", "admin.example.com:abc")],
        vec![("X-Forwarded-Host", "admin.example.com:")],
        vec![("X-Forwarded-Host", "admin.example.com:1:2")],
        vec![("Forwarded", "host=admin.example.com:x")],
    ] {
        assert_eq!(
            outcome(&c, "public.example.com", headers.clone()),
            refused,
            "{headers:?}"
        );
    }
}

#[test]
fn a_forwarded_host_no_service_lists_or_the_own_host_passes() {
    let c = config();
    for headers in [
        vec![],
        vec![("X-Forwarded-Host", "cdn.example.net")],
        vec![("X-Forwarded-Host", "public.example.com:8443")],
        vec![("X-Forwarded-Host", "PUBLIC.example.com, cdn.example.net")],
        vec![("Forwarded", "for=192.0.2.1;host=\"public.example.com:443\"")],
        vec![("Forwarded", "for=admin.example.com;by=admin.example.com")],
        vec![("Forwarded", "for=localhost")],
        vec![("X-Forwarded-Host", "")],
        vec![("Forwarded", "host")],
    ] {
        assert_eq!(
            outcome(&c, "public.example.com:80", headers.clone()),
            Ok(()),
            "{headers:?}"
        );
    }
}

#[test]
fn a_held_host_counts_and_one_host_needs_no_check() {
    let c = with_held(&config());
    let headers = vec![("X-Forwarded-Host", "held.example.com")];
    assert_eq!(
        outcome(&c, "public.example.com", headers),
        Err((400, "Bad Request: ambiguous host".to_string()))
    );
    // One host listed: no header is read (the only host is the request's own or unknown).
    let v = json!({"backend": {"cluster": "b"}, "services": [
        {"id": 1, "authentication": {"mode": "none"},
         "proxy": {"hosts": ["public.example.com"], "proxy_rules": []}}]});
    let one = Config::parse(v.to_string().as_bytes()).unwrap().config;
    struct Unread;
    impl HeaderSource for Unread {
        fn header(&self, name: &str) -> Option<String> {
            panic!("{name} read")
        }
        fn any_value_any_spelling(&self, name: &str, _: &mut dyn FnMut(&str) -> bool) -> bool {
            panic!("{name} read")
        }
    }
    assert!(!forwarded_host::names_another_host(
        &one,
        "public.example.com",
        &Unread
    ));
}

/// Another host of the request's own service is no confusion: a front proxy (ingress-nginx's
/// `upstream-vhost`, a CDN's origin host) rewrites `Host` to an internal name and forwards the
/// public one (found by a review, 2026-12-06).
#[test]
fn another_host_of_the_same_service_passes() {
    let c = config();
    for named in ["admin.example.com", "ADMIN.example.com:443"] {
        let headers = vec![("X-Forwarded-Host", named)];
        assert_eq!(outcome(&c, "localhost", headers), Ok(()), "{named}");
    }
    let headers = vec![("Forwarded", "host=public.example.com")];
    assert_eq!(
        outcome(&c, "localhost", headers),
        Err((400, "Bad Request: ambiguous host".to_string()))
    );
}
