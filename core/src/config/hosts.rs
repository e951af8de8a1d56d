//! `proxy.hosts`: the hosts a service is chosen by, compared as the request's host is read
//! (`request::host_of`: lower-cased, without its port and one trailing dot, as nginx's `$host`).
//! A host no request's can be is refused with its path: the service would never be selected,
//! and every request for it would be 404 (found by an audit, 2026-12-07).

use super::header_values::authority_problem;
use super::json::{error, Obj, Result};
use crate::request::split_port;
use serde_json::Value;

/// `proxy.hosts`, read as [`normalize_host`] reads them; `localhost` when absent.
pub(super) fn parse_hosts(proxy: &Obj) -> Result<Vec<String>> {
    let hosts = proxy.array("hosts", |path, v| match v {
        Value::String(h) => match host_problem(h) {
            Some(why) => Err(error(path, why)),
            None => Ok(normalize_host(h)),
        },
        _ => Err(error(path, "expected a non-empty string")),
    })?;
    Ok(hosts.unwrap_or_else(|| vec!["localhost".to_string()]))
}

/// A listed host as a request's is compared: lower-cased (`API.example.com` is served, which
/// APIcast never matches), one trailing dot dropped (an absolute name is the same host).
pub(super) fn normalize_host(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// Why no request's host can be `host`, if so.
fn host_problem(host: &str) -> Option<&'static str> {
    if host.is_empty() {
        Some("expected a non-empty string")
    } else if authority_problem(host).is_some() {
        Some("never a request's host (no space, control, `/`, `?`, `#` or non-ASCII character is in one): write the host alone, an internationalised one as `xn--`")
    } else if host.contains('*') || host.starts_with('.') {
        Some("a wildcard: hosts are matched exactly, as in APIcast (list each host)")
    } else if host.contains("..") {
        Some("has an empty label (`..`), which no request's host has")
    } else if !split_port(host).1.is_empty() {
        Some("ends in :<digits>, read as a port: hosts are matched without one (an IPv6 address goes in brackets)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(hosts: Value) -> Result<Vec<String>> {
        let proxy = json!({ "hosts": hosts });
        parse_hosts(&Obj::new("services[0].proxy", &proxy)?)
    }

    #[test]
    fn hosts_no_request_has_are_refused_with_their_path() {
        for (host, says) in [
            ("", "non-empty"),
            ("api example.com", "never a request's host"),
            (" api.example.com", "never a request's host"),
            ("api.example.com\n", "never a request's host"),
            ("https://api.example.com", "never a request's host"),
            ("api.example.com/v1", "never a request's host"),
            ("b\u{fc}cher.example", "never a request's host"),
            ("*.example.com", "wildcard"),
            ("*", "wildcard"),
            ("api.*.com", "wildcard"),
            (".example.com", "wildcard"),
            (".", "wildcard"),
            ("api..example.com", "empty label"),
            ("api.example.com..", "empty label"),
            ("api.example.com:8080", "port"),
            ("api.example.com.:80", "port"),
        ] {
            let e = parse(json!(["ok.example.com", host])).unwrap_err();
            assert_eq!(e.path, "services[0].proxy.hosts[1]", "{host:?}");
            assert!(e.message.contains(says), "{host:?}: {e}");
        }
        assert!(parse(json!([5])).is_err());
    }

    #[test]
    fn hosts_are_read_as_a_request_host_is() {
        let hosts = parse(json!([
            "API.Example.com",
            "api.example.com.",
            "[::1]",
            "a_b.local"
        ]));
        assert_eq!(
            hosts.unwrap(),
            ["api.example.com", "api.example.com", "[::1]", "a_b.local"]
        );
        for host in ["API.Example.com.", "api.example.com"] {
            assert_eq!(
                normalize_host(host),
                crate::request::host_of(&format!("{host}:443"))
            );
        }
        assert_eq!(parse(json!(null)).unwrap(), ["localhost"]);
    }
}
