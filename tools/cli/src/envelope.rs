//! `tollgate check` on what 3scale System answers: a page (`{"proxy_configs": [...]}`), one
//! `{"proxy_config": ...}` (the files `tollgate pull` writes). Envelopes are read with the
//! filter's own reader (`parse_answer`), and each service is compiled as the filter compiles
//! a fetched one, so an error names the path the filter's warning would name
//! (`proxy_configs[3].proxy_config.content.proxy.proxy_rules[2].delta: expected an integer`).

use serde_json::Value;
use tollgate_core::config::system::parse_answer;
use tollgate_core::config::Config;

/// Whether the JSON is a System answer rather than a filter configuration.
pub fn is_envelope(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => {
            map.contains_key("proxy_configs") || map.contains_key("proxy_config")
        }
        _ => false,
    }
}

/// What checking an envelope found.
pub struct Checked {
    /// One line per service that compiles: `service 42 (echo-api): production version 17`.
    pub services: Vec<String>,
    pub warnings: Vec<String>,
    /// Entries or services that the filter would skip, with their JSON paths.
    pub errors: Vec<String>,
}

/// Checks every service of an answer; `Err` when the answer as a whole is unreadable.
pub fn check(bytes: &[u8]) -> Result<Checked, String> {
    let fetched = parse_answer(bytes).map_err(|e| e.to_string())?;
    let mut checked = Checked {
        services: Vec::new(),
        warnings: Vec::new(),
        errors: fetched.errors.iter().map(ToString::to_string).collect(),
    };
    // The filter compiles fetched services with its own top-level settings; a minimal
    // configuration with a `system` block (no issuer mapped) stands in for them here.
    let settings = Config::parse(
        br#"{"backend": {"cluster": "threescale_backend"},
            "system": {"cluster": "threescale_system", "access_token": "-"}}"#,
    )
    .map_err(|e| e.to_string())?
    .config;
    for service in &fetched.services {
        match settings.check_fetched(service) {
            Ok(warnings) => {
                for warning in warnings {
                    checked.services.push(format!("warning: {warning}"));
                }
                let name = service.content["name"]
                    .as_str()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                checked.services.push(format!(
                    "service {}{name}: {} version {}",
                    service.id.as_deref().unwrap_or("without id"),
                    service.environment,
                    service.version
                ));
            }
            Err(e) => checked.errors.push(e.to_string()),
        }
    }
    // What installing them together says (a host claimed twice, a duplicate id); the skipped
    // ones are already errors.
    let (_, warnings) = settings.with_fetched(&fetched.services);
    checked.warnings = warnings
        .into_iter()
        .filter(|w| !w.starts_with("service skipped: "))
        .collect();
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(content: Value) -> Value {
        json!({"proxy_config": {"id": 1, "version": 3, "environment": "production", "content": content}})
    }

    fn good(id: u64) -> Value {
        json!({"id": id, "name": "echo", "backend_version": "1",
            "proxy": {"proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}})
    }

    #[test]
    fn errors_name_the_path_in_the_answer() {
        let mut bad = good(2);
        bad["proxy"]["proxy_rules"][0]["delta"] = json!("one");
        let page = json!({"proxy_configs": [entry(good(1)), entry(bad), {"proxy_config": {"version": 1}}]});
        assert!(is_envelope(page.to_string().as_bytes()));
        let checked = check(page.to_string().as_bytes()).unwrap();
        assert_eq!(checked.services, ["service 1 (echo): production version 3"]);
        assert_eq!(
            checked.errors,
            [
                "proxy_configs[2].proxy_config.environment: missing required field",
                "proxy_configs[1].proxy_config.content.proxy.proxy_rules[0].delta: expected an integer",
            ]
        );
        let single = check(entry(good(5)).to_string().as_bytes()).unwrap();
        assert_eq!(single.services.len(), 1);
        assert!(single.errors.is_empty());
        assert!(!is_envelope(br#"{"backend": {}, "services": []}"#));
        assert!(check(b"{}").is_err());
    }

    #[test]
    fn an_oidc_service_loads_with_a_warning_until_its_issuer_is_mapped() {
        let oidc = json!({"id": 9, "backend_version": "oauth",
            "proxy": {"authentication_method": "oidc",
              "oidc_issuer_endpoint": "https://zync:pw@sso.example.com/auth/realms/api"}});
        let checked = check(entry(oidc).to_string().as_bytes()).unwrap();
        assert!(checked.errors.is_empty(), "{:?}", checked.errors);
        assert_eq!(checked.services.len(), 2, "{:?}", checked.services);
        assert!(checked.services[0].contains(
            "proxy_config.content.proxy.oidc_issuer_endpoint: issuer host sso.example.com has no cluster in system.issuer_clusters"
        ), "{:?}", checked.services);
        assert!(!checked.services.concat().contains("pw@"));
    }
}
