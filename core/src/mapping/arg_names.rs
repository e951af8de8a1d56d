//! Which arg names an upstream may read as a given name. Mapping rules and credentials read
//! names as APIcast does (rules: exact; credentials: any case), but frameworks fold names:
//! - ASP.NET and others ignore the case (`Scope` is `scope`);
//! - PHP drops leading spaces and reads ` `, `.` and an unmatched `[` as `_` (`report.type` is
//!   `$_GET['report_type']`);
//! - `qs` (Express) and Rack (Rails) read bracketed names as nested keys: `[scope]`, `scope]`,
//!   `scope[]` and `scope[x]` all give `scope` (an array or a hash in some of them).
//!
//! An arg spelled another way than the name a rule or a credential reads is a second value
//! for that name, as far as the upstream is concerned (found by audits, 2026-12-05). A name
//! that is not plain (`filter[status]`, `report.type`) is compared by the key path each
//! framework reads for it and for the arg (found by an audit, 2026-12-06).

/// Whether an upstream may read the arg `arg` as the arg `name`: `name` is what a rule or
/// credential reads. A plain name (letters, digits, `_`, `-`) is compared with PHP's folding
/// and the first key `qs` and Rack read; any other by [`same_key_path`].
pub fn is_spelling_of(arg: &str, name: &str) -> bool {
    if arg.eq_ignore_ascii_case(name) {
        return true;
    }
    if !is_plain(name) {
        return same_key_path(arg, name);
    }
    php_equal(arg, name) || bracket_base(arg).is_some_and(|base| php_equal(base, name))
}

/// PHP's reading of a name: up to a NUL (PHP registers a name as a C string:
/// `_method%00x=DELETE` is `$_POST['_method']`), leading spaces dropped, ` `, `.` and `[`
/// read as `_`, compared without case (a case-insensitive upstream may fold it too). A `+` is
/// a space to PHP: the credentials' view of a name keeps it.
fn php_equal(arg: &str, name: &str) -> bool {
    let arg = up_to_nul(arg);
    let folded = arg.trim_start_matches([' ', '+']).bytes().map(|b| match b {
        b' ' | b'+' | b'.' | b'[' => b'_',
        other => other.to_ascii_lowercase(),
    });
    folded.eq(name.bytes().map(|b| b.to_ascii_lowercase()))
}

/// The key `qs` and Rack read first in a bracketed name: `scope` in `scope[]`, `scope[x]`,
/// `[scope]` and `scope]`, and in Rack 2's (Rails up to 7.0, Sinatra) reading
/// `\A[\[\]]*([^\[\]]+)\]*`, every leading bracket dropped: `]scope`, `[]scope`, `[[scope]`
/// (found by an audit, 2026-12-06); `None` for a name without brackets.
fn bracket_base(arg: &str) -> Option<&str> {
    let arg = up_to_nul(arg);
    if !arg.contains(['[', ']']) {
        return None;
    }
    let arg = arg.trim_start_matches([' ', '+']);
    let inner = arg.trim_start_matches(['[', ']']);
    let end = inner.find(['[', ']']).unwrap_or(inner.len());
    inner.get(..end)
}

