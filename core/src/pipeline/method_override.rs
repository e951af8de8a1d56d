//! Method overrides: a `POST` that asks the upstream to run another method. Express's
//! `method-override`, Rack (Rails), Symfony, Laravel, Spring's `HiddenHttpMethodFilter` and
//! ASP.NET Core's `UseHttpMethodOverride` run a `POST` as the method a header or a `_method`
//! field names, while the mapping rules, grants and roles matched `POST`: `POST /orders` with
//! `X-HTTP-Method-Override: DELETE` was metered and allowed as a `POST` and served as a
//! `DELETE`. APIcast ignores overrides; Tollgate refuses a request that names another method.
//! Most frameworks honour overrides on `POST` only, but Slim 4 applies the header on every
//! method and CakePHP 4 the header on every method and a `_method` in a `PUT`, `PATCH` or
//! `DELETE` form body too (`GET /models/7` with `X-HTTP-Method-Override: DELETE` was allowed
//! as a read and served as a delete: found by an audit, 2026-12-07). A `_method` in the query
//! is read on `POST` only.

use crate::encoding::decode_form_component;
use crate::mapping::arg_names::is_spelling_of;
use crate::request::HeaderSource;

/// The override headers those frameworks read (any spelling, as nginx and CGI read them).
pub(super) const HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];
/// The form field (Rails, Spring, ASP.NET Core) or any request input (Laravel, Symfony).
const ARG: &str = "_method";

/// Whether the headers name a method other than `method` (or two values disagree).
pub(super) fn in_headers(method: &str, headers: &dyn HeaderSource) -> bool {
    HEADERS.iter().any(|name| {
        let (value, ambiguous) = headers.header_any_spelling(name);
        ambiguous || value.is_some_and(|v| !is_same(&v, method))
    })
}

/// Whether a form body on `method` may carry a `_method` an upstream applies.
pub(super) fn read_in_body(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

/// Whether a query or form body (`text`, as sent) names a method other than `method` in a
/// `_method` piece: every piece, split on `&` and `;` (Rack 2, old Python and Go split on
/// both), its name decoded as a form's and read in any spelling an upstream reads as
/// `_method` (`_METHOD`, PHP's `.method`, `[_method]`: `arg_names`). Not `QueryArgs`: its
/// view stops at 100 pieces, an upstream's does not.
pub(super) fn in_text(method: &str, text: &str) -> bool {
    text.split(['&', ';']).any(|piece| {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        // Cheap first look: a `_method` name holds `method` in some case, or an escape.
        let maybe = name.contains('%') || contains_ci(name, "method");
        maybe
            && is_spelling_of(&decode_form_component(name), ARG)
            && !is_same(&decode_form_component(value), method)
    })
}

fn is_same(value: &str, method: &str) -> bool {
    value.trim().eq_ignore_ascii_case(method)
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
        }
        for value in ["POST", " post "] {
            let h = headers(&[("x-http-method-override", value)]);
            assert!(!in_headers("POST", &h), "{value}");
        }
        assert!(!in_headers("POST", &headers(&[("x-method", "DELETE")])));
    }

    /// Slim 4 and CakePHP 4 apply the header whatever the method (found by an audit,
    /// 2026-12-07): one naming another method is refused on every method, one naming the
    /// request's own is not an override.
    #[test]
    fn headers_naming_another_method_on_any_method() {
        for (method, own) in [("GET", " get "), ("PUT", "put"), ("DELETE", "Delete")] {
            for name in HEADERS {
                assert!(
                    in_headers(method, &headers(&[(name, "PATCH")])),
                    "{method} {name}"
                );
                assert!(
                    in_headers(method, &headers(&[(name, "POST")])),
                    "{method} {name}"
                );
                assert!(
                    !in_headers(method, &headers(&[(name, own)])),
                    "{method} {name}"
                );
            }
        }
        let spelled = headers(&[("x_http_method_override", "PATCH")]);
        assert!(in_headers("GET", &spelled));
        assert!(!in_headers("PATCH", &spelled));
        assert!(!in_headers("GET", &headers(&[])));
    }

    /// CakePHP reads a `_method` in a `PUT`, `PATCH` or `DELETE` form body (found by an
    /// audit, 2026-12-07).
    #[test]
    fn args_naming_another_method_on_other_methods() {
        for method in ["PUT", "PATCH", "DELETE"] {
            assert!(read_in_body(method));
            assert!(in_text(method, "_method=POST"), "{method}");
            assert!(in_text(method, "a=1&.method=GET"), "{method}");
            assert!(!in_text(method, &format!("_method={method}")), "{method}");
        }
        assert!(in_text("PUT", "_method=DELETE"));
        assert!(!read_in_body("GET"));
    }

    #[test]
    fn args_naming_another_method_on_a_post() {
        for text in [
            "_method=DELETE",
            "_METHOD=put",
            "%5Fmethod=DELETE",
            "_method=POST&_method=DELETE",
            "a=1&_method=",
            "a=1;_method=DELETE",
            ".method=DELETE",
            "[_method]=DELETE",
            "%5B_method%5D=DELETE",
            "+_method=DELETE",
            "_m%65thod=DELETE",
            "_method",
            // PHP ends a name at a NUL (found by an audit).
            "item=42&_method%00=DELETE",
            "_method%00x=DELETE",
        ] {
            assert!(in_text("POST", text), "{text}");
        }
        for text in [
            "_method=POST",
            "_method=+post+",
            "method=DELETE",
            "x_method=DELETE",
        ] {
            assert!(!in_text("POST", text), "{text}");
        }
        // Past the 100 pieces the rules see, a `_method` is still read upstream, and a field
        // merely named like one is not an override.
        let long = format!("{}_m%65thod=DELETE", "a=1&".repeat(120));
        assert!(in_text("POST", &long));
        let long = format!("{}payment_method=card", "a=1&".repeat(120));
        assert!(!in_text("POST", &long));
    }
}
