//! Usage computation (APIcast `mapping_rules_matcher.lua`, `usage.lua`; reference §2.4).

use super::index::{for_each_candidate, Rules};
use super::pattern::PathView;
use super::query::QueryArgs;
use crate::encoding::encode_component;
use std::sync::Arc;

/// Metric name → summed delta, sorted by name so the output is deterministic. A `Vec`, not a
/// map: a request's usage has one metric or a few, and this is built for every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    deltas: Vec<(Arc<str>, u64)>,
}

impl Usage {
    /// Adds `delta` to `metric`; a delta of 0 still records the metric (`usage[m]=0`, as
    /// `usage.lua`'s `add`; [`match_rules`] leaves such deltas out, as APIcast's `merge`).
    pub fn add(&mut self, metric: &str, delta: u64) {
        self.add_with(metric, delta, || Arc::from(metric));
    }

    /// As [`Usage::add`], with a metric name shared with the rule that counts it.
    pub fn add_shared(&mut self, metric: &Arc<str>, delta: u64) {
        self.add_with(metric, delta, || metric.clone());
    }

    fn add_with(&mut self, metric: &str, delta: u64, name: impl FnOnce() -> Arc<str>) {
        match self.deltas.binary_search_by(|(m, _)| (**m).cmp(metric)) {
            Ok(i) => {
                if let Some((_, total)) = self.deltas.get_mut(i) {
                    *total = total.saturating_add(delta);
                }
            }
            Err(i) => self.deltas.insert(i, (name(), delta)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty()
    }

    /// `(metric, delta)` in metric-name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.deltas
            .iter()
            .map(|(metric, delta)| (&**metric, *delta))
    }

    /// APIcast's `encoded_format()`: `usage%5Ba%5D=1&usage%5Bb%5D=2`, used in cache keys
    /// and `X-3scale-usage`; empty when no rule matched.
    ///
    /// APIcast sorts the `usage[<metric>]` keys before escaping them, so `hits2`
    /// (`usage[hits2]`) comes before `hits` (`usage[hits]`) because `2` < `]`.
    pub fn encoded(&self) -> String {
        let mut keys: Vec<(String, u64)> = self
            .iter()
            .map(|(metric, delta)| (format!("usage[{metric}]"), delta))
            .collect();
        crate::sorting::heap_sort(&mut keys);
        keys.iter()
            .map(|(key, delta)| format!("{}={delta}", encode_component(key)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The result of matching a request against a service's rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleMatch {
    pub usage: Usage,
    /// Indices of the matched rules, in evaluation order.
    pub matched: Vec<usize>,
    /// A rule whose method and path match reads an [ambiguous](QueryArgs::ambiguous) arg:
    /// evaluation stopped there and the request must be refused, as the upstream may read
    /// the arg otherwise than the rules did.
    pub ambiguous_arg: bool,
}

/// Evaluates every rule in order, summing deltas per metric; a matching rule with
/// `last: true` stops the evaluation (a non-matching one has no effect). A [`RuleSet`]
/// skips, through its index, rules that cannot match.
///
/// A metric whose total is 0 is left out: APIcast merges the rules' usage into the
/// request's with `Usage:merge`, which drops a total of 0 or below, and `authorize` answers
/// no match to what is left empty. Deltas are never negative here, so a total is 0 only
/// when every delta was, and a zero delta is simply not added. The rule still counts as
/// matched (`X-3scale-matched-rules`, its access requirements).
///
/// A `last` rule matched only through Tollgate's wider reading (`HEAD` for `GET`, a
/// trailing `/` after `$`, a byte outside APIcast's `{name}` class, an arg only a form body
/// APIcast does not read gives) counts, but does not
/// stop: APIcast does not match it, so goes on to count the rules after it, and stopping
/// would count less than APIcast.
///
/// [`RuleSet`]: super::RuleSet
pub fn match_rules<R: Rules + ?Sized>(
    rules: &R,
    method: &str,
    normalized_path: &str,
    args: &QueryArgs,
) -> RuleMatch {
    let path = PathView::new(normalized_path);
    let mut result = RuleMatch::default();
    for_each_candidate(rules, method, &path, |index, rule| {
        if !rule.matches_route(method, &path) {
            return true;
        }
        if rule.reads_ambiguous_arg(args) {
            result.ambiguous_arg = true;
            return false;
        }
        if !rule.matches_args(args) {
            return true;
        }
        if rule.delta > 0 {
            result.usage.add_shared(&rule.metric, rule.delta);
        }
        result.matched.push(index);
        // Checked only for a matched `last` rule: the common rule costs nothing more.
        !(rule.last
            && rule.matches_route_as_apicast(method, &path)
            && rule.matches_args_as_apicast(args))
    });
    result
}

/// Path routing (reference §6): does any rule of a service match? URI args only.
pub fn any_rule_matches<R: Rules + ?Sized>(
    rules: &R,
    method: &str,
    normalized_path: &str,
    args: &QueryArgs,
) -> bool {
    let path = PathView::new(normalized_path);
    let mut found = false;
    for_each_candidate(rules, method, &path, |_, rule| {
        found = rule.matches_view(method, &path, args);
        !found
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::MappingRule;

    fn rule(pattern: &str, metric: &str, delta: u64, last: bool) -> MappingRule {
        MappingRule::new("GET", pattern, metric, delta, last, None)
    }

    fn run(rules: &[MappingRule], path: &str) -> RuleMatch {
        match_rules(rules, "GET", path, &QueryArgs::default())
    }

    fn totals(usage: &Usage) -> Vec<(String, u64)> {
        usage.iter().map(|(m, d)| (m.to_owned(), d)).collect()
    }

    #[test]
    fn sums_matching_rules_per_metric() {
        // mapping_rules_matcher_spec.lua:20: [hits+1 ✓, hits+2 ✗, hits+3 ✓] = 4.
        let rules = [
            rule("/", "hits", 1, false),
            rule("/nope", "hits", 2, false),
            rule("/a", "hits", 3, false),
        ];
        let result = run(&rules, "/abc");
        assert_eq!(totals(&result.usage), vec![("hits".to_owned(), 4)]);
        assert_eq!(result.matched, vec![0, 2]);
    }

    #[test]
    fn matching_last_rule_stops() {
        let rules = [
            rule("/", "hits", 1, false),
            rule("/a", "hits", 2, true),
            rule("/a", "hits", 3, false),
        ];
        let result = run(&rules, "/a");
        assert_eq!(totals(&result.usage), vec![("hits".to_owned(), 3)]);
        assert_eq!(result.matched, vec![0, 1]);
    }

    #[test]
    fn non_matching_last_rule_has_no_effect() {
        let rules = [
            rule("/", "hits", 1, false),
            rule("/b", "hits", 2, true),
            rule("/a", "hits", 5, false),
        ];
        let result = run(&rules, "/a");
        assert_eq!(totals(&result.usage), vec![("hits".to_owned(), 6)]);
        assert_eq!(result.matched, vec![0, 2]);
    }

    /// `usage.lua` `add` keeps a 0 (usage_spec.lua:162), but `proxy.lua` merges the rules'
    /// usage into the context's with `merge`, which drops a total <= 0 ("Delete metric if
    /// value is 0"), and `authorize` answers no match to an empty encoded usage.
    #[test]
    fn zero_totals_are_dropped_and_leave_no_match() {
        let result = run(&[rule("/", "hits", 0, false)], "/");
        assert!(result.usage.is_empty());
        assert_eq!(result.usage.encoded(), "");
        assert_eq!(result.matched, vec![0], "matched, for the debug header");

        let rules = [
            rule("/mix", "get_foo", 0, false),
            rule("/mix", "hits", 2, false),
            rule("/mix", "hits", 0, false),
        ];
        let result = run(&rules, "/mix");
        assert_eq!(result.usage.encoded(), "usage%5Bhits%5D=2");
        assert_eq!(result.matched, vec![0, 1, 2]);

        // A zero before or after a count of the same metric leaves the count.
        let rules = [
            rule("/", "hits", 0, false),
            rule("/", "hits", 3, false),
            rule("/", "hits", 0, false),
        ];
        assert_eq!(
            totals(&run(&rules, "/").usage),
            vec![("hits".to_owned(), 3)]
        );
        // `Usage` itself keeps a 0, as `usage.lua`'s `add` (usage_spec.lua:162).
        let mut usage = Usage::default();
        usage.add("hits", 0);
        assert_eq!(usage.encoded(), "usage%5Bhits%5D=0");
    }

    fn run_as(rules: &[MappingRule], method: &str, path: &str) -> RuleMatch {
        match_rules(rules, method, path, &QueryArgs::default())
    }

    /// mapping_rules_matcher.lua: every rule until a *matching* `last`. A `last` rule that
    /// only Tollgate's wider reading matches counts, and the rules APIcast counts after it
    /// are counted too (never less than APIcast).
    #[test]
    fn a_last_rule_matched_only_by_a_wider_reading_does_not_stop() {
        let cases: [(&str, &str, &str, &str); 3] = [
            ("GET", "/reports", "HEAD", "/reports"),
            ("GET", "/users/{id}/export", "GET", "/users/1|/export"),
            ("GET", "/export$", "GET", "/export/"),
        ];
        for (method, pattern, request_method, path) in cases {
            let rules = [
                MappingRule::new(method, pattern, "hits", 1, true, None),
                MappingRule::new("ANY", "/", "get_foo", 10, false, None),
            ];
            let result = run_as(&rules, request_method, path);
            assert_eq!(result.matched, vec![0, 1], "{request_method} {path}");
            assert_eq!(
                totals(&result.usage),
                vec![("get_foo".to_owned(), 10), ("hits".to_owned(), 1)],
                "{request_method} {path}"
            );
        }
    }

    /// A form body read on a method APIcast reads none for (`GET`, `DELETE`) is a wider
    /// reading too: its args match a `last` rule, which counts and does not stop. On `POST`,
    /// `PUT` and `PATCH` APIcast reads the body as well, and the rule stops.
    #[test]
    fn a_last_rule_matched_only_by_a_form_body_apicast_does_not_read_does_not_stop() {
        let rules = [
            MappingRule::new("ANY", "/items?kind=cheap", "hits", 1, true, None),
            MappingRule::new("ANY", "/", "get_foo", 10, false, None),
        ];
        let form = QueryArgs::parse_form("kind=cheap");
        let mut wider = QueryArgs::parse("a=1");
        wider.overlay_wider(&form);
        let mut read = QueryArgs::parse("a=1");
        read.overlay(&form);
        assert_eq!(
            match_rules(&rules[..], "GET", "/items", &wider).matched,
            vec![0, 1]
        );
        assert_eq!(
            match_rules(&rules[..], "POST", "/items", &read).matched,
            vec![0]
        );
        // The query gives the arg too: APIcast matches, the rule stops.
        let mut both = QueryArgs::parse("kind=cheap");
        both.overlay_wider(&form);
        assert_eq!(
            match_rules(&rules[..], "GET", "/items", &both).matched,
            vec![0]
        );
    }

    /// Where APIcast matches as well, `last` stops as before.
    #[test]
    fn a_last_rule_apicast_matches_still_stops() {
        let cases: [(&str, &str, &str, &str); 7] = [
            ("GET", "/reports", "GET", "/reports"),
            ("HEAD", "/reports", "HEAD", "/reports"),
            ("ANY", "/reports", "HEAD", "/reports"),
            (
                "GET",
                "/users/{id}/export",
                "GET",
                "/users/a%7C:b@~!$&'()*+,;=/export",
            ),
            ("GET", "/export$", "GET", "/export"),
            ("GET", "/export/$", "GET", "/export/"),
            // A prefix rule matches `/export/` in APIcast too.
            ("GET", "/export", "GET", "/export/|"),
        ];
        for (method, pattern, request_method, path) in cases {
            let rules = [
                MappingRule::new(method, pattern, "hits", 1, true, None),
                MappingRule::new("ANY", "/", "get_foo", 10, false, None),
            ];
            let result = run_as(&rules, request_method, path);
            assert_eq!(result.matched, vec![0], "{request_method} {path}");
        }
        // A `{name}` that takes a byte outside APIcast's class, past the part it checks.
        let rules = [
            MappingRule::new("GET", "/u/{id}", "hits", 1, true, None),
            MappingRule::new("ANY", "/", "get_foo", 10, false, None),
        ];
        assert_eq!(run_as(&rules, "GET", "/u/1|").matched, vec![0]);
        assert_eq!(run_as(&rules, "GET", "/u/|").matched, vec![0, 1]);
    }

    #[test]
    fn no_match_gives_empty_usage() {
        let result = run(&[rule("/a", "hits", 1, false)], "/b");
        assert!(result.usage.is_empty());
        assert!(result.matched.is_empty());
        assert_eq!(result.usage.encoded(), "");
    }

    #[test]
    fn encoded_format_is_sorted_and_escaped() {
        // usage_spec.lua:179.
        let mut usage = Usage::default();
        usage.add("c", 3);
        usage.add("a", 1);
        usage.add("b", 2);
        assert_eq!(
            usage.encoded(),
            "usage%5Ba%5D=1&usage%5Bb%5D=2&usage%5Bc%5D=3"
        );
        let names: Vec<&str> = usage.iter().map(|(m, _)| m).collect();
        assert_eq!(names, vec!["a", "b", "c"]);
    }

    #[test]
    fn encoded_sorts_full_keys() {
        let mut usage = Usage::default();
        usage.add("hits", 1);
        usage.add("hits2", 2);
        usage.add("a b&c", 1);
        assert_eq!(
            usage.encoded(),
            "usage%5Ba%20b%26c%5D=1&usage%5Bhits2%5D=2&usage%5Bhits%5D=1"
        );
    }

    #[test]
    fn distinct_metrics_are_kept_apart() {
        let rules = [rule("/", "hits", 1, false), rule("/a", "get_a", 2, false)];
        let result = run(&rules, "/a");
        assert_eq!(
            totals(&result.usage),
            vec![("get_a".to_owned(), 2), ("hits".to_owned(), 1)]
        );
    }

    #[test]
    fn add_saturates() {
        let mut usage = Usage::default();
        usage.add("hits", u64::MAX);
        usage.add("hits", 1);
        assert_eq!(totals(&usage), vec![("hits".to_owned(), u64::MAX)]);
    }

    #[test]
    fn any_rule_matches_for_path_routing() {
        let rules = [rule("/a$", "hits", 1, false), rule("/b", "hits", 1, false)];
        let args = QueryArgs::default();
        assert!(any_rule_matches(&rules, "GET", "/b/c", &args));
        assert!(!any_rule_matches(&rules, "GET", "/a/c", &args));
        assert!(!any_rule_matches(&rules, "POST", "/b", &args));
        assert!(!any_rule_matches(&[], "GET", "/", &args));
    }

    #[test]
    fn normalised_request_end_to_end() {
        let rules = [
            MappingRule::new("GET", "/one/{test}", "hits", 1, false, None),
            MappingRule::new("ANY", "/foo?speed=2x", "speed", 1, false, None),
        ];
        let path = crate::mapping::normalize_path("/one/12%2012");
        let result = match_rules(&rules, "GET", &path, &QueryArgs::default());
        assert_eq!(result.matched, vec![0]);

        let path = crate::mapping::normalize_path("//foo/./bar");
        let args = QueryArgs::parse("speed=2x&other=1&speed=2x");
        let result = match_rules(&rules, "POST", &path, &args);
        assert_eq!(result.usage.encoded(), "usage%5Bspeed%5D=1");
        assert!(!result.ambiguous_arg);
    }

    /// APIcast matches `speed=3x&speed=2x` on the last value (t/apicast-mapping-rules.t TEST
    /// 1); Tollgate refuses it, as an upstream reading the first value would get `3x`.
    #[test]
    fn a_rule_reading_an_ambiguous_arg_stops_the_match() {
        let rules = [
            MappingRule::new("GET", "/", "hits", 1, false, None),
            MappingRule::new("GET", "/foo?speed=2x", "speed", 1, false, None),
            MappingRule::new("GET", "/bar?speed=2x", "bar", 1, false, None),
        ];
        for query in [
            "speed=3x&speed=2x",
            "speed=2x&speed",
            "Speed=2x",
            "speed=2x&SPEED=2x",
        ] {
            let args = QueryArgs::parse(query);
            let result = match_rules(&rules, "GET", "/foo", &args);
            assert!(result.ambiguous_arg, "{query}");
            assert_eq!(result.matched, vec![0], "{query}: evaluation stopped");
            // A rule whose path does not match reads nothing.
            let result = match_rules(&rules, "GET", "/baz", &args);
            assert!(!result.ambiguous_arg, "{query}");
            assert_eq!(result.matched, vec![0]);
        }
        let args = QueryArgs::parse("speed=2x&speed=2x&x=1&x=2");
        let result = match_rules(&rules, "GET", "/foo", &args);
        assert!(
            !result.ambiguous_arg,
            "the same value twice, and an arg no rule reads"
        );
        assert_eq!(result.matched, vec![0, 1]);
    }
}
