//! Regular expressions for the policies that need them (`url_rewriting`; later `matches` in
//! conditions), on regex-lite. They are compiled once, at configuration time, never on the
//! request path, and bounded: a pattern of at most [`MAX_PATTERN_BYTES`] whose compiled form
//! stays under regex-lite's size limit, so a search costs at most (program size × haystack
//! length) steps (regex-lite never backtracks exponentially). Without the `rewrite` feature
//! there is no engine: [`Regex::compile`] refuses every pattern with its path.

use crate::config::json::{error, Result};

/// Longest pattern text accepted.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// regex-lite's bound on one compiled program (approximate heap bytes).
#[cfg(feature = "rewrite")]
const SIZE_LIMIT: usize = 64 * 1024;
/// Deepest nesting of groups and repetitions.
#[cfg(feature = "rewrite")]
const NEST_LIMIT: u32 = 32;

/// A compiled pattern with the ngx.re options it was given (`i`, `m`, `s`, `x`; `j`, `o`, `u`
/// change nothing here). Equal when pattern and options are.
#[derive(Debug, Clone)]
pub struct Regex {
    source: String,
    options: String,
    #[cfg(feature = "rewrite")]
    inner: regex_lite::Regex,
    #[cfg(not(feature = "rewrite"))]
    never: Never,
}

/// Uninhabited: a build without regexes has none, and every use of one is dead code.
#[cfg(not(feature = "rewrite"))]
#[derive(Debug, Clone, Copy)]
enum Never {}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.source == other.source && self.options == other.options
    }
}

impl Eq for Regex {}

/// ngx.re options Tollgate honours; any other is refused (`a` anchors, `d` picks another
/// engine, `D`/`J` change group names, `U` is PCRE's "ungreedy": none has an equivalent).
const OPTIONS: &str = "imsxjou";

impl Regex {
    /// Compiles `pattern` (at `path`) with ngx.re `options` (at `options_path`).
    pub fn compile(path: &str, pattern: &str, options_path: &str, options: &str) -> Result<Regex> {
        if let Some(c) = options.chars().find(|c| !OPTIONS.contains(*c)) {
            return Err(error(
                options_path,
                format!("option {c:?} is not supported (supported: i, m, s, x; j, o and u are accepted and change nothing)"),
            ));
        }
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(error(
                path,
                format!("longer than {MAX_PATTERN_BYTES} bytes"),
            ));
        }
        Self::build(path, pattern, options)
    }

    #[cfg(feature = "rewrite")]
    fn build(path: &str, pattern: &str, options: &str) -> Result<Regex> {
        let inner = regex_lite::RegexBuilder::new(pattern)
            .case_insensitive(options.contains('i'))
            .multi_line(options.contains('m'))
            .dot_matches_new_line(options.contains('s'))
            .ignore_whitespace(options.contains('x'))
            .size_limit(SIZE_LIMIT)
            .nest_limit(NEST_LIMIT)
            .build()
            .map_err(|e| {
                // regex-lite's message spans lines (the pattern, a caret): keep the first.
                let why = e.to_string();
                let first = why.lines().last().unwrap_or("invalid");
                error(
                    path,
                    format!("not a regular expression Tollgate can run: {first}"),
                )
            })?;
        Ok(Regex {
            source: pattern.to_string(),
            options: options.to_string(),
            inner,
        })
    }

    #[cfg(not(feature = "rewrite"))]
    fn build(path: &str, _: &str, _: &str) -> Result<Regex> {
        Err(unsupported(path))
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Capture groups, the whole match (group 0) included.
    pub fn groups(&self) -> usize {
        #[cfg(feature = "rewrite")]
        return self.inner.captures_len();
        #[cfg(not(feature = "rewrite"))]
        match self.never {}
    }

    /// Whether the pattern matches anywhere in `haystack` (unanchored, as `ngx.re.match`).
    pub fn is_match(&self, haystack: &str) -> bool {
        #[cfg(feature = "rewrite")]
        return self.inner.is_match(haystack);
        #[cfg(not(feature = "rewrite"))]
        {
            let _ = haystack;
            match self.never {}
        }
    }

    /// Replaces the first match (`all`: every match, left to right) with `template`; `None`
    /// when nothing matched. Group spans are handed to the template as byte ranges.
    pub fn replace(&self, haystack: &str, template: &Template, all: bool) -> Option<String> {
        #[cfg(feature = "rewrite")]
        {
            let mut out = String::new();
            let mut last = 0;
            let mut matched = false;
            for caps in self.inner.captures_iter(haystack) {
                let Some(whole) = caps.get(0) else { continue };
                out.push_str(haystack.get(last..whole.start()).unwrap_or_default());
                template.expand(&|i| caps.get(i).map(|m| m.as_str()), &mut out);
                last = whole.end();
                matched = true;
                if !all {
                    break;
                }
            }
            if !matched {
                return None;
            }
            out.push_str(haystack.get(last..).unwrap_or_default());
            Some(out)
        }
        #[cfg(not(feature = "rewrite"))]
        {
            let _ = (haystack, template, all);
            match self.never {}
        }
    }
}

