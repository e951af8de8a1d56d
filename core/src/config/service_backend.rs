//! A service's own `proxy.backend` (`endpoint`, `host`): APIcast sends that service's calls
//! to it (its t/apicast-async-reporting.t TEST 3); Tollgate sends every service's to
//! `backend.cluster` with `backend.authority`. In a System export every service of a tenant
//! names the same backend, so nothing differs; services that name different ones (a
//! hand-made configuration) would be authorized against the wrong backend without a word
//! (found by an audit, 2026-12-07): they get a warning naming the JSON path. The field is
//! read from the service's JSON only for this (no value of it is refused).

use super::backend::BackendConfig;
use serde_json::Value;

/// The warnings for the services whose `proxy.backend.endpoint` names another host than the
/// first one naming any: Tollgate calls neither. `path` gives a service's JSON path from its
/// index, only for a warning. (A slice and a `dyn` path, not generics: one copy of this code
/// for both callers.)
pub(super) fn differing_backends(
    services: &[&Value],
    path: &dyn Fn(usize) -> String,
    backend: &BackendConfig,
) -> Vec<String> {
    let mut first: Option<(usize, &str)> = None;
    let mut warnings = Vec::new();
    for (i, service) in services.iter().enumerate() {
        let Some(endpoint) = service
            .get("proxy")
            .and_then(|proxy| proxy.get("backend"))
            .and_then(|named| named.get("endpoint"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let host = host_of(endpoint);
        match first {
            None => first = Some((i, host)),
            Some((first_i, first_host)) if !first_host.eq_ignore_ascii_case(host) => {
                warnings.push(format!(
                    "{}.proxy.backend.endpoint: names backend {host}, {}.proxy.backend.endpoint names {first_host}: Tollgate sends every service's calls to backend.cluster {} with :authority {}, not to a service's own proxy.backend",
                    path(i), path(first_i), backend.cluster, backend.authority
                ))
            }
            Some(_) => {}
        }
    }
    warnings
}

/// `https://su1.3scale.net:443/x` → `su1.3scale.net`; `http://backend:3000` → `backend:3000`
/// (compared without case).
fn host_of(url: &str) -> &str {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or(rest);
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else if scheme.eq_ignore_ascii_case("http") {
        ":80"
    } else {
        return authority;
    };
    authority.strip_suffix(default_port).unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_endpoint_host_is_compared_without_default_port_or_case() {
        assert_eq!(host_of("https://su1.3scale.net"), "su1.3scale.net");
        assert_eq!(host_of("HTTPS://SU1.3scale.net:443/"), "SU1.3scale.net");
        assert_eq!(host_of("http://backend:80?x"), "backend");
        assert_eq!(host_of("http://backend:3000/path"), "backend:3000");
        assert_eq!(host_of("https://backend:80"), "backend:80");
        assert_eq!(host_of("backend.local"), "backend.local");
    }

    #[test]
    fn services_naming_different_backends_are_named() {
        let backend = BackendConfig {
            cluster: "threescale_backend".into(),
            authority: "su1.3scale.net".into(),
            ..crate::config::Config::parse(br#"{"backend": {"cluster": "b"}, "services": []}"#)
                .unwrap()
                .config
                .backend
        };
        let svc =
            |endpoint: Value| json!({"proxy": {"backend": {"endpoint": endpoint, "host": "x"}}});
        let check = |services: Vec<Value>| {
            let services: Vec<&Value> = services.iter().collect();
            differing_backends(&services, &|i| format!("services[{i}]"), &backend)
        };
        let same = vec![
            svc(json!("https://su1.3scale.net")),
            svc(json!("https://su1.3scale.net:443")),
            json!({"proxy": {}}),
            json!({"proxy": {"backend": 5}}),
            svc(json!(5)),
            svc(json!("https://SU1.3scale.net/")),
        ];
        assert_eq!(check(same), Vec::<String>::new());
        assert_eq!(check(vec![]), Vec::<String>::new());
        let apart = vec![
            json!({"id": 1}),
            svc(json!("https://su1.3scale.net")),
            svc(json!("http://backend-b:3000")),
            svc(json!("https://su1.3scale.net")),
            svc(json!("http://backend-c")),
        ];
        let warnings = check(apart);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!(
            warnings[0],
            "services[2].proxy.backend.endpoint: names backend backend-b:3000, services[1].proxy.backend.endpoint names su1.3scale.net: Tollgate sends every service's calls to backend.cluster threescale_backend with :authority su1.3scale.net, not to a service's own proxy.backend"
        );
        assert!(
            warnings[1].starts_with("services[4].proxy.backend.endpoint: names backend backend-c,")
        );
    }
}
