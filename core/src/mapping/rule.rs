//! One mapping rule: method + path pattern + query conditions (APIcast `mapping_rule.lua`).

use super::pattern::{query_part, PathPattern, PathView};
use super::query::{ArgValue, QueryArgs};
use crate::encoding::decode_form_component;
use std::sync::Arc;

/// The rule's `http_method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodMatch {
    /// `ANY`: every method.
    Any,
    /// Exact, case-sensitive comparison (`get` never matches `GET`).
    Exact(String),
}

impl MethodMatch {
    /// `"ANY"` (exact case) is the wildcard; anything else, even `""`, is literal.
    pub fn parse(method: &str) -> MethodMatch {
        if method == "ANY" {
            MethodMatch::Any
        } else {
            MethodMatch::Exact(method.to_owned())
        }
    }

    /// A `GET` rule also matches `HEAD`: Express, Flask, Rails, Spring, Go and nginx answer
    /// `HEAD` with the `GET` handler (its side effects, status and headers), so a `GET` rule
    /// that needs a grant or counts a dear metric must not be dodged with `HEAD` (APIcast
    /// matches `HEAD` on `HEAD` and `ANY` rules only; found by an audit, 2026-12-05).
    pub fn matches(&self, method: &str) -> bool {
        match self {
            MethodMatch::Any => true,
            MethodMatch::Exact(expected) => {
                expected == method || (method == "HEAD" && expected == "GET")
            }
        }
    }

    /// APIcast's comparison: `ANY`, or the same method (`HEAD` is not `GET`).
    pub fn matches_as_apicast(&self, method: &str) -> bool {
        match self {
            MethodMatch::Any => true,
            MethodMatch::Exact(expected) => expected == method,
        }
    }
}

/// One entry of `querystring_parameters`; all of a rule's conditions must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryCondition {
    /// The last occurrence must have exactly this (decoded) value.
    Equals { name: String, value: String },
    /// The arg must be present, with any value (empty or none at all).
    Present { name: String },
}

impl QueryCondition {
    /// Builds a condition from an expected value: one containing `{var}`
    /// (APIcast's unanchored `\{[-\w_]+\}`) only requires presence.
    pub fn from_pair(name: &str, expected: &str) -> QueryCondition {
        if has_variable(expected) {
            QueryCondition::Present {
                name: name.to_owned(),
            }
        } else {
            QueryCondition::Equals {
                name: name.to_owned(),
                value: expected.to_owned(),
            }
        }
    }

    pub fn name(&self) -> &str {
        match self {
            QueryCondition::Equals { name, .. } | QueryCondition::Present { name } => name,
        }
    }

    pub fn matches(&self, args: &QueryArgs) -> bool {
        self.holds_for(args.last(self.name()))
    }

    /// As [`matches`](Self::matches), reading only the args APIcast reads.
    pub fn matches_as_apicast(&self, args: &QueryArgs) -> bool {
        self.holds_for(args.last_as_apicast(self.name()))
    }

    fn holds_for(&self, found: Option<&ArgValue>) -> bool {
        match self {
            QueryCondition::Present { .. } => found.is_some(),
            // A `?flag` without `=` is Lua `true`, which equals no string.
            QueryCondition::Equals { value, .. } => {
                matches!(found, Some(ArgValue::Present(actual)) if actual == value)
            }
        }
    }
}

/// Whether `value` contains `{` + one or more of `[-A-Za-z0-9_]` + `}`.
fn has_variable(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.iter().enumerate().any(|(start, &byte)| {
        byte == b'{' && {
            let rest = bytes.get(start + 1..).unwrap_or_default();
            let run = rest
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
                .count();
            run > 0 && rest.get(run) == Some(&b'}')
        }
    })
}

/// Conditions from a pattern's own query part (`a=b&c={x}`), for rules whose
/// `querystring_parameters` map is absent. APIcast itself ignores this part (the admin
/// portal derives the map from it), so this mirrors the portal: pieces are decoded like
/// request args (`+` is a space), a piece without `=` requires presence, empty names
/// are skipped and, as in a map, a repeated name keeps its last value.
pub fn parse_query_conditions(query_part: &str) -> Vec<QueryCondition> {
    let mut conditions: Vec<QueryCondition> = Vec::new();
    for piece in query_part.split('&') {
        let (raw_name, raw_value) = match piece.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (piece, None),
        };
        if raw_name.is_empty() {
            continue;
        }
        let name = decode_form_component(raw_name);
        let condition = match raw_value {
            Some(value) => QueryCondition::from_pair(&name, &decode_form_component(value)),
            None => QueryCondition::Present { name },
        };
        conditions.retain(|existing| existing.name() != condition.name());
        conditions.push(condition);
    }
    conditions
}

