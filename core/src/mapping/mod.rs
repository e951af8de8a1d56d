//! Mapping rules: which metrics a request consumes (APIcast `mapping_rule.lua`,
//! `mapping_rules_matcher.lua`, `usage.lua`; reference §2 and §6).
//!
//! Flow: the adapter normalises the path with [`normalize_path`], parses the query (and,
//! when APIcast would, the form body) into [`QueryArgs`], then [`match_rules`] sums the
//! deltas of the matching [`MappingRule`]s into a [`Usage`]. A service's rules are a
//! [`RuleSet`], indexed at configuration time so that a request only tries the rules
//! that could match its method and first path segment.

pub mod arg_names;
mod bytes;
pub mod index;
pub mod path;
pub mod pattern;
pub mod query;
#[cfg(test)]
mod query_tests;
#[cfg(test)]
mod reference;
pub mod rule;
mod segment;
pub mod unmatchable;
pub mod usage;

pub use index::{RuleIndex, RuleSet, Rules};
pub use path::normalize_path;
pub use pattern::{PathPattern, PathView};
pub use query::{ArgValue, QueryArgs};
pub use rule::{MappingRule, MethodMatch, QueryCondition};
pub use usage::{any_rule_matches, match_rules, RuleMatch, Usage};
