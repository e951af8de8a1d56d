//! Recorded requests, for assertions in tests.

use crate::params::lossy_pairs;

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string (without `?`), as sent.
    pub raw_query: String,
    /// Decoded query pairs, in order (a key without `=` has an empty value).
    pub query: Vec<(String, String)>,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body (lossy UTF-8).
    pub body: String,
    /// Decoded form pairs of the body, in order.
    pub body_params: Vec<(String, String)>,
}

impl ReceivedRequest {
    pub(crate) fn new(
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> ReceivedRequest {
        let (path, raw_query) = url.split_once('?').unwrap_or((url, ""));
        let body = String::from_utf8_lossy(body).into_owned();
        let is_form = headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .is_none_or(|(_, v)| !v.to_ascii_lowercase().starts_with("multipart/"));
        ReceivedRequest {
            method: method.to_string(),
            path: path.to_string(),
            raw_query: raw_query.to_string(),
            query: lossy_pairs(raw_query),
            body_params: if is_form {
                lossy_pairs(&body)
            } else {
                Vec::new()
            },
            headers,
            body,
        }
    }

    /// First value of a decoded parameter, from the query string, then the body.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .chain(self.body_params.iter())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The whole URL as received (`path?query`).
    pub fn url(&self) -> String {
        if self.raw_query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.raw_query)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_and_headers() {
        let r = ReceivedRequest::new(
            "POST",
            "/transactions.xml?service_token=t&service_id=1",
            vec![("3scale-options".into(), "no_body=1".into())],
            b"transactions%5B0%5D%5Busage%5D%5Bhits%5D=1",
        );
        assert_eq!(r.path, "/transactions.xml");
        assert_eq!(r.param("service_id"), Some("1"));
        assert_eq!(r.param("transactions[0][usage][hits]"), Some("1"));
        assert_eq!(r.header("3Scale-Options"), Some("no_body=1"));
    }
}
