//! Method overrides: a `POST` that asks the upstream to run another method. Express's
//! `method-override`, Rack (Rails), Symfony, Laravel, Spring's `HiddenHttpMethodFilter` and
//! ASP.NET Core's `UseHttpMethodOverride` run a `POST` as the method a header or a `_method`
//! field names, while the mapping rules, grants and roles matched `POST`: `POST /orders` with
//! `X-HTTP-Method-Override: DELETE` was metered and allowed as a `POST` and served as a
//! `DELETE`. APIcast ignores overrides; Tollgate refuses a `POST` that names another method.
//! Those frameworks only honour overrides on `POST`, so other methods are not looked at.

use crate::mapping::{ArgValue, QueryArgs};
use crate::request::HeaderSource;

/// The override headers those frameworks read (any spelling, as nginx and CGI read them).
const HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];
/// The form field (Rails, Spring, ASP.NET Core) or any request input (Laravel, Symfony).
const ARG: &str = "_method";

/// Whether a `POST`'s headers name another method (or two values disagree).
pub(super) fn in_headers(method: &str, headers: &dyn HeaderSource) -> bool {
    method == "POST"
        && HEADERS.iter().any(|name| {
            let (value, ambiguous) = headers.header_any_spelling(name);
            ambiguous || value.is_some_and(|v| !is_post(&v))
        })
}

/// Whether a `POST`'s query or form args name another method in any `_method` (any case,
/// every value). `raw`: the query or body as sent, searched when the args were cut short
/// (past 100 pieces an upstream still reads a `_method` the rules' view does not hold).
pub(super) fn in_args(method: &str, args: &QueryArgs, raw: Option<&str>) -> bool {
    if method != "POST" {
        return false;
    }
    let named = args.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case(ARG) && matches!(value, ArgValue::Present(v) if !is_post(v))
    });
    named || (args.truncated() && raw.is_some_and(|text| contains_ci(text, "method")))
}

fn is_post(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("POST")
}

fn contains_ci(text: &str, needle: &str) -> bool {
    (text.as_bytes())
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Headers(HashMap<&'static str, &'static str>);

    impl HeaderSource for Headers {
        fn header(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> Headers {
        Headers(pairs.iter().copied().collect())
    }

    #[test]
    fn headers_naming_another_method_on_a_post() {
        for (name, value) in [
            ("x-http-method-override", "DELETE"),
            ("x_http_method_override", "put"),
            ("x-http-method", "PATCH"),
            ("x-method-override", "GET"),
            ("x-http-method-override", "POST, DELETE"),
            ("x-http-method-override", ""),
        ] {
            assert!(
                in_headers("POST", &headers(&[(name, value)])),
                "{name}: {value}"
            );
            assert!(
                !in_headers("PUT", &headers(&[(name, value)])),
                "{name}: {value}"
            );
        }
        for value in ["POST", " post "] {
            let h = headers(&[("x-http-method-override", value)]);
            assert!(!in_headers("POST", &h), "{value}");
        }
        assert!(!in_headers("POST", &headers(&[("x-method", "DELETE")])));
    }

    #[test]
    fn args_naming_another_method_on_a_post() {
        for query in [
            "_method=DELETE",
            "_METHOD=put",
            "%5Fmethod=DELETE",
            "_method=POST&_method=DELETE",
            "a=1&_method=",
        ] {
            let args = QueryArgs::parse(query);
            assert!(in_args("POST", &args, Some(query)), "{query}");
            assert!(!in_args("GET", &args, Some(query)), "{query}");
        }
        for query in [
            "_method=POST",
            "_method",
            "method=DELETE",
            "x_method=DELETE",
        ] {
            assert!(
                !in_args("POST", &QueryArgs::parse(query), Some(query)),
                "{query}"
            );
        }
        // Past the 100 pieces the rules see, a `_method` is still read upstream.
        let long = format!("{}_method=DELETE", "a=1&".repeat(120));
        assert!(in_args("POST", &QueryArgs::parse(&long), Some(&long)));
        let long = "a=1&".repeat(120);
        assert!(!in_args("POST", &QueryArgs::parse(&long), Some(&long)));
    }
}
