//! Mapping-rule path patterns: APIcast's `regexpify` + `^` anchor (reference §2.2).
//!
//! APIcast turns a pattern into a PCRE: `//+` collapses to `/`, the query part is
//! dropped, each `{...}` becomes `([\w\-.~%!$&'()*+,;=@:]+)`, `.` is escaped, and the
//! result is anchored at the start only. So only `{...}` and a final `$` are special
//! here. Any other regex metacharacter (`* + ( ) [ ] | ^ \`, a `$` elsewhere) is refused by
//! the configuration ([`PathPattern::regex_problem`]): APIcast would run it as PCRE, but
//! admin-portal patterns are paths and a regex engine is not worth its weight in the filter.

use super::bytes::ByteSet;
use super::segment::{End, Piece, Segment, Walk};
use std::cell::OnceCell;

/// One compiled piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Literal(Vec<u8>),
    /// At least `min` bytes of the placeholder class (never `/`); adjacent
    /// placeholders (`{a}{b}`) merge into one with `min: 2`.
    Placeholder {
        min: usize,
    },
}

/// A compiled path pattern; matching is a prefix match unless the pattern ends with `$`.
///
/// Matching reads each path byte at most once per pattern (see [`super::segment`]), after
/// exact prefilters that usually decide alone: length, leading and (with `$`) trailing
/// literal, segment count, and the bytes the literals need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    tokens: Vec<Token>,
    anchored_end: bool,
    /// The pattern split at the `/` of its literals; a path has to match segment by segment.
    segments: Vec<Segment>,
    min_len: usize,
    /// Literal bytes the path must contain, beyond those of `prefix` and `suffix`.
    needs: ByteSet,
    prefix: Vec<u8>,
    /// The final literal, checked only when the pattern ends with `$`.
    suffix: Vec<u8>,
}

/// A normalised path, shared by every pattern tried for one request: the bytes it
/// contains are found once, and only if some pattern gets that far.
#[derive(Debug, Clone)]
pub struct PathView<'a> {
    bytes: &'a [u8],
    present: OnceCell<ByteSet>,
}

impl<'a> PathView<'a> {
    pub fn new(normalized_path: &'a str) -> PathView<'a> {
        PathView {
            bytes: normalized_path.as_bytes(),
            present: OnceCell::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    pub(super) fn present(&self) -> &ByteSet {
        self.present.get_or_init(|| ByteSet::of(self.bytes))
    }

    /// The path without one trailing `/` (not the root's).
    fn trailing_slash_trimmed(&self) -> Option<PathView<'a>> {
        let trimmed = self.bytes.strip_suffix(b"/").filter(|t| !t.is_empty())?;
        Some(PathView {
            bytes: trimmed,
            present: self.present.clone(),
        })
    }

    /// The first path segment (between the first and the second `/`), the index key.
    pub(super) fn first_segment(&self) -> &'a [u8] {
        let Some(rest) = self.bytes.strip_prefix(b"/") else {
            return &[];
        };
        let end = rest.iter().position(|b| *b == b'/').unwrap_or(rest.len());
        rest.get(..end).unwrap_or_default()
    }
}

impl PathPattern {
    /// Compiles a configured pattern (its query part, if any, is ignored); linear time.
    /// Why the configuration refuses this pattern, if it holds a regular-expression
    /// metacharacter outside placeholders: APIcast runs a pattern as PCRE (`/v1/*` matches
    /// every path from `/v1`), Tollgate would match the character literally, so a rule would
    /// match fewer paths than in APIcast and its limits be dodged.
    pub fn regex_problem(pattern: &str) -> Option<String> {
        let c = PathPattern::regex_metacharacter(pattern)?;
        Some(format!(
            "`{c}` is a regular-expression metacharacter (APIcast runs patterns as PCRE; \
             Tollgate matches paths, `{{name}}` placeholders and a final `$`): write the paths \
             the rule should match"
        ))
    }

    fn regex_metacharacter(pattern: &str) -> Option<char> {
        let path = strip_query(pattern);
        let path = path.strip_suffix('$').unwrap_or(path);
        tokenize(path.as_bytes())
            .iter()
            .find_map(|token| match token {
                Token::Literal(literal) => literal
                    .iter()
                    // A `$` before the final one: an end anchor to PCRE (`/price$$` matches
                    // `/price`; `/a$/b` nothing), literal here (found by an audit, 2026-12-06).
                    .find(|b| b"*+()[]|^\\$".contains(b))
                    .map(|&b| char::from(b)),
                Token::Placeholder { .. } => None,
            })
    }

