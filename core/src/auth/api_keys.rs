//! API keys stored only as SHA-256 digests, each with an id and grants.

use super::digest::{parse_stored, sha256, Sha256Digest};
use super::grants::{parse_grants, Grant};
use crate::config::json::{error, Obj, Result};
use std::collections::HashMap;

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
    keys: HashMap<Sha256Digest, ApiKey>,
}

impl ApiKeys {
    pub fn parse(obj: &Obj) -> Result<ApiKeys> {
        obj.deny_unknown(&["header", "query", "basic_username", "keys"])?;
        let mut keys = HashMap::new();
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
        let parsed = ApiKeys {
            header: obj.non_empty_string("header")?.map(str::to_ascii_lowercase),
            query: obj.non_empty_string("query")?.map(str::to_string),
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
