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

/// Two services listing one host, one with a trailing dot and one without (`services`: the
/// configuration's raw JSON): refused with the later one's path. Envoy's virtual hosts keep
/// them apart, so the first service's checks (an open one) would let requests reach the
/// other's virtual host, its upstream (found by a red team, 2026-12-07).
pub(super) fn refuse_dot_spellings(services: &Value) -> Result<()> {
    let services = services.as_array().map(Vec::as_slice).unwrap_or_default();
    let services: Vec<_> = services.iter().map(|s| (s, None)).collect();
    match dot_clashes(&services).first() {
        Some(c) => {
            let why = format!("{} is services[{}]'s host too, spelled with or without a trailing dot (the same host): Envoy's virtual hosts tell them apart, the filter does not", c.host, c.first.0);
            Err(error(
                &format!("services[{}].proxy.hosts[{}]", c.later.0, c.later.1),
                why,
            ))
        }
        None => Ok(()),
    }
}

/// A host two services list, one with a trailing dot and one without.
pub(super) struct Clash {
    pub host: String,
    /// (service index, `proxy.hosts` index) of the later listing and of an earlier one.
    pub later: (usize, usize),
    pub first: (usize, usize),
}

/// Each listing that an earlier service spells with the other ending (`services`: service
/// objects and their ids; one id twice is one service, a kept version and its successor).
pub(super) fn dot_clashes(services: &[(&Value, Option<&str>)]) -> Vec<Clash> {
    let mut seen: Vec<(String, bool, (usize, usize))> = Vec::new();
    let mut clashes = Vec::new();
    for (i, (service, id)) in services.iter().enumerate() {
        let hosts = service.get("proxy").and_then(|p| p.get("hosts"));
        let hosts = hosts.and_then(Value::as_array).map(Vec::as_slice);
        for (j, host) in hosts.unwrap_or_default().iter().enumerate() {
            let Some(host) = host.as_str() else { continue };
            let (name, dotted) = (normalize_host(host), host.ends_with('.'));
            let other =
                |s: usize| s != i && (id.is_none() || services.get(s).map(|o| o.1) != Some(*id));
            let earlier =
                (seen.iter()).find(|(n, d, (s, _))| *n == name && *d != dotted && other(*s));
            if let Some(&(_, _, first)) = earlier {
                let host = name.clone();
                clashes.push(Clash {
                    host,
                    later: (i, j),
                    first,
                });
            }
            seen.push((name, dotted, (i, j)));
        }
    }
    clashes
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

    #[test]
    fn one_host_spelled_with_and_without_a_dot_by_two_services_is_refused() {
        let services = |a: &str, b: &str| json!([{"proxy": {"hosts": ["x.example.com", a]}}, {"proxy": {"hosts": [b]}}]);
        let e = refuse_dot_spellings(&services("API.example.com.", "api.example.com"));
        assert_eq!(e.unwrap_err().path, "services[1].proxy.hosts[0]");
        let e = refuse_dot_spellings(&services("api.example.com", "api.example.com."));
        assert_eq!(e.unwrap_err().path, "services[1].proxy.hosts[0]");
        // The same spelling twice is the first service's, as in APIcast; one service may
        // list both.
        assert!(refuse_dot_spellings(&services("api.example.com", "api.example.com")).is_ok());
        let one = json!([{"proxy": {"hosts": ["a.example.com", "a.example.com."]}}]);
        assert!(refuse_dot_spellings(&one).is_ok());
    }
}