    pub fn compile(pattern: &str) -> PathPattern {
        let path = strip_query(pattern);
        let mut bytes = collapse_slashes(path.as_bytes());
        let anchored_end = bytes.last() == Some(&b'$');
        if anchored_end {
            bytes.pop();
        }
        let tokens = tokenize(&bytes);
        let mut needs = ByteSet::default();
        let mut min_len = 0;
        for token in &tokens {
            match token {
                Token::Literal(literal) => {
                    literal.iter().for_each(|&b| needs.insert(b));
                    min_len += literal.len();
                }
                Token::Placeholder { min } => min_len += min,
            }
        }
        let literal = |token: Option<&Token>| match token {
            Some(Token::Literal(literal)) => literal.clone(),
            _ => Vec::new(),
        };
        let prefix = literal(tokens.first());
        let suffix = match anchored_end {
            true => literal(tokens.last()),
            false => Vec::new(),
        };
        // Bytes the prefix and suffix checks already see need no look at the whole path.
        let checked = ByteSet::of(&prefix).union(&ByteSet::of(&suffix));
        PathPattern {
            segments: segments(&tokens),
            prefix,
            suffix,
            min_len,
            needs: needs.minus(&checked),
            tokens,
            anchored_end,
        }
    }

    /// The literal the pattern starts with: every path it matches begins with it.
    pub fn literal_prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// Whether the pattern is that literal alone, ending with `$`: it matches the literal
    /// (and the literal with a trailing `/`) only.
    pub fn is_exact_literal(&self) -> bool {
        self.anchored_end && self.tokens.len() == 1
    }

    /// Whether the pattern is its literal alone, without `$`: it matches every path that
    /// starts with the literal.
    pub fn is_prefix_literal(&self) -> bool {
        !self.anchored_end && self.tokens.len() == 1
    }

    /// Whether `normalized_path` (see [`super::normalize_path`]) matches; case-sensitive.
    pub fn matches(&self, normalized_path: &str) -> bool {
        self.matches_view(&PathView::new(normalized_path))
    }

    /// As [`matches`](Self::matches), with the path looked at once for many patterns.
    ///
    /// An anchored pattern (`/export$`) also matches the path with a trailing `/`: Express,
    /// Rails, ASP.NET Core and Spring 5 serve `/export/` with the `/export` handler, so a rule
    /// that needs a grant or counts a dear metric must not be dodged with it (APIcast does
    /// not match it; found by an audit, 2026-12-05).
    pub fn matches_view(&self, path: &PathView) -> bool {
        self.matches_as_is(path, false)
            || (self.anchored_end)
                && (path.trailing_slash_trimmed()).is_some_and(|p| self.matches_as_is(&p, false))
    }

    /// As [`matches_view`](Self::matches_view) without its trailing `/` after `$`: a strict
    /// router (Go's `ServeMux`, Spring 6, an nginx `location =`, Envoy's exact `path` route)
    /// serves `/export/` as another resource than `/export`.
    pub fn matches_anchored(&self, path: &PathView) -> bool {
        self.matches_as_is(path, false)
    }

    /// Whether APIcast's regex matches too: no trailing `/` beyond the pattern's, and
    /// placeholders of APIcast's class. A match only the wider reading gives counts, but
    /// must not stop the evaluation at a `last` rule (the rule APIcast counts next would be
    /// lost).
    pub fn matches_as_apicast(&self, path: &PathView) -> bool {
        self.matches_as_is(path, true)
    }

    fn matches_as_is(&self, path: &PathView, apicast: bool) -> bool {
        let bytes = path.bytes;
        if bytes.len() < self.min_len
            || !bytes.starts_with(&self.prefix)
            || !bytes.ends_with(&self.suffix)
            || !(self.needs.is_empty() || self.needs.is_subset_of(path.present()))
        {
            return false;
        }
        let mut rest = bytes;
        let last = self.segments.len().saturating_sub(1);
        for (i, segment) in self.segments.iter().enumerate() {
            let end = match (i == last, self.anchored_end) {
                (false, _) => End::Slash,
                (true, true) => End::Anchored,
                (true, false) => End::Prefix,
            };
            match segment.walk(rest, end, apicast) {
                Walk::Fail => return false,
                Walk::Done => return true,
                Walk::Next(next) => rest = next,
            }
        }
        false
    }

    /// The first path segment, when it must equal a literal (`/v1/...` or `/v1$`): rules
    /// are indexed by it. `/v1` alone is a prefix match (`/v1beta`), so it has no key.
    pub(super) fn leading_literal(&self) -> Option<&[u8]> {
        match self.segments.as_slice() {
            [first, second, rest @ ..] if first.as_literal() == Some(&[]) => {
                let key = second.as_literal()?;
                (!rest.is_empty() || self.anchored_end).then_some(key)
            }
            _ => None,
        }
    }

    /// The cheapest exact prefilter: the least path length, and the bytes the path must
    /// contain beyond those of the leading literal.
    pub(super) fn prefilter(&self) -> (usize, ByteSet) {
        (self.min_len, self.needs)
    }