/// A compiled mapping rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRule {
    pub method: MethodMatch,
    pub pattern: PathPattern,
    /// As configured, query part included (for `X-3scale-matched-rules`).
    pub raw_pattern: String,
    /// Shared with every request's [`super::Usage`] that counts it (no copy per request).
    pub metric: Arc<str>,
    pub delta: u64,
    pub last: bool,
    pub query: Vec<QueryCondition>,
    /// `owner_id` of a rule with `owner_type: "BackendApi"` (API as a Product): the
    /// `routing` policy drops the usage of rules owned by backends not routed to.
    pub owner: Option<u64>,
}

impl MappingRule {
    /// `query`: the `querystring_parameters` conditions; when `None`, they are taken
    /// from the pattern's own query part. When `Some`, that part is ignored, as in APIcast.
    pub fn new(
        method: &str,
        raw_pattern: &str,
        metric: &str,
        delta: u64,
        last: bool,
        query: Option<Vec<QueryCondition>>,
    ) -> MappingRule {
        let query = query.unwrap_or_else(|| {
            query_part(raw_pattern)
                .map(parse_query_conditions)
                .unwrap_or_default()
        });
        MappingRule {
            method: MethodMatch::parse(method),
            pattern: PathPattern::compile(raw_pattern),
            raw_pattern: raw_pattern.to_owned(),
            metric: Arc::from(metric),
            delta,
            last,
            query,
            owner: None,
        }
    }

    /// `normalized_path` comes from [`super::normalize_path`].
    pub fn matches(&self, method: &str, normalized_path: &str, args: &QueryArgs) -> bool {
        self.matches_view(method, &PathView::new(normalized_path), args)
    }

    /// As [`matches`](Self::matches), with the path looked at once for many rules.
    pub fn matches_view(&self, method: &str, path: &PathView, args: &QueryArgs) -> bool {
        self.matches_route(method, path) && self.matches_args(args)
    }

    /// The method and the path, args aside.
    pub fn matches_route(&self, method: &str, path: &PathView) -> bool {
        self.method.matches(method) && self.pattern.matches_view(path)
    }

    /// [`matches_route`](Self::matches_route) without a trailing `/` after `$`.
    pub fn matches_route_anchored(&self, method: &str, path: &PathView) -> bool {
        self.method.matches(method) && self.pattern.matches_anchored(path)
    }

    /// Whether APIcast matches the method and the path too, not only Tollgate's wider
    /// reading of them (`HEAD` for `GET`, a trailing `/` after `$`, any byte in `{name}`).
    pub fn matches_route_as_apicast(&self, method: &str, path: &PathView) -> bool {
        self.method.matches_as_apicast(method) && self.pattern.matches_as_apicast(path)
    }

    pub fn matches_args(&self, args: &QueryArgs) -> bool {
        self.query.iter().all(|condition| condition.matches(args))
    }

    /// Whether APIcast's args (no form body on a method it does not read one for) match too.
    pub fn matches_args_as_apicast(&self, args: &QueryArgs) -> bool {
        self.query
            .iter()
            .all(|condition| condition.matches_as_apicast(args))
    }

