//! Mapping-rule path patterns: APIcast's `regexpify` + `^` anchor (reference §2.2).
//!
//! APIcast turns a pattern into a PCRE: `//+` collapses to `/`, the query part is
//! dropped, each `{...}` becomes `([\w\-.~%!$&'()*+,;=@:]+)`, `.` is escaped, and the
//! result is anchored at the start only. So only `{...}` and a final `$` are special
//! here. Any other regex metacharacter (`* + ( ) [ ] | ^`, a `$` elsewhere) is matched
//! literally: APIcast would run it as PCRE, but admin-portal patterns are paths and a
//! regex engine is not worth its weight in the filter.

/// One compiled piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(Vec<u8>),
    /// At least `min` bytes of [`is_placeholder_byte`] (never `/`); adjacent
    /// placeholders (`{a}{b}`) merge into one with `min: 2`, which saves backtracking.
    Placeholder {
        min: usize,
    },
}

/// A compiled path pattern; matching is a prefix match unless the pattern ends with `$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    tokens: Vec<Token>,
    anchored_end: bool,
}

impl PathPattern {
    /// Compiles a configured pattern (its query part, if any, is ignored).
    pub fn compile(pattern: &str) -> PathPattern {
        let path = strip_query(pattern);
        let mut bytes = collapse_slashes(path.as_bytes());
        let anchored_end = bytes.last() == Some(&b'$');
        if anchored_end {
            bytes.pop();
        }
        PathPattern {
            tokens: tokenize(&bytes),
            anchored_end,
        }
    }

    /// Whether `normalized_path` (see [`super::normalize_path`]) matches; case-sensitive.
    pub fn matches(&self, normalized_path: &str) -> bool {
        match_tokens(&self.tokens, self.anchored_end, normalized_path.as_bytes())
    }
}

/// The text after the first `?` of a pattern, if any (`/foo?a=b` gives `a=b`).
pub fn query_part(pattern: &str) -> Option<&str> {
    pattern.split_once('?').map(|(_, query)| query)
}

fn strip_query(pattern: &str) -> &str {
    pattern.split_once('?').map_or(pattern, |(path, _)| path)
}

/// Some admin-portal patterns contain `//`; `ngx.var.uri` never does.
fn collapse_slashes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &byte in bytes {
        if !(byte == b'/' && out.last() == Some(&b'/')) {
            out.push(byte);
        }
    }
    out
}

fn tokenize(bytes: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut literal = Vec::new();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match placeholder_end(bytes, i) {
            Some(close) => {
                match tokens.last_mut() {
                    Some(Token::Placeholder { min }) if literal.is_empty() => *min += 1,
                    _ => {
                        if !literal.is_empty() {
                            tokens.push(Token::Literal(std::mem::take(&mut literal)));
                        }
                        tokens.push(Token::Placeholder { min: 1 });
                    }
                }
                i = close + 1;
            }
            None => {
                literal.push(byte);
                i += 1;
            }
        }
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    tokens
}

/// Index of the `}` closing a placeholder opened at `start`, per PCRE `\{.+?\}`: at least
/// one byte inside, the first `}` after that closes it, and `.` does not match `\n`.
fn placeholder_end(bytes: &[u8], start: usize) -> Option<usize> {
    if bytes.get(start) != Some(&b'{') {
        return None;
    }
    let inner_start = start + 1;
    let rest = bytes.get(inner_start..)?;
    for (offset, &byte) in rest.iter().enumerate() {
        match byte {
            b'\n' => return None,
            b'}' if offset > 0 => return Some(inner_start + offset),
            _ => {}
        }
    }
    None
}

/// APIcast's placeholder class `[\w\-.~%!$&'()*+,;=@:]`.
fn is_placeholder_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"_-.~%!$&'()*+,;=@:".contains(&byte)
}

