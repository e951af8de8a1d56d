//! API keys stored only as SHA-256 digests, each with an id and grants.

use super::digest::{parse_stored, sha256, Sha256Digest};
use super::grants::{parse_grants, Grant};
use crate::config::header_values::name_problem;
use crate::config::json::{error, Obj, Result};
use crate::hashing::SeededMap;

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub grants: Vec<Grant>,
}

/// Where keys are read and which keys exist.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    /// Header carrying the key (e.g. `APIKey`, `X-API-Key`), lower-cased.
    pub header: Option<String>,
    /// Query arg carrying the key.
    pub query: Option<String>,
    /// HTTP Basic with the key as username and an empty password.
    pub basic_username: bool,
    /// Keyed by digest: looking up a digest reveals nothing about the key.
    keys: SeededMap<Sha256Digest, ApiKey>,
}

impl ApiKeys {
    pub fn parse(obj: &Obj) -> Result<ApiKeys> {
        obj.deny_unknown(&["header", "query", "basic_username", "keys"])?;
        let mut keys = SeededMap::default();
        let list = obj
            .array("keys", |path, v| {
                let k = Obj::new(path, v)?;
                k.deny_unknown(&["id", "hash", "grants"])?;
                let id = k
                    .non_empty_string("id")?
                    .ok_or_else(|| error(&k.child_path("id"), "missing required field"))?;
                let hash = k.required_string("hash")?;
                let digest = parse_stored(hash).ok_or_else(|| {
                    error(
                        &k.child_path("hash"),
                        "expected sha256:<64 hex digits> (see `tollgate hash-key`)",
                    )
                })?;
                Ok((
                    path.to_string(),
                    digest,
                    ApiKey {
                        id: id.to_string(),
                        grants: parse_grants(&k, "grants")?,
                    },
                ))
            })?
            .unwrap_or_default();
        for (path, digest, key) in list {
            if keys.insert(digest, key).is_some() {
                return Err(error(&path, "the same key is listed twice"));
            }
        }
        // A name no request can carry as written would never match: refused, not loaded.
        let header = obj.non_empty_string("header")?;
        if let Some(problem) = header.and_then(name_problem) {
            return Err(error(&obj.child_path("header"), problem));
        }
        let query = obj.non_empty_string("query")?;
        let breaks = |c: char| "=&#".contains(c) || c.is_whitespace() || c.is_control();
        if query.is_some_and(|q| q.contains(breaks)) {
            return Err(error(
                &obj.child_path("query"),
                "has =, &, #, whitespace or a control character, which no query arg name holds as written",
            ));
        }
        let parsed = ApiKeys {
            header: header.map(str::to_ascii_lowercase),
            query: query.map(str::to_string),
            basic_username: obj.bool("basic_username")?.unwrap_or(false),
            keys,
        };
        if parsed.header.is_none() && parsed.query.is_none() && !parsed.basic_username {
            return Err(error(
                &obj.path,
                "set at least one of header, query or basic_username",
            ));
        }
        Ok(parsed)
    }

    /// The key's entry, if the presented key is known.
    pub fn find(&self, presented: &str) -> Option<&ApiKey> {
        self.keys.get(&sha256(presented.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(keys: Value) -> Result<ApiKeys> {
        ApiKeys::parse(&Obj::new("services[0].authentication.api_keys", &keys)?)
    }

    /// A header or query arg name no request carries as written is refused at its path.
    #[test]
    fn names_that_could_never_match_are_refused_with_their_path() {
        let at = "services[0].authentication.api_keys";
        for header in [
            "X API Key",
            "X-Key:",
            "x\tkey",
            "X-Kéy",
            "(key)",
            ":authority",
        ] {
            let e = parse(json!({"header": header})).unwrap_err();
            assert_eq!(e.path, format!("{at}.header"), "{header}");
            assert!(e.message.starts_with("not a header name"), "{e}");
        }
        for query in ["api=key", "a&b", "key#1", "api key", "key\n", "k\u{7f}"] {
            let e = parse(json!({"query": query})).unwrap_err();
            assert_eq!(e.path, format!("{at}.query"), "{query}");
        }
        let ok = parse(json!({"header": "X-API_Key.v1!", "query": "api-key[0]"})).unwrap();
        assert_eq!(ok.header.as_deref(), Some("x-api_key.v1!"));
        assert_eq!(ok.query.as_deref(), Some("api-key[0]"));
    }
}