fn is_plain(name: &str) -> bool {
    (name.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn up_to_nul(arg: &str) -> &str {
    arg.split('\0').next().unwrap_or(arg)
}

/// Keys of a path compared; deeper ones are not (a name deeper than this matches more args).
const DEPTH: usize = 8;

/// The keys a framework reads a name as (`filter[status]`: `filter`, `status`). The first is
/// never empty; an empty one after it is an array element (`ids[]`).
#[derive(Default)]
struct KeyPath<'a> {
    keys: [&'a str; DEPTH],
    len: usize,
}

impl<'a> KeyPath<'a> {
    fn push(&mut self, key: &'a str) {
        if let Some(slot) = self.keys.get_mut(self.len) {
            *slot = key;
            self.len += 1;
        }
    }

    fn keys(&self) -> &[&'a str] {
        self.keys.get(..self.len).unwrap_or_default()
    }

    /// Whether the upstream reads `self` (an arg) at `name`'s path or under it (`scope[x]` is
    /// read as `scope`, a hash). `php`: the first keys are compared with PHP's folding.
    fn under(&self, name: &KeyPath, php: bool) -> bool {
        let (arg, name) = (self.keys(), name.keys());
        !name.is_empty()
            && arg.len() >= name.len()
            && (name.iter().zip(arg).enumerate()).all(|(i, (n, a))| same_key(a, n, php && i == 0))
    }
}

/// Keys compared without case; PHP's first key folded (` `, `+`, `.`, `[` as `_`). An array
/// element (`[]`) may be read as any index (`ids[]` is `ids[0]` to PHP and `qs`).
fn same_key(a: &str, n: &str, php: bool) -> bool {
    let index = |k: &str| k.bytes().all(|b| b.is_ascii_digit());
    let fold = |b: u8| match b {
        b' ' | b'+' | b'.' | b'[' if php => b'_',
        other => other.to_ascii_lowercase(),
    };
    (a.is_empty() && index(n))
        || (n.is_empty() && index(a))
        || (a.len() == n.len() && a.bytes().map(fold).eq(n.bytes().map(fold)))
}

/// Whether a framework reads `arg` at the key path it reads `name` at, or under it. A name that
/// is not plain is read differently by each: `report.type` is `report_type` to PHP only.
fn same_key_path(arg: &str, name: &str) -> bool {
    php_path(arg).under(&php_path(name), true)
        || qs_path(arg).under(&qs_path(name), false)
        || rack2_path(arg).under(&rack2_path(name), false)
}

/// PHP's `php_register_variable_ex`: up to a NUL, leading spaces dropped; the name up to the
/// first `[`, or all of it when no `]` follows (folded when compared); then each `[key]`
/// while the next one follows at once (`filter[status]x` is `filter`, `status`).
fn php_path(arg: &str) -> KeyPath<'_> {
    let mut path = KeyPath::default();
    let arg = up_to_nul(arg).trim_start_matches([' ', '+']);
    let b = arg.as_bytes();
    let open = find(b, 0, |c| c == b'[');
    match open {
        Some(0) => return path,
        Some(open) if find(b, open, |c| c == b']').is_some() => path.push(sub(arg, 0, open)),
        _ => {
            path.push(arg);
            return path;
        }
    }
    let mut at = open.unwrap_or_default();
    while b.get(at) == Some(&b'[') {
        let Some(close) = find(b, at + 1, |c| c == b']') else {
            break;
        };
        path.push(sub(arg, at + 1, close));
        at = close + 1;
    }
    path
}

/// `qs` (Express's default parser): the text before the first `[key]` (a group with no
/// bracket inside), then every such group; text between and after them is ignored
/// (`[filter][status]` and `filter[status]x` are `filter`, `status`).
fn qs_path(arg: &str) -> KeyPath<'_> {
    let mut path = KeyPath::default();
    let b = arg.as_bytes();
    let mut at = 0;
    loop {
        let mut from = at;
        let (open, close) = loop {
            let Some(open) = find(b, from, |c| c == b'[') else {
                if at == 0 {
                    path.push(arg);
                }
                return path;
            };
            match find(b, open + 1, is_bracket) {
                Some(close) if b.get(close) == Some(&b']') => break (open, close),
                Some(next) => from = next,
                None => from = b.len(),
            }
        };
        if at == 0 && open > 0 {
            path.push(sub(arg, 0, open));
        }
        // `[]` first is no key path: the first key is never empty.
        if path.len == 0 && close == open + 1 {
            return path;
        }
        path.push(sub(arg, open + 1, close));
        at = close + 1;
    }
}

/// Rack 2 (Rails up to 7.0, Sinatra), `normalize_params`: at each level the leading brackets
/// dropped, a key up to the next bracket, the `]`s after it dropped; a `[]` after a key is an
/// array element (`[filter][status]` is `filter`, `status`).
fn rack2_path(arg: &str) -> KeyPath<'_> {
    let mut path = KeyPath::default();
    let b = arg.as_bytes();
    let mut at = 0;
    loop {
        let start = find(b, at, |c| !is_bracket(c)).unwrap_or(b.len());
        let end = find(b, start, is_bracket).unwrap_or(b.len());
        if start == end {
            return path;
        }
        let after = find(b, end, |c| c != b']').unwrap_or(b.len());
        match b.get(after..).unwrap_or_default() {
            [] => path.push(sub(arg, start, end)),
            // `params[name] = v`: the whole text at this level is the key.
            [b'['] => path.push(sub(arg, at, b.len())),
            rest => {
                path.push(sub(arg, start, end));
                at = after;
                if rest.starts_with(b"[]") {
                    path.push("");
                    at += 2;
                }
                continue;
            }
        }
        return path;
    }
}

fn is_bracket(c: u8) -> bool {
    c == b'[' || c == b']'
}

/// The first index from `from` on whose byte passes `test`.
fn find(b: &[u8], from: usize, test: impl Fn(u8) -> bool) -> Option<usize> {
    let found = b.get(from..)?.iter().position(|&c| test(c))?;
    Some(from + found)
}