    #[cfg(test)]
    pub(super) fn parts(&self) -> (&[Token], bool) {
        (&self.tokens, self.anchored_end)
    }
}

/// The text after the first `?` of a pattern, if any (`/foo?a=b` gives `a=b`).
pub fn query_part(pattern: &str) -> Option<&str> {
    pattern.split_once('?').map(|(_, query)| query)
}

pub(super) fn strip_query(pattern: &str) -> &str {
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

/// Splits the tokens at the `/` of their literals, and compiles each segment.
fn segments(tokens: &[Token]) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut pieces: Vec<Piece> = Vec::new();
    for token in tokens {
        match token {
            Token::Placeholder { min } => pieces.push(Piece::Placeholder(*min)),
            Token::Literal(literal) => {
                for (i, part) in literal.split(|b| *b == b'/').enumerate() {
                    if i > 0 {
                        segments.push(Segment::compile(&pieces));
                        pieces.clear();
                    }
                    if !part.is_empty() {
                        pieces.push(Piece::Literal(part));
                    }
                }
            }
        }
    }
    segments.push(Segment::compile(&pieces));
    segments
}

pub(super) fn tokenize(bytes: &[u8]) -> Vec<Token> {
    let closes = Closes::new(bytes);
    let mut tokens = Vec::new();
    let mut literal = Vec::new();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match closes.placeholder_end(bytes, i) {
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

/// For each position, the next `}` and the next newline: finding a placeholder's end is
/// then one look-up, not a scan (`/{{{{...` would otherwise compile in quadratic time).
struct Closes {
    brace: Vec<usize>,
    newline: Vec<usize>,
}

impl Closes {
    fn new(bytes: &[u8]) -> Closes {
        let mut brace = vec![usize::MAX; bytes.len() + 1];
        let mut newline = vec![usize::MAX; bytes.len() + 1];
        for (i, &byte) in bytes.iter().enumerate().rev() {
            let (b, n) = (brace[i + 1], newline[i + 1]);
            brace[i] = if byte == b'}' { i } else { b };
            newline[i] = if byte == b'\n' { i } else { n };
        }
        Closes { brace, newline }
    }

    /// Index of the `}` closing a placeholder opened at `start`, per PCRE `\{.+?\}`: at
    /// least one byte inside, the first `}` after that closes it, and `.` does not match `\n`.
    fn placeholder_end(&self, bytes: &[u8], start: usize) -> Option<usize> {
        if bytes.get(start) != Some(&b'{') {
            return None;
        }
        let close = *self.brace.get(start + 2)?;
        let newline = *self.newline.get(start + 1)?;
        (close != usize::MAX && newline > close).then_some(close)
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
        // APIcast: not `/soap_action/`; Tollgate matches it (upstreams serve it as the same).
        assert!(matches("/soap_action$", "/soap_action/"));
        assert!(!matches("/soap_action$", "/soap_action//x"));
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
        // Wider than APIcast's class: any byte of the segment, as upstream routers read it.
        for odd in [
            "/x/a b", "/x/a\"b", "/x/a<b", "/x/a[b", "/x/a^b", "/x/a{b", "/x/1|", "/x/é",
        ] {
            assert!(pattern.matches(odd), "{odd}");
        }
        assert!(!pattern.matches("/x/"));
        assert!(!pattern.matches("/x/a/b"));
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
    fn regex_metacharacters_are_found_outside_placeholders() {
        for (pattern, found) in [
            ("/v1/*", Some('*')),
            ("/a+", Some('+')),
            ("/Products(1)", Some('(')),
            ("/[ab]", Some('[')),
            ("/x|y", Some('|')),
            ("/^x", Some('^')),
            ("/a\\.b", Some('\\')),
            ("/{id}*$", Some('*')),
            ("/{a*b}/c", None),
            ("/a.b/{id}$", None),
            ("/x?q=*", None),
            ("/foo$", None),
            ("/price$$", Some('$')),
            ("/a$/b", Some('$')),
            ("/odata/$metadata", Some('$')),
            ("/{a$}/b$", None),
        ] {
            assert_eq!(
                PathPattern::regex_metacharacter(pattern),
                found,
                "{pattern}"
            );
        }
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
        // One trailing slash more (an upstream serves it as `/foo`), never two or a part.
        assert!(matches("/foo$", "/foo/"));
        assert!(!matches("/foo$", "/foo/x"));
        assert!(!matches("/foo$", "/foo//"));
        assert!(matches("/{id}$", "/7/"));
        assert!(matches("/foo/$", "/foo/"));
        assert!(!matches("/foo/$", "/foo"));
    }

    /// APIcast's own reading: no trailing `/` after `$`, `{name}` of its class only.
    #[test]
    fn matches_as_apicast_drops_the_widenings() {
        let as_apicast = |pattern: &str, path: &str| {
            PathPattern::compile(pattern).matches_as_apicast(&super::PathView::new(path))
        };
        assert!(as_apicast("/export$", "/export"));
        assert!(!as_apicast("/export$", "/export/"));
        assert!(as_apicast("/export", "/export/"));
        assert!(as_apicast("/x/{id}$", "/x/AZaz09_-.~%!$&'()*+,;=@:"));
        for odd in ["/x/a|b", "/x/a\"b", "/x/a{b", "/x/^", "/x/a`"] {
            assert!(!as_apicast("/x/{id}$", odd), "{odd}");
            assert!(matches("/x/{id}$", odd), "{odd}");
        }
        // A literal outside the class is still a literal; a prefix stops before the odd byte.
        assert!(as_apicast("/x/{id}\"y", "/x/a\"y"));
        assert!(as_apicast("/x/{id}", "/x/a|b"));
        assert!(!as_apicast("/x/{id}/z", "/x/a|b/z"));
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
