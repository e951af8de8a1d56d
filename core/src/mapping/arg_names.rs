//! Which arg names an upstream may read as a given name. Mapping rules and credentials read
//! names as APIcast does (rules: exact; credentials: any case), but frameworks fold names:
//! - ASP.NET and others ignore the case (`Scope` is `scope`);
//! - PHP drops leading spaces and reads ` `, `.` and an unmatched `[` as `_` (`report.type` is
//!   `$_GET['report_type']`);
//! - `qs` (Express) and Rack (Rails) read bracketed names as nested keys: `[scope]`, `scope]`,
//!   `scope[]` and `scope[x]` all give `scope` (an array or a hash in some of them).
//!
//! An arg spelled another way than the name a rule or a credential reads is a second value
//! for that name, as far as the upstream is concerned (found by audits, 2026-12-05).

/// Whether an upstream may read the arg `arg` as the arg `name`. `name` is what a rule or
/// credential reads: a plain name (letters, digits, `_`, `-`), compared as written.
pub fn is_spelling_of(arg: &str, name: &str) -> bool {
    arg.eq_ignore_ascii_case(name)
        || php_equal(arg, name)
        || bracket_base(arg).is_some_and(|base| php_equal(base, name))
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

fn up_to_nul(arg: &str) -> &str {
    arg.split('\0').next().unwrap_or(arg)
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
        assert!(!is_spelling_of("report_type", "report.type"));
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
