//! The `default_credentials` policy's configuration (reference apicast-policies.md §3.2,
//! APIcast's `default_credentials.lua`); applied by `pipeline/access.rs`.

use super::configs::{choice, required};
use crate::config::json::{Obj, Result};

/// `default_credentials` (§3.2): used when the request carries none. All three are kept
/// whatever `auth_type` says, as APIcast keeps them: the service's `backend_version` picks
/// (`user_key` for version 1, `app_id` and `app_key` together for version 2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DefaultCredentials {
    pub user_key: Option<String>,
    pub app_id: Option<String>,
    pub app_key: Option<String>,
}

/// APIcast's schema: `auth_type` and the fields it names are required. APIcast's code then
/// reads all three fields whatever `auth_type` says (`default_credentials.lua`), so a version
/// 2 service uses an `app_id`/`app_key` beside `auth_type: user_key` (Tollgate obeyed
/// `auth_type` and answered 401: found by an audit, 2026-12-07).
pub fn default_credentials(c: &Obj) -> Result<DefaultCredentials> {
    let named: &[&str] = match choice(c, "auth_type", &["user_key", "app_id_and_app_key"], None)? {
        0 => &["user_key"],
        _ => &["app_id", "app_key"],
    };
    for key in named {
        required(c, key)?;
    }
    let field = |key: &str| -> Result<Option<String>> { Ok(c.string(key)?.map(str::to_string)) };
    Ok(DefaultCredentials {
        user_key: field("user_key")?,
        app_id: field("app_id")?,
        app_key: field("app_key")?,
    })
}