/// Upper bound on matcher steps, like PCRE's match limit: several placeholders in one
/// segment backtrack polynomially, and the path is client-controlled. Real patterns
/// need a few dozen steps; hitting the bound counts as no match, as a PCRE error would.
const STEP_LIMIT: u32 = 100_000;

/// Backtracking matcher; recursion depth is bounded by the number of tokens.
fn match_tokens(tokens: &[Token], anchored_end: bool, input: &[u8]) -> bool {
    let mut steps = STEP_LIMIT;
    match_from(tokens, anchored_end, input, &mut steps)
}

fn match_from(tokens: &[Token], anchored_end: bool, input: &[u8], steps: &mut u32) -> bool {
    if *steps == 0 {
        return false;
    }
    *steps -= 1;
    match tokens.split_first() {
        None => !anchored_end || input.is_empty(),
        Some((Token::Literal(literal), rest)) => {
            input.starts_with(literal)
                && input
                    .get(literal.len()..)
                    .is_some_and(|tail| match_from(rest, anchored_end, tail, steps))
        }
        Some((Token::Placeholder { min }, rest)) => {
            let run = input
                .iter()
                .take_while(|byte| is_placeholder_byte(**byte))
                .count();
            // Greedy first, like PCRE; the result does not depend on the order.
            (*min..=run).rev().any(|taken| {
                input
                    .get(taken..)
                    .is_some_and(|tail| match_from(rest, anchored_end, tail, steps))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{query_part, PathPattern};

    fn matches(pattern: &str, path: &str) -> bool {
        PathPattern::compile(pattern).matches(path)
    }

    #[test]
    fn prefix_match() {
        // t/apicast-mapping-rules.t TEST 5.
        assert!(matches("/abc", "/abc/def"));
        assert!(matches("/abc", "/abcdef"));
        assert!(matches("/abc", "/abc"));
        assert!(!matches("/abc", "/ab"));
        assert!(!matches("/abc", "/x/abc"));
        assert!(matches("/", "/anything"));
    }

    #[test]
    fn dollar_anchors_end() {
        // soap_spec.lua:56.
        assert!(matches("/soap_action$", "/soap_action"));
        assert!(!matches("/soap_action$", "/soap_action_ctype"));
        assert!(!matches("/soap_action$", "/soap_action/"));
    }

    #[test]
    fn dollar_elsewhere_is_literal() {
        assert!(matches("/a$b", "/a$b"));
        assert!(!matches("/a$b", "/a"));
        assert!(matches("/price$$", "/price$"));
        assert!(!matches("/price$$", "/price$x"));
    }

    #[test]
    fn placeholder_matches_one_segment_part() {
        // mapping_rule_spec.lua:110.
        let pattern = PathPattern::compile("/foo/{wildcard}/bar");
        assert!(pattern.matches("/foo/a@b/bar"));
        assert!(pattern.matches("/foo/a:b/bar"));
        assert!(pattern.matches("/foo/a%b/bar"));
        assert!(pattern.matches("/foo/123/bar"));
        assert!(pattern.matches("/foo/a/bar/baz"));
        assert!(!pattern.matches("/foo/a/b/bar"));
        assert!(!pattern.matches("/foo//bar"));
        assert!(!pattern.matches("/foo/a#b/bar"));
    }

    #[test]
    fn placeholder_class() {
        let pattern = PathPattern::compile("/x/{id}$");
        assert!(pattern.matches("/x/AZaz09_-.~%!$&'()*+,;=@:"));
        for bad in ["/x/a b", "/x/a\"b", "/x/a<b", "/x/a[b", "/x/a^b", "/x/a{b"] {
            assert!(!pattern.matches(bad), "{bad}");
        }
        assert!(!pattern.matches("/x/"));
    }

    #[test]
    fn placeholder_backtracks() {
        assert!(matches("/{id}.json", "/foo.json"));
        assert!(matches("/{id}.json$", "/foo.bar.json"));
        assert!(!matches("/{id}.json", "/foo.xml"));
        assert!(matches("/{a}-{b}$", "/x-y-z"));
        assert!(matches("/one/{test}", "/one/12%2012"));
        assert!(matches("/{a}{b}$", "/xy"));
        assert!(!matches("/{a}{b}$", "/x"));
    }

    #[test]
    fn placeholder_syntax_edges() {
        // `\{.+?\}` needs one byte inside; the first `}` after it closes.
        assert!(matches("/a/{}", "/a/{}"));
        assert!(!matches("/a/{}", "/a/x"));
        assert!(matches("/a/{}}$", "/a/x"));
        assert!(matches("/a/{x}}$", "/a/v}"));
        assert!(matches("/a/{{x}$", "/a/v"));
        assert!(matches("/a/{x$", "/a/{x"));
        assert!(!matches("/a/{x$", "/a/{xy"));
        // A placeholder may span `/` inside its braces; it still matches one part.
        assert!(matches("/a/{x/y}/b", "/a/v/b"));
    }

    #[test]
    fn adjacent_placeholders_merge() {
        let pattern = PathPattern::compile("/{a}{b}{c}/x");
        assert_eq!(pattern.tokens.len(), 3);
        assert!(pattern.matches("/abc/x"));
        assert!(!pattern.matches("/ab/x"));
    }

    #[test]
    fn pathological_backtracking_is_bounded() {
        let pattern = PathPattern::compile("/{a}.{b}.{c}.{d}.json");
        let path = format!("/{}x", ".".repeat(4000));
        let started = std::time::Instant::now();
        assert!(!pattern.matches(&path));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(pattern.matches("/a.b.c.d.json"));
    }

    #[test]
    fn collapses_double_slashes() {
        assert!(matches("///foo///bar///", "/foo/bar/"));
        assert!(matches("//foo", "/foo"));
    }

    #[test]
    fn ignores_query_part() {
        assert!(matches("/foo?bar={baz}", "/foo"));
        assert!(matches("/foo$?bar=1", "/foo"));
        assert!(!matches("/foo$?bar=1", "/foo/x"));
        assert!(matches("/foo?", "/foo/x"));
    }

    #[test]
    fn other_metacharacters_are_literal() {
        assert!(matches("/a.b", "/a.b"));
        assert!(!matches("/a.b", "/axb"));
        assert!(matches("/a*", "/a*"));
        assert!(!matches("/a*", "/aaa"));
        assert!(matches("/(x|y)+[z]^", "/(x|y)+[z]^"));
        assert!(!matches("/(x|y)", "/x"));
    }

    #[test]
    fn case_sensitive_and_upper_hex() {
        assert!(!matches("/Foo", "/foo"));
        assert!(matches("/foo%20/bar/", "/foo%20/bar/"));
        assert!(!matches("/caf%c3%a9", "/caf%C3%A9"));
    }

    #[test]
    fn trailing_slash_rules() {
        assert!(matches("/foo", "/foo/"));
        assert!(!matches("/foo/", "/foo"));
        assert!(matches("/foo$", "/foo"));
        assert!(!matches("/foo$", "/foo/"));
        assert!(matches("/foo/$", "/foo/"));
        assert!(!matches("/foo/$", "/foo"));
    }

    #[test]
    fn non_ascii_pattern_bytes() {
        assert!(matches("/café", "/café"));
        assert!(!matches("/café", "/caf%C3%A9"));
    }

    #[test]
    fn query_part_helper() {
        assert_eq!(query_part("/foo?a=b&c={x}"), Some("a=b&c={x}"));
        assert_eq!(query_part("/foo?a=b?c"), Some("a=b?c"));
        assert_eq!(query_part("/foo?"), Some(""));
        assert_eq!(query_part("/foo"), None);
    }

    #[test]
    fn empty_pattern_matches_everything() {
        assert!(matches("", "/x"));
        assert!(matches("$", ""));
    }
}
