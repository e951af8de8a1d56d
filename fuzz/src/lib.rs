//! Shared pieces of the fuzz targets: a realistic configuration and a header map.

// The adapter's ABI module, as the module compiles it (its host imports are never called):
// the header-map (de)serialiser the `answer_headers` and `header_map` targets read through.
#[allow(dead_code)]
#[path = "../../src/abi.rs"]
pub mod abi;
pub mod cache;
// The CLI's policy report (`tollgate check`), as the CLI compiles it: `policy_review` reads
// through it.
#[path = "../../tools/cli/src/policies.rs"]
pub mod cli_policies;
pub mod figures;
pub mod header_lines;
pub mod test_keys;

use arbitrary::Arbitrary;
use std::sync::OnceLock;
use tollgate_core::config::Config;
use tollgate_core::request::HeaderSource;

/// Several services on shared hosts (path routing), 3scale user_key and app_id/app_key,
/// credentials in the query, headers and Authorization, mapping rules with placeholders,
/// query conditions and `$`, local authentication (API keys, Basic users, HS256 JWT,
/// signed URLs, header secrets), upstream rewrites, batching with caching, and a policy chain
/// (headers, url_rewriting, routing, default_credentials) with a public path.
pub const CONFIG: &str = r#"{
  "backend": {"cluster": "backend", "authority": "su1.3scale.net", "timeout_ms": 500,
              "caching_type": "resilient", "cache_max_entries": 64,
              "batching": {"auths_ttl": 30, "batch_report_seconds": 10, "denied_ttl": 5, "max_pending": 50}},
  "path_routing": true,
  "services": [
    {"id": 1, "system_name": "users", "backend_version": 1,
     "backend_authentication_type": "service_token", "backend_authentication_value": "tok-1",
     "proxy": {"hosts": ["api.example.com", "localhost"], "credentials_location": "query",
               "auth_user_key": "user_key", "secret_token": "s3cr3t",
               "api_backend": "https://upstream.internal:8443/base?x=1",
               "proxy_rules": [
                 {"http_method": "GET", "pattern": "/users/{id}/orders/{order}$", "metric_system_name": "orders", "delta": 2},
                 {"http_method": "ANY", "pattern": "/users", "metric_system_name": "hits", "delta": 1},
                 {"http_method": "POST", "pattern": "/users?kind={kind}&admin=yes", "metric_system_name": "admin", "delta": 5, "last": true},
                 {"http_method": "GET", "pattern": "/search", "metric_system_name": "search", "delta": 1,
                  "querystring_parameters": {"q": "{q}", "lang": "en"}}
               ]}},
    {"id": "2", "system_name": "apps", "backend_version": 2,
     "backend_authentication_type": "provider_key", "backend_authentication_value": "pk-2",
     "proxy": {"hosts": ["api.example.com", "apps.example.com"], "credentials_location": "headers",
               "auth_app_id": "X-App-Id", "auth_app_key": "x_app_key", "hostname_rewrite": "apps.internal",
               "proxy_rules": [
                 {"http_method": "GET", "pattern": "/apps/{app}", "metric_system_name": "apps", "delta": 1},
                 {"http_method": "DELETE", "pattern": "/apps/{app}$", "metric_system_name": "apps_delete", "delta": 3},
                 {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}
               ]}},
    {"id": 3, "system_name": "basic", "backend_version": 2,
     "backend_authentication_type": "service_token", "backend_authentication_value": "tok-3",
     "proxy": {"hosts": ["basic.example.com"], "credentials_location": "authorization",
               "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}},
    {"id": 4, "system_name": "local",
     "proxy": {"hosts": ["local.example.com"],
               "proxy_rules": [
                 {"http_method": "GET", "pattern": "/models/{m}", "metric_system_name": "hits", "delta": 1, "namespace": "models"},
                 {"http_method": "POST", "pattern": "/models", "metric_system_name": "hits", "delta": 1, "namespace": "models", "action": "create"},
                 {"http_method": "ANY", "pattern": "/admin", "metric_system_name": "hits", "delta": 1, "roles": ["admin"]},
                 {"http_method": "ANY", "pattern": "/files", "metric_system_name": "files", "delta": 1}
               ]},
     "authentication": {
       "mode": "local",
       "api_keys": {"header": "APIKey", "query": "api_key", "basic_username": true,
                    "keys": [{"id": "key-one", "hash": "sha256:9b346041bc9a49574eb2665b2ad2a0a3f9f9cce4e42f5d1f26deb8a256b5966a",
                              "grants": [{"namespace": "models", "actions": ["read"]}]}]},
       "basic_users": [{"username": "alice", "salt": "salt", "hash": "sha256:21baed949b716c49cbf7d8fe79412f1dc104745650a32081ae0be0b967aeb7f3",
                        "grants": [{"namespace": "models", "actions": ["*"]}]}],
       "jwt": {"jwks": {"keys": [{"kty": "oct", "kid": "h1", "alg": "HS256", "k": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]},
               "issuer": "https://idp.example.com", "audiences": ["orders"], "leeway_s": 30,
               "roles_claim": "realm_access.roles"},
       "signed_urls": {"secret": "a long random secret for signed urls"},
       "header_secrets": [{"path_prefix": "/admin", "header": "X-Admin-Secret", "secret": "open-sesame"}]
     }},
    {"id": 5, "system_name": "local3scale", "backend_version": 1,
     "backend_authentication_type": "service_token", "backend_authentication_value": "tok-5",
     "proxy": {"hosts": ["mixed.example.com"],
               "proxy_rules": [{"http_method": "ANY", "pattern": "/{a}/{b}", "metric_system_name": "hits", "delta": 1}]},
     "authentication": {
       "mode": "local+3scale", "https_only": true, "trust_forwarded_proto": true,
       "api_keys": {"header": "X-API-Key",
                    "keys": [{"id": "key-one", "hash": "sha256:9b346041bc9a49574eb2665b2ad2a0a3f9f9cce4e42f5d1f26deb8a256b5966a"}]}
     }},
    {"id": 6, "system_name": "chained", "backend_version": 1,
     "backend_authentication_type": "service_token", "backend_authentication_value": "tok-6",
     "proxy": {"hosts": ["chain.example.com"], "credentials_location": "query",
               "proxy_rules": [{"http_method": "GET", "pattern": "/items/{id}", "metric_system_name": "items", "delta": 1},
                               {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}],
               "policy_chain": [
                 {"name": "headers", "configuration": {
                   "request": [{"op": "set", "header": "X-Tenant", "value": "t1", "value_type": "plain"}]}},
                 {"name": "url_rewriting", "configuration": {
                   "commands": [{"op": "sub", "regex": "^/v1/", "replace": "/", "break": true}]}},
                 {"name": "routing", "configuration": {"rules": [{"url": "http://b.internal",
                   "condition": {"operations": [{"match": "header", "header_name": "X-Route", "op": "==", "value": "b"}]}}]}},
                 {"name": "default_credentials", "configuration": {"auth_type": "user_key", "user_key": "anonymous"}},
                 {"name": "apicast", "configuration": {}}]},
     "authentication": {"public_paths": ["/health"]}}
  ]
}"#;

/// The parsed [`CONFIG`], once per process.
pub fn config() -> &'static Config {
    static CONFIG_CELL: OnceLock<Config> = OnceLock::new();
    CONFIG_CELL.get_or_init(|| match Config::parse(CONFIG.as_bytes()) {
        Ok(parsed) => parsed.config,
        Err(e) => panic!("fuzz configuration refused: {e}"),
    })
}

/// Hosts of [`CONFIG`], and methods, header names and path starts worth picking.
pub const HOSTS: &[&str] = &[
    "api.example.com",
    "API.Example.COM:8080",
    "apps.example.com",
    "basic.example.com",
    "local.example.com",
    "mixed.example.com",
    "chain.example.com",
    "localhost",
    "[::1]:10000",
];
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
pub const HEADER_NAMES: &[&str] = &[
    "user_key",
    "user-key",
    "x-app-id",
    "x_app_key",
    "x-app-key",
    "app_id",
    "app_key",
    "authorization",
    "apikey",
    "x-api-key",
    "x-admin-secret",
    "x-3scale-debug",
    "content-type",
    "x-forwarded-proto",
    "x-route",
    "x-forwarded-host",
    "forwarded",
    "x-3scale-service-id",
];
pub const PATHS: &[&str] = &[
    "/users/",
    "/users?kind=a&admin=yes&user_key=",
    "/search?lang=en&q=",
    "/apps/",
    "/models/",
    "/admin/",
    "/files/",
    "/a/b?",
    "/v1/items/",
    "/health",
    "/",
];

/// Request headers: looked up case-insensitively, last one wins as Envoy joins none.
#[derive(Debug, Default)]
pub struct Headers {
    pub pairs: Vec<(String, String)>,
    pub tls: bool,
}

impl HeaderSource for Headers {
    fn header(&self, name: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    fn is_tls(&self) -> bool {
        self.tls
    }
}

/// A string picked from a list, or given by the fuzzer.
#[derive(Debug, Clone, Arbitrary)]
pub enum Pick {
    Known(u8),
    Other(String),
}

impl Pick {
    pub fn get<'a>(&'a self, list: &[&'a str]) -> &'a str {
        match self {
            Pick::Known(i) => list
                .get(usize::from(*i) % list.len())
                .copied()
                .unwrap_or(""),
            Pick::Other(s) => s,
        }
    }
}

/// The HS256 secret of service 4's JWKS (`k` above, decoded).
pub const HS256_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
/// Service 4's signed-URL secret.
pub const SIGNED_URL_SECRET: &[u8] = b"a long random secret for signed urls";

/// A compact JWS over arbitrary header and payload bytes, validly signed with
/// [`HS256_SECRET`], so that claims checking is reached.
pub fn hs256_token(header: &[u8], payload: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let input = format!("{}.{}", encode(header), encode(payload));
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(HS256_SECRET) else {
        return input;
    };
    mac.update(input.as_bytes());
    format!("{input}.{}", encode(&mac.finalize().into_bytes()))
}

/// A JSON number (or not) for a NumericDate claim.
#[derive(Debug, Arbitrary)]
pub enum Num {
    /// Seconds from `now`.
    Near(i32),
    Int(i64),
    Unsigned(u64),
    Float(f64),
    Text(String),
}

impl Num {
    pub fn value(&self, now: u64) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Num::Near(d) => Value::from(now.saturating_add_signed(i64::from(*d))),
            Num::Int(v) => Value::from(*v),
            Num::Unsigned(v) => Value::from(*v),
            Num::Float(v) => Value::from(*v),
            Num::Text(s) => Value::from(s.as_str()),
        }
    }
}

/// JWT claims close to service 4's rules, or raw payload bytes.
#[derive(Debug, Arbitrary)]
pub enum Payload {
    Claims {
        exp: Option<Num>,
        nbf: Option<Num>,
        issuer: Option<Pick>,
        audience: Option<Vec<Pick>>,
        azp: Option<String>,
        sub: Option<String>,
        roles: Option<Vec<String>>,
    },
    Raw(Vec<u8>),
}

impl Payload {
    pub fn bytes(&self, now: u64) -> Vec<u8> {
        use serde_json::{json, Map, Value};
        let Payload::Claims {
            exp,
            nbf,
            issuer,
            audience,
            azp,
            sub,
            roles,
        } = self
        else {
            let Payload::Raw(raw) = self else {
                return Vec::new();
            };
            return raw.clone();
        };
        let mut m = Map::new();
        if let Some(v) = exp {
            m.insert("exp".into(), v.value(now));
        }
        if let Some(v) = nbf {
            m.insert("nbf".into(), v.value(now));
        }
        if let Some(v) = issuer {
            m.insert("iss".into(), v.get(&["https://idp.example.com"]).into());
        }
        if let Some(v) = audience {
            let aud: Vec<&str> = v.iter().map(|a| a.get(&["orders"])).collect();
            m.insert("aud".into(), json!(aud));
        }
        if let Some(v) = azp {
            m.insert("azp".into(), v.as_str().into());
        }
        if let Some(v) = sub {
            m.insert("sub".into(), v.as_str().into());
        }
        if let Some(v) = roles {
            m.insert("realm_access".into(), json!({ "roles": v }));
        }
        Value::Object(m).to_string().into_bytes()
    }
}

/// A JOSE header: the one service 4's key fits, or raw bytes.
#[derive(Debug, Arbitrary)]
pub enum JoseHeader {
    Fitting,
    NoKid,
    Raw(Vec<u8>),
}

impl JoseHeader {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            JoseHeader::Fitting => br#"{"alg":"HS256","kid":"h1","typ":"JWT"}"#.to_vec(),
            JoseHeader::NoKid => br#"{"alg":"HS256"}"#.to_vec(),
            JoseHeader::Raw(raw) => raw.clone(),
        }
    }
}

/// Unpadded base64url (RFC 4648 §5), as JWS uses.
pub fn encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk.first(), chunk.get(1), chunk.get(2)].map(|b| u32::from(*b.unwrap_or(&0)));
        let n = (b[0] << 16) | (b[1] << 8) | b[2];
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}
