//! For the local authentication tests (`local_auth_keys_grants_and_metering.rs`,
//! `local_auth_https_secrets_and_signed_urls.rs`): two API keys with grants on `models`, and
//! requests to the local service's host.

use e2e::Request;
use serde_json::{json, Value};
use tollgate_core::auth::digest::stored_form;

pub const READER_KEY: &str = "rk_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";
pub const WRITER_KEY: &str = "wk_0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d";

pub fn api_keys() -> Value {
    json!({
        "header": "APIKey", "query": "api_key", "basic_username": true,
        "keys": [
            {"id": "reader", "hash": stored_form(READER_KEY), "grants": [{"namespace": "models", "actions": ["read"]}]},
            {"id": "writer", "hash": stored_form(WRITER_KEY), "grants": [{"namespace": "models", "actions": ["read", "create", "update", "delete"]}]}
        ]
    })
}

pub fn req(method: &str, path: &str) -> Request {
    Request::new(method, path).header("Host", "local.example.com")
}