/// What a build without the `rewrite` feature says of a policy or operation needing a regex.
pub fn unsupported(path: &str) -> crate::config::ConfigError {
    error(
        path,
        "needs regular expressions, which this build does not have (cargo feature \"rewrite\")",
    )
}

/// One piece of a replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
}

/// A replacement in ngx.re's syntax: `$0`, `$1`... or `${1}` for a group, `$$` for `$`; any
/// other `$` is refused (ngx.re.sub fails on it at request time). Read at configuration time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

impl Template {
    /// Reads `text` (at `path`) for a regex with `groups` groups (group 0 included).
    pub fn parse(path: &str, text: &str, groups: usize) -> Result<Template> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            literal.push_str(rest.get(..at).unwrap_or_default());
            let after = rest.get(at + 1..).unwrap_or_default();
            if let Some(more) = after.strip_prefix('$') {
                literal.push('$');
                rest = more;
                continue;
            }
            let (digits, more) = match after.strip_prefix('{') {
                Some(inner) => match inner.split_once('}') {
                    Some((d, more)) => (d, more),
                    None => ("", ""),
                },
                None => {
                    let n = after.bytes().take_while(u8::is_ascii_digit).count();
                    (
                        after.get(..n).unwrap_or_default(),
                        after.get(n..).unwrap_or_default(),
                    )
                }
            };
            let group = match digits.parse::<usize>() {
                Ok(g) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => g,
                _ => {
                    return Err(error(
                        path,
                        "a $ must start $0, $1... or ${1}, or be written $$",
                    ))
                }
            };
            if group >= groups {
                return Err(error(
                    path,
                    format!(
                        "refers to group {group}; the regex has {} (and $0, the whole match)",
                        groups.saturating_sub(1)
                    ),
                ));
            }
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Group(group));
            rest = more;
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template(pieces))
    }

    /// Appends the replacement; a group that took no part in the match adds nothing.
    #[cfg_attr(not(feature = "rewrite"), allow(dead_code))]
    fn expand<'h>(&self, group: &dyn Fn(usize) -> Option<&'h str>, out: &mut String) {
        for piece in &self.0 {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Group(i) => out.push_str(group(*i).unwrap_or_default()),
            }
        }
    }
}

#[cfg(test)]
#[cfg(feature = "rewrite")]
mod tests {
    use super::*;

    fn re(p: &str, o: &str) -> Regex {
        Regex::compile("r", p, "o", o).unwrap()
    }

    fn t(text: &str, groups: usize) -> Template {
        Template::parse("t", text, groups).unwrap()
    }

    #[test]
    fn sub_and_gsub() {
        let r = re("original", "");
        assert_eq!(
            r.replace("/xxx_original_yyy", &t("new", 1), false)
                .as_deref(),
            Some("/xxx_new_yyy")
        );
        assert_eq!(
            r.replace("/a_original_b_original_c", &t("new", 1), true)
                .as_deref(),
            Some("/a_new_b_new_c")
        );
        assert_eq!(
            r.replace("/a_original_b_original_c", &t("new", 1), false)
                .as_deref(),
            Some("/a_new_b_original_c")
        );
        assert_eq!(r.replace("/nothing", &t("new", 1), true), None);
    }

