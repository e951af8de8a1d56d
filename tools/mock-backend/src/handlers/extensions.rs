//! The `3scale-options` request header (§6.1) and the deprecated `no_body` URL parameter.

use crate::params::{parse_nested, Hash, Value};

/// Enabled extensions of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extensions {
    pub no_body: bool,
    pub rejection_reason_header: bool,
    pub limit_headers: bool,
    pub hierarchy: bool,
    pub flat_usage: bool,
    pub list_app_keys: bool,
}

/// `no_body`: any value except `0`/`false` (the empty string enables it).
fn truthy(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Str(s)) if s != "0" && s != "false")
}

fn is_one(h: &Hash, key: &str) -> bool {
    h.str(key) == Some("1")
}

impl Extensions {
    /// Parses the `3scale-options` header value (unparseable → nothing enabled).
    pub fn from_header(value: Option<&str>) -> Extensions {
        let Some(value) = value else {
            return Extensions::default();
        };
        let Ok(parsed) = parse_nested(value) else {
            return Extensions::default();
        };
        let h = parsed.params;
        Extensions {
            no_body: truthy(h.get("no_body")),
            rejection_reason_header: is_one(&h, "rejection_reason_header"),
            limit_headers: is_one(&h, "limit_headers"),
            hierarchy: is_one(&h, "hierarchy"),
            flat_usage: is_one(&h, "flat_usage"),
            list_app_keys: is_one(&h, "list_app_keys"),
        }
    }

    /// Also honours the deprecated `no_body` request parameter.
    pub fn with_params(mut self, params: &Hash) -> Extensions {
        if truthy(params.get("no_body")) {
            self.no_body = true;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_flags() {
        let e =
            Extensions::from_header(Some("rejection_reason_header=1&limit_headers=1&no_body=1"));
        assert!(e.no_body && e.rejection_reason_header && e.limit_headers);
        assert!(!e.hierarchy && !e.flat_usage && !e.list_app_keys);
        assert!(Extensions::from_header(Some("no_body=")).no_body);
        assert!(!Extensions::from_header(Some("no_body=false")).no_body);
        assert!(!Extensions::from_header(Some("limit_headers=true")).limit_headers);
        assert_eq!(Extensions::from_header(None), Extensions::default());
    }
}
