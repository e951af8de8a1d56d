//! APIcast's condition operations (reference apicast-policies.md §1.8, `conditions/operation.lua`)
//! with plain values: `==` and `!=` compare text, `matches` is an unanchored regex search
//! (`ngx.re.match(left, right)`), its pattern compiled with the configuration
//! ([`crate::regex`]). Shared by `jwt_claim_check`, `maintenance_mode` and, later, `routing`.

use crate::config::json::Result;
use crate::config::policies::configs::{Condition, Op, Operation};
use crate::regex::Regex;

/// The compiled pattern of an operation's right side (at `path`) when `op` is `matches`;
/// refused with `path` in a build without regexes, or when the pattern is bad or too large.
pub fn pattern(path: &str, op: Op, right: &str) -> Result<Option<Regex>> {
    match op {
        Op::Matches => Regex::compile(path, right, path, "").map(Some),
        Op::Eq | Op::Ne => Ok(None),
    }
}

/// Whether `op` holds for this left value.
pub fn holds(op: &Operation, left: &str) -> bool {
    match op.op {
        Op::Eq => left == op.right,
        Op::Ne => left != op.right,
        Op::Matches => op.pattern.as_ref().is_some_and(|r| r.is_match(left)),
    }
}

/// A condition whose operations compare plain values, left with right: the same answer for
/// every request (APIcast renders nothing in a plain value).
pub fn constant(c: &Condition) -> bool {
    let one = |op: &Operation| holds(op, &op.left);
    match c.any {
        true => c.operations.iter().any(one),
        false => c.operations.iter().all(one),
    }
}

#[cfg(test)]
#[cfg(feature = "rewrite")]
mod tests {
    use super::*;

    fn op(left: &str, op: Op, right: &str) -> Operation {
        Operation {
            left: left.into(),
            op,
            right: right.into(),
            pattern: pattern("p", op, right).unwrap(),
        }
    }

    #[test]
    fn operations() {
        assert!(holds(&op("", Op::Eq, "a"), "a"));
        assert!(!holds(&op("", Op::Ne, "a"), "a"));
        // Unanchored, as ngx.re.match.
        assert!(holds(&op("", Op::Matches, "dm"), "admin"));
        assert!(!holds(&op("", Op::Matches, "^dm"), "admin"));
        assert!(holds(&op("", Op::Matches, "^(admin|root)$"), "root"));
    }

    #[test]
    fn plain_conditions_are_constant() {
        let c = |any, ops| Condition {
            any,
            operations: ops,
        };
        assert!(constant(&c(
            false,
            vec![op("a", Op::Eq, "a"), op("abc", Op::Matches, "b")]
        )));
        assert!(!constant(&c(
            false,
            vec![op("a", Op::Eq, "a"), op("a", Op::Ne, "a")]
        )));
        assert!(constant(&c(
            true,
            vec![op("a", Op::Eq, "b"), op("a", Op::Ne, "b")]
        )));
    }

    #[test]
    fn bad_patterns_are_refused_with_their_path() {
        let e = pattern("rules[0].operations[0].value", Op::Matches, "(?=x)").unwrap_err();
        assert_eq!(e.path, "rules[0].operations[0].value");
    }
}
