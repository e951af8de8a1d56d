//! Path routing (APICAST_PATH_ROUTING) index, built once per host: every rule of the
//! host's services, in (service, rule) order, indexed like one service's rules. The first
//! candidate that matches names the service, as trying the services in turn would.

use super::{Config, Service};
use crate::mapping::{PathView, QueryArgs, QueryCondition, RuleIndex};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub(super) struct Routes {
    /// Several services list the host (a skipped one counted): the choice between them is
    /// Envoy's to follow.
    shared: bool,
    index: RuleIndex,
    /// For each indexed position: (service index in the configuration, rule index).
    owners: Vec<(usize, usize)>,
}

impl Routes {
    /// `listed`: the indices of the services listing the host, in configuration order.
    /// `skipped`: a service skipped from 3scale System lists the host too.
    pub(super) fn build(services: &[Arc<Service>], listed: &[usize], skipped: bool) -> Routes {
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
            shared: listed.len() > 1 || skipped,
            index: RuleIndex::build(rules),
            owners,
        }
    }

    /// What path routing reads: the rules whose method and path match, in order, up to the
    /// first whose URI args match too.
    fn route(
        &self,
        services: &[Arc<Service>],
        method: &str,
        normalized_path: &str,
        args: &QueryArgs,
    ) -> Routed {
        let path = PathView::new(normalized_path);
        let mut routed = Routed {
            shared: self.shared,
            ..Routed::default()
        };
        for position in self.index.candidates(method, &path) {
            let Some(rule) = (self.owners.get(position))
                .and_then(|&(s, r)| Some((s, services.get(s)?.rules.get(r)?)))
            else {
                continue;
            };
            let (s, rule) = rule;
            if !rule.matches_route(method, &path) {
                continue;
            }
            // An arg past the pieces rules see could be the one that picks another service.
            routed.truncated = !rule.query.is_empty() && args.truncated();
            // An encoded arg (`type=summar%79`) is another text to Envoy's `query_parameters`
            // matchers, which may send the request to another service's cluster (found by an
            // audit, 2026-12-06), as the `routing` policy refuses it: on a host several
            // services share, the name of any arg a rule reads, and the value it compares.
            let encoded = || {
                let value = |c: &QueryCondition| matches!(c, QueryCondition::Equals { .. });
                self.shared && (rule.query.iter()).any(|c| args.encoded_in(c.name(), value(c)))
            };
            if routed.truncated || rule.reads_ambiguous_arg(args) || encoded() {
                routed.ambiguous = !routed.truncated;
                return routed;
            }
            let read = rule.query.iter().map(|c| c.name().to_string());
            routed.args_read.extend(read);
            if rule.matches_args(args) {
                routed.service = routed.service.or(Some(s));
                // A `/x$` rule took `/x/`: go on to the service a strict router's reading
                // chooses, for `select` to compare.
                if rule.matches_route_anchored(method, &path) {
                    routed.anchored = Some(s);
                    return routed;
                }
            }
        }
        routed
    }
}

/// What path routing read to choose a service.
#[derive(Debug, Default)]
pub struct Routed {
    service: Option<usize>,
    /// The service chosen without a trailing `/` after `$` (the same, unless a `/x$` rule
    /// took `/x/` first).
    anchored: Option<usize>,
    /// Several services list the host, or one skipped from 3scale System does too.
    pub shared: bool,
    /// A `/x$` rule took `/x/` for another service than the one chosen without it (or than
    /// the fallback to the host's first service): Express serves `/x/` as `/x`, a strict
    /// router as another resource, so either service's checks may be the wrong ones (found
    /// by an audit, 2026-12-06: a public service's `GET /status$` took `/status/`, which
    /// APIcast gives a guarded service's `ANY /`). `HEAD` for `GET` and any byte in `{name}`
    /// are how upstreams read a request, not an ambiguity.
    pub readings_differ: bool,
    /// A rule whose method and path match reads an arg sent twice with different values or
    /// in another spelling: the upstream may read the value another service's rule guards.
    pub ambiguous: bool,
    /// Such a rule reads args and the query has more pieces than rules see.
    pub truncated: bool,
    /// The args the rules tried read: a form body giving one of them a value the query did
    /// not (PHP's `$_REQUEST`, Laravel's `input()`, Rack's `params` prefer the body's) makes
    /// the upstream serve what a rule not chosen guards.
    pub args_read: Vec<String>,
}