/// `arg[start..end]`, at ASCII brackets (char boundaries).
fn sub(arg: &str, start: usize, end: usize) -> &str {
    arg.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::is_spelling_of;

    #[test]
    fn spellings_an_upstream_reads_as_the_name() {
        for arg in [
            "scope",
            "Scope",
            "SCOPE",
            "[scope]",
            "scope]",
            "scope[]",
            "scope[x]",
            " scope",
            "[Scope]",
            "]scope",
            "[]scope",
            "[[scope]",
            "]]scope]]",
            "[[scope",
        ] {
            assert!(is_spelling_of(arg, "scope"), "{arg}");
        }
        for arg in [
            "report.type",
            "report type",
            "report[type",
            " report_type",
            "report.type[]",
        ] {
            assert!(is_spelling_of(arg, "report_type"), "{arg}");
        }
        for arg in [
            "user.key",
            "user key",
            "user[key",
            "[user_key]",
            "user_key[]",
            "user+key",
            "+user_key",
        ] {
            assert!(is_spelling_of(arg, "user_key"), "{arg}");
        }
    }

    #[test]
    fn other_names_are_not_spellings() {
        for arg in [
            "scopes", "scop", "x[scope]", "scope_", "", "[", "]", "[]", "s.cope",
        ] {
            assert!(!is_spelling_of(arg, "scope"), "{arg}");
        }
        assert!(!is_spelling_of("report-type", "report_type"));
    }

    /// Names that are not plain: compared by the key path each framework reads (found by an
    /// audit, 2026-12-06).
    #[test]
    fn spellings_of_nested_and_dotted_names() {
        for arg in [
            "filter[status]",
            "Filter[STATUS]",
            "[filter][status]",  // qs, Rack 2
            "filter[status]x",   // qs, PHP (text after `]`), Rack 2 (`filter[status][x]`)
            "filter[status][]",  // an array under it
            "filter[status][x]", // a hash under it
            " filter[status]",   // PHP
            "filter[status",     // Rack 2 (a key after `[`)
            "[filter[status]",   // Rack 2
            "filter]][status]",  // Rack 2
            "filter[status]]",   // Rack 2
            "filter[status]\0x", // PHP (up to the NUL)
        ] {
            assert!(is_spelling_of(arg, "filter[status]"), "{arg}");
        }
        for arg in [
            "filter",
            "filter[type]",
            "filter[]",
            "x[filter][status]",
            "filter_status",
            "filter[stat]",
            "filterstatus",
        ] {
            assert!(!is_spelling_of(arg, "filter[status]"), "{arg}");
        }
        // PHP reads `report.type`, `report_type`, `report type` and `report[type` as one name.
        for arg in [
            "report_type",
            "report type",
            "report[type",
            "Report_Type",
            "report.type[x]",
            " report.type",
            "+report_type",
            "report_type[]",
        ] {
            assert!(is_spelling_of(arg, "report.type"), "{arg}");
        }
        for arg in [
            "report-type",
            "reporttype",
            "report",
            "[report_type]",
            "report.types",
        ] {
            assert!(!is_spelling_of(arg, "report.type"), "{arg}");
        }
        // An array element: `ids[]` is read as `ids[0]` (PHP, `qs`).
        assert!(is_spelling_of("ids[0]", "ids[]") && is_spelling_of("ids[]", "ids[3]"));
        assert!(!is_spelling_of("ids[x]", "ids[]") && !is_spelling_of("ids", "ids[]"));
        // A name with no first key (`[]`) is no key path: it matches no other arg.
        assert!(!is_spelling_of("scope", "[]") && !is_spelling_of("[x]", "[]"));
    }

    /// The key paths each framework reads.
    #[test]
    fn key_paths() {
        use super::{php_path, qs_path, rack2_path, KeyPath};
        let keys = |p: KeyPath| p.keys().join("/");
        let read = |arg| [php_path(arg), qs_path(arg), rack2_path(arg)].map(keys);
        assert_eq!(read("a[b][c]"), ["a/b/c", "a/b/c", "a/b/c"]);
        assert_eq!(read("[a][b]"), ["", "a/b", "a/b"]);
        assert_eq!(read("a[b]x[c]"), ["a/b", "a/b/c", "a/b/x/c"]);
        assert_eq!(read(" a.b[c"), ["a.b[c", " a.b[c", " a.b/c"]);
        assert_eq!(read("a[]"), ["a/", "a/", "a/"]);
        assert_eq!(read("[][a]"), ["", "", "a"]);
        assert_eq!(read("a["), ["a[", "a[", "a["]);
        assert_eq!(read("]]a]][b"), ["]]a]][b", "]]a]][b", "a/b"]);
    }

    /// What `QueryArgs` makes of spellings and of `;`, for rules and for credentials.
    #[test]
    fn query_args_flag_spellings_and_semicolons() {
        use crate::mapping::QueryArgs;
        let rules = |q: &str| QueryArgs::parse(q).ambiguous("scope");
        // `scope=all;x=1`: the rules read `all;x=1`, Rack reads `all`.
        for q in [
            "[scope]=all",
            "scope[]=all",
            "x=1;scope=all",
            "scope=all;x=1",
        ] {
            assert!(rules(q), "{q}");
        }
        for q in ["scope=all", "x=a;b", "scopes=all", "scope=all&x=1;y=2"] {
            assert!(!rules(q), "{q}");
        }
        let credential = |q: &str| {
            let args = QueryArgs::parse(q);
            let (value, ambiguous) = args.credential("user_key");
            (value.map(str::to_string), ambiguous)
        };
        let k = || Some("k".to_string());
        assert_eq!(credential("user_key=k&user.key=k"), (k(), false));
        assert_eq!(credential("user.key=o&user_key=k"), (k(), true));
        assert_eq!(credential("user_key=k&x=;user_key=o"), (k(), true));
        // A spelling alone is not read as the credential.
        assert_eq!(credential("user.key=k"), (None, false));
    }
}
