//! HTTP Basic users: username plus a salted SHA-256 of the password.
//! Passwords here are meant to be generated secrets (as API keys are); for human-chosen
//! passwords a slow KDF would be needed, which a per-request proxy check cannot afford.

use super::digest::{digests_equal, parse_stored, sha256, Sha256Digest};
use super::grants::{parse_grants, Grant};
use crate::config::json::{error, Obj, Result};
use crate::hashing::SeededMap;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct BasicUser {
    salt: String,
    digest: Sha256Digest,
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, Default)]
pub struct BasicUsers {
    users: SeededMap<String, BasicUser>,
}

/// The stored form of a password: `sha256:<hex of sha256(salt || password)>`.
pub fn password_digest(salt: &str, password: &str) -> Sha256Digest {
    sha256(format!("{salt}{password}").as_bytes())
}

impl BasicUsers {
    pub fn parse(path: &str, value: &Value) -> Result<BasicUsers> {
        let Value::Array(items) = value else {
            return Err(error(path, "expected an array"));
        };
        let mut users = SeededMap::default();
        for (i, item) in items.iter().enumerate() {
            let u = Obj::new(&format!("{path}[{i}]"), item)?;
            u.deny_unknown(&["username", "salt", "hash", "grants"])?;
            let username = u
                .non_empty_string("username")?
                .ok_or_else(|| error(&u.child_path("username"), "missing required field"))?;
            // RFC 7617: the user-id ends at the first colon (so such a user could never
            // authenticate) and holds no control character.
            if username.contains(':') || username.contains(char::is_control) {
                return Err(error(
                    &u.child_path("username"),
                    "has a colon or a control character, which a Basic user-id cannot hold (RFC 7617): it could never authenticate",
                ));
            }
            let digest = parse_stored(u.required_string("hash")?).ok_or_else(|| {
                error(
                    &u.child_path("hash"),
                    "expected sha256:<64 hex digits> (see `tollgate hash-key --salt`)",
                )
            })?;
            let user = BasicUser {
                salt: u.string("salt")?.unwrap_or_default().to_string(),
                digest,
                grants: parse_grants(&u, "grants")?,
            };
            if users.insert(username.to_string(), user).is_some() {
                return Err(error(&u.child_path("username"), "duplicate username"));
            }
        }
        Ok(BasicUsers { users })
    }

    /// The user, if the username exists and the password matches (constant-time compare).
    /// An unknown username costs the same digest and compare as a known one, so the time of
    /// the answer does not tell which usernames exist (found by an audit).
    pub fn verify(&self, username: &str, password: &str) -> Option<&BasicUser> {
        let user = self.users.get(username);
        let (salt, stored) = user.map_or(("", &[0; 32]), |u| (u.salt.as_str(), &u.digest));
        let matches = digests_equal(&password_digest(salt, password), stored);
        user.filter(|_| matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7617: a user-id with a colon would be read as the part before it, so the user
    /// could never authenticate; control characters are not allowed either.
    #[test]
    fn a_username_a_basic_credential_cannot_carry_is_refused_with_its_path() {
        let hash = format!("sha256:{}", "0".repeat(64));
        for name in ["svc:reports", ":", "a\u{1}b", "tab\t"] {
            let users = json!([{"username": "ok", "hash": hash}, {"username": name, "hash": hash}]);
            let e = BasicUsers::parse("basic_users", &users).unwrap_err();
            assert_eq!(e.path, "basic_users[1].username", "{name:?}");
        }
        let users = json!([{"username": "svc-reports@example.com", "hash": hash}]);
        assert!(BasicUsers::parse("basic_users", &users).is_ok());
    }
}