impl Config {
    /// Path routing (APICAST_PATH_ROUTING): the first service of `host` with a rule matching
    /// the request (URI args only), and what was read to choose it.
    pub fn route_by_path(
        &self,
        host: &str,
        method: &str,
        normalized_path: &str,
        args: &QueryArgs,
    ) -> (Option<&Arc<Service>>, Routed) {
        let Some(listed) = self.hosts.get(host) else {
            return (None, Routed::default());
        };
        let mut routed = (listed.routes).route(&self.services, method, normalized_path, args);
        // With no rule matching without the trailing `/`, APIcast would fall back to the
        // host's first service (unless path routing only, or a skipped service holds it).
        let fallback = || match self.path_routing_only || listed.skipped.is_some() {
            true => None,
            false => listed.listed.first().copied(),
        };
        let anchored = routed.anchored.or_else(fallback);
        routed.readings_differ =
            routed.service.is_some() && anchored.is_some_and(|a| Some(a) != routed.service);
        (routed.service.and_then(|i| self.services.get(i)), routed)
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
                            .route_by_path(host, method, path, &args)
                            .0
                            .map(|s| s.id.clone());
                        assert_eq!(got, expected, "{host} {method} {path}?{query}");
                    }
                }
            }
        }
    }

    /// Encoded args a routing rule reads are refused only where Envoy's routes could follow
    /// another service's (a host several services share), and only in what the rule reads:
    /// the name always, the value when it compares one.
    #[test]
    fn encoded_routing_args_are_refused_on_shared_hosts_only() {
        let rule = |pattern: &str| {
            json!([{"http_method": "GET", "pattern": pattern, "metric_system_name": "hits",
                    "delta": 1}])
        };
        let text = json!({"backend": {"cluster": "b"}, "path_routing": true, "services": [
            {"id": 1, "proxy": {"hosts": ["shared"], "proxy_rules": rule("/r?type=summary")}},
            {"id": 2, "proxy": {"hosts": ["shared"], "proxy_rules": rule("/s?q={q}")}},
            {"id": 3, "proxy": {"hosts": ["alone"], "proxy_rules": rule("/r?type=summary")}},
        ]});
        let config = Config::parse(text.to_string().as_bytes()).unwrap().config;
        let refused = |host: &str, path: &str, query: &str| {
            let args = QueryArgs::parse(query);
            config.route_by_path(host, "GET", path, &args).1.ambiguous
        };
        assert!(refused("shared", "/r", "type=summar%79"));
        assert!(refused("shared", "/r", "typ%65=summary"));
        assert!(refused("shared", "/r", "type=summary+"));
        assert!(!refused("shared", "/r", "type=summary&other=%20"));
        // A placeholder reads any value: only its name is Envoy's to misread.
        assert!(!refused("shared", "/s", "q=a%20b"));
        assert!(refused("shared", "/s", "%71=a"));
        assert!(!refused("alone", "/r", "type=summar%79"));
    }

    /// A `/x$` rule taking `/x/` for another service than the one chosen without it (or the
    /// fallback to the host's first service) is flagged; on a host of one service, with the
    /// readings agreeing, or for `HEAD` under a `GET` rule, it is not.
    #[test]
    fn the_wider_reading_may_not_choose_another_service() {
        let rule = |method: &str, pattern: &str| {
            json!([{"http_method": method, "pattern": pattern, "metric_system_name": "hits",
                    "delta": 1}])
        };
        let parse = |only: bool| {
            let text = json!({"backend": {"cluster": "b"}, "path_routing": true,
                "path_routing_only": only, "services": [
                {"id": 1, "proxy": {"hosts": ["h"], "proxy_rules": rule("GET", "/status$")}},
                {"id": 2, "proxy": {"hosts": ["h"], "proxy_rules": rule("ANY", "/")}},
                {"id": 3, "proxy": {"hosts": ["g"], "proxy_rules": rule("GET", "/a")}},
                {"id": 4, "proxy": {"hosts": ["g"], "proxy_rules": rule("GET", "/b")}},
                {"id": 5, "proxy": {"hosts": ["solo"], "proxy_rules": rule("GET", "/x$")}},
                {"id": 6, "proxy": {"hosts": ["k"], "proxy_rules": rule("GET", "/z")}},
                {"id": 7, "proxy": {"hosts": ["k"], "proxy_rules": rule("GET", "/y$")}},
            ]});
            Config::parse(text.to_string().as_bytes()).unwrap().config
        };
        let config = parse(false);
        let route = |config: &Config, host: &str, method: &str, path: &str| {
            let (service, routed) = config.route_by_path(host, method, path, &QueryArgs::default());
            (service.map(|s| s.id.clone()), routed.readings_differ)
        };
        let chosen = |id: &str| (Some(id.to_string()), false);
        assert_eq!(route(&config, "h", "GET", "/status"), chosen("1"));
        assert_eq!(route(&config, "h", "GET", "/other"), chosen("2"));
        assert!(route(&config, "h", "GET", "/status/").1);
        assert!(route(&config, "h", "HEAD", "/status/").1);
        // An upstream serves `HEAD` as `GET`: the `GET` rule's service.
        assert_eq!(route(&config, "h", "HEAD", "/status"), chosen("1"));
        assert_eq!(route(&config, "g", "HEAD", "/b"), chosen("4"));
        assert_eq!(route(&config, "solo", "GET", "/x/"), chosen("5"));
        // No rule matches without the trailing `/`: APIcast's fallback, the host's first
        // service, is another; with path routing only there is none.
        assert!(route(&config, "k", "GET", "/y/").1);
        assert_eq!(route(&parse(true), "k", "GET", "/y/"), chosen("7"));
    }
}
