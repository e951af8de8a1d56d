//! Path routing (APICAST_PATH_ROUTING) index, built once per host: every rule of the
//! host's services, in (service, rule) order, indexed like one service's rules. The first
//! candidate that matches names the service, as trying the services in turn would.

use super::Service;
use crate::mapping::{PathView, QueryArgs, RuleIndex};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub(super) struct Routes {
    index: RuleIndex,
    /// For each indexed position: (service index in the configuration, rule index).
    owners: Vec<(usize, usize)>,
}

impl Routes {
    /// `listed`: the indices of the services listing the host, in configuration order.
    pub(super) fn build(services: &[Arc<Service>], listed: &[usize]) -> Routes {
        let mut owners = Vec::new();
        let mut rules = Vec::new();
        for &s in listed {
            if let Some(service) = services.get(s) {
                for (r, rule) in service.rules.iter().enumerate() {
                    owners.push((s, r));
                    rules.push(rule);
                }
            }
        }
        Routes {
            index: RuleIndex::build(rules),
            owners,
        }
    }

    /// The index of the first service with a rule matching the request (URI args only).
    pub(super) fn first_match(
        &self,
        services: &[Arc<Service>],
        method: &str,
        normalized_path: &str,
        args: &QueryArgs,
    ) -> Option<usize> {
        let path = PathView::new(normalized_path);
        self.index.candidates(method, &path).find_map(|position| {
            let &(s, r) = self.owners.get(position)?;
            let rule = services.get(s)?.rules.get(r)?;
            rule.matches_view(method, &path, args).then_some(s)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::mapping::{any_rule_matches, QueryArgs};
    use serde_json::json;

    /// The index picks the service that trying each service's rules in turn picks.
    #[test]
    fn index_agrees_with_trying_services_in_turn() {
        let patterns = [
            "/",
            "/v1/{id}",
            "/v1$",
            "/v1",
            "/v2/x",
            "/{a}.json",
            "/v1/a?x=1",
            "/v2/",
            "/v3$",
        ];
        let methods = ["GET", "POST", "ANY"];
        let services: Vec<_> = (0..12)
            .map(|s| {
                let rules: Vec<_> = (0..3)
                    .map(|r| {
                        let k = (s * 7 + r * 5) % patterns.len();
                        json!({"http_method": methods[(s + r) % 3], "pattern": patterns[k],
                               "metric_system_name": "hits", "delta": 1})
                    })
                    .collect();
                let host = if s % 4 == 3 { "other" } else { "api" };
                json!({"id": s + 1, "backend_version": "1",
                       "proxy": {"hosts": [host], "proxy_rules": rules}})
            })
            .collect();
        let text = json!({"backend": {"cluster": "b"}, "path_routing": true, "services": services});
        let config = Config::parse(text.to_string().as_bytes()).unwrap().config;
        let paths = [
            "/", "/v1", "/v1/", "/v1/7", "/v1beta", "/v2/x", "/v2/", "/v3", "/a.json", "/v1/a",
        ];
        for host in ["api", "other", "none"] {
            for method in ["GET", "POST", "PUT"] {
                for path in paths {
                    for query in ["", "x=1"] {
                        let args = QueryArgs::parse(query);
                        let expected = config
                            .services_for_host(host)
                            .find(|s| any_rule_matches(&s.rules[..], method, path, &args))
                            .map(|s| s.id.clone());
                        let got = config
                            .service_by_path(host, method, path, &args)
                            .map(|s| s.id.clone());
                        assert_eq!(got, expected, "{host} {method} {path}?{query}");
                    }
                }
            }
        }
    }
}