    /// Whether an arg this rule reads is [ambiguous](QueryArgs::ambiguous) in `args`.
    pub fn reads_ambiguous_arg(&self, args: &QueryArgs) -> bool {
        self.query.iter().any(|c| args.ambiguous(c.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(method: &str, pattern: &str) -> MappingRule {
        MappingRule::new(method, pattern, "hits", 1, false, None)
    }

    fn args(query: &str) -> QueryArgs {
        QueryArgs::parse(query)
    }

    #[test]
    fn method_any_and_exact() {
        // mapping_rule_spec.lua:150.
        let any = rule("ANY", "/");
        for method in ["GET", "POST", "DELETE", "whatever"] {
            assert!(any.matches(method, "/", &args("")));
        }
        let get = rule("GET", "/");
        assert!(get.matches("GET", "/", &args("")));
        assert!(!get.matches("POST", "/", &args("")));
        assert!(!get.matches("get", "/", &args("")));
        assert!(!rule("any", "/").matches("GET", "/", &args("")));
        assert!(!rule("", "/").matches("GET", "/", &args("")));
    }

    #[test]
    fn literal_query_uses_last_value() {
        // t/apicast-mapping-rules.t TEST 1.
        let conditions = vec![QueryCondition::from_pair("speed", "2x")];
        let r = MappingRule::new("GET", "/foo", "hits", 1, false, Some(conditions));
        assert!(r.matches("GET", "/foo", &args("speed=3x&a=b&speed=2x")));
        assert!(!r.matches("GET", "/foo", &args("speed=2x&speed=3x")));
        assert!(!r.matches("GET", "/foo", &args("speed")));
        assert!(!r.matches("GET", "/foo", &args("")));
        assert!(!r.matches("GET", "/foo", &args("SPEED=2x")));
    }

    #[test]
    fn variable_query_requires_presence_only() {
        let r = MappingRule::new(
            "GET",
            "/foo",
            "hits",
            1,
            false,
            Some(vec![QueryCondition::from_pair("id", "{id}")]),
        );
        assert!(r.matches("GET", "/foo", &args("id=7")));
        assert!(r.matches("GET", "/foo", &args("id=")));
        assert!(r.matches("GET", "/foo", &args("id")));
        assert!(!r.matches("GET", "/foo", &args("other=1")));
    }

    #[test]
    fn variable_detection() {
        let present = |v: &str| {
            matches!(
                QueryCondition::from_pair("n", v),
                QueryCondition::Present { .. }
            )
        };
        assert!(present("{id}"));
        assert!(present("x{my-var_1}y"));
        assert!(present("{ {a}"));
        assert!(!present("{}"));
        assert!(!present("{a b}"));
        assert!(!present("{a.b}"));
        assert!(!present("{a"));
        assert!(!present("plain"));
    }

    #[test]
    fn extra_args_are_ignored_and_all_conditions_must_hold() {
        let conditions = vec![
            QueryCondition::from_pair("a", "1"),
            QueryCondition::from_pair("b", "{x}"),
        ];
        let r = MappingRule::new("GET", "/", "hits", 1, false, Some(conditions));
        assert!(r.matches("GET", "/x", &args("z=9&b=&a=1")));
        assert!(!r.matches("GET", "/x", &args("a=1")));
        assert!(!r.matches("GET", "/x", &args("a=2&b=1")));
    }

    #[test]
    fn conditions_from_pattern_query_part() {
        let r = rule("GET", "/foo?bar={baz}&mode=fast");
        assert_eq!(
            r.query,
            vec![
                QueryCondition::Present { name: "bar".into() },
                QueryCondition::Equals {
                    name: "mode".into(),
                    value: "fast".into()
                },
            ]
        );
        assert!(r.matches("GET", "/foo", &args("mode=fast&bar=1")));
        assert!(!r.matches("GET", "/foo", &args("mode=fast")));
        assert_eq!(r.raw_pattern, "/foo?bar={baz}&mode=fast");
    }

    #[test]
    fn explicit_conditions_replace_pattern_query_part() {
        let r = MappingRule::new("GET", "/foo?x=y", "hits", 1, false, Some(Vec::new()));
        assert!(r.matches("GET", "/foo", &args("")));
    }

    #[test]
    fn parses_pattern_query_edges() {
        assert_eq!(
            parse_query_conditions("a=1&&flag&=x&a=2&s=a+b%26c"),
            vec![
                QueryCondition::Present {
                    name: "flag".into()
                },
                QueryCondition::Equals {
                    name: "a".into(),
                    value: "2".into()
                },
                QueryCondition::Equals {
                    name: "s".into(),
                    value: "a b&c".into()
                },
            ]
        );
        assert!(parse_query_conditions("").is_empty());
    }

    #[test]
    fn body_args_count_for_conditions() {
        // t/apicast-mapping-rules.t TEST 3/4.
        let r = rule("POST", "/foo?a={x}&b=body");
        let mut request = args("b=uri");
        request.overlay(&QueryArgs::parse_form("a=1&b=body"));
        assert!(r.matches("POST", "/foo", &request));
    }

    #[test]
    fn path_is_matched_after_normalisation() {
        let path = crate::mapping::normalize_path("/foo%20/bar/");
        assert!(rule("GET", "/foo%20/bar/").matches("GET", &path, &args("")));
    }
}