    #[test]
    fn groups_in_the_replacement() {
        let r = re("/v(\\d+)/(\\w+)", "");
        let tpl = t("/$2/version-${1}x/$0/$$1", r.groups());
        assert_eq!(
            r.replace("/v12/users", &tpl, false).as_deref(),
            Some("/users/version-12x//v12/users/$1")
        );
        // `$1a` is group 1 then "a" (ngx.re), not a group named "1a".
        let tpl = t("$1a", r.groups());
        assert_eq!(r.replace("/v3/x", &tpl, false).as_deref(), Some("3a"));
        // An optional group that did not take part adds nothing.
        let r = re("a(b)?c", "");
        assert_eq!(
            r.replace("ac", &t("[$1]", r.groups()), false).as_deref(),
            Some("[]")
        );
    }

    #[test]
    fn bad_replacements_are_refused() {
        for bad in ["$", "$x", "${}", "${1", "${a}", "a$"] {
            let e = Template::parse("cmd.replace", bad, 2).unwrap_err();
            assert!(e.to_string().contains("cmd.replace"), "{bad}: {e}");
        }
        let e = Template::parse("cmd.replace", "$2", 2).unwrap_err();
        assert!(e.to_string().contains("group 2"), "{e}");
    }

    #[test]
    fn options() {
        assert!(re("AAA", "i").is_match("/aaa"));
        assert!(!re("AAA", "").is_match("/aaa"));
        assert!(re("AAA", "ijo").is_match("/aaa"));
        let e = Regex::compile("r", "a", "cmd.options", "a").unwrap_err();
        assert!(e.to_string().contains("cmd.options"), "{e}");
        assert!(e.to_string().contains("'a'"), "{e}");
    }

    #[test]
    fn oversize_and_invalid_patterns_are_refused() {
        let long = "a".repeat(MAX_PATTERN_BYTES + 1);
        let e = Regex::compile("cmd.regex", &long, "o", "").unwrap_err();
        assert!(e.to_string().contains("cmd.regex"), "{e}");
        // Short, but compiles to more than the size limit.
        let e = Regex::compile("cmd.regex", "(\\w{100}){100}", "o", "").unwrap_err();
        assert!(e.to_string().contains("cmd.regex"), "{e}");
        let deep = format!("{}a{}", "(".repeat(40), ")".repeat(40));
        assert!(Regex::compile("cmd.regex", &deep, "o", "").is_err());
        // PCRE features regex-lite lacks: refused, never silently different.
        for p in ["(?=a)", "(a)\\1", "(?<!x)y", "\\Ka"] {
            assert!(Regex::compile("cmd.regex", p, "o", "").is_err(), "{p}");
        }
    }

    #[test]
    fn empty_matches_with_gsub() {
        let r = re("x*", "");
        assert_eq!(r.replace("ab", &t("-", 1), true).as_deref(), Some("-a-b-"));
    }
}

#[cfg(test)]
#[cfg(not(feature = "rewrite"))]
mod lean_tests {
    use super::Regex;
    use crate::config::json::Obj;
    use crate::config::policies::{Context, PolicyChain};
    use serde_json::{json, Value};

    #[test]
    fn what_needs_a_regex_is_refused_with_its_path() {
        let refused = |chain: Value| {
            let proxy = json!({ "policy_chain": chain });
            PolicyChain::parse(&Obj::new("p", &proxy).unwrap(), &Context::default()).unwrap_err()
        };
        // Even without a regex in it: the policy is not in this build.
        let e = refused(
            json!([{"name": "url_rewriting", "configuration": {"query_args_commands": []}},
            {"name": "apicast"}]),
        );
        assert_eq!(e.path, "p.policy_chain[0]");
        assert!(e.message.contains("this build does not have"), "{e}");
        let e = Regex::compile("c.value", "a", "c.options", "").unwrap_err();
        assert_eq!(e.path, "c.value");
    }
}
