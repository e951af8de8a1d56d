//! `tollgate-mock-system`: a faithful mock of 3scale System's proxy configuration API (the
//! Admin Portal, "porta"), per `shared/reference/3scale-configuration-loading.md` §1, §2, §5
//! and §6. The filter's `system` block and `tollgate pull` are tested against it.
//!
//! ```no_run
//! use mock_system::{fixtures, MockSystem, Stored};
//! let system = MockSystem::start("secret-token").unwrap();
//! let content = fixtures::full(42, "api.example.com", vec![fixtures::rule("GET", "/", "hits", 1)]);
//! let published = system.publish(Stored::Production, content).unwrap(); // version 1
//! println!("{} serves service 42 v{}", system.url(), published.version);
//! ```
//!
//! # System API (token required: `Authorization: Basic base64("TOKEN:")`, or `access_token`)
//!
//! | request | answer |
//! |---|---|
//! | `GET /admin/api/account/proxy_configs/{env}.json?version=&host=&page=&per_page=` | `{"proxy_configs": [...]}`, ordered by row id, paginated (`metadata` when `per_page` < total); 422 for an unknown environment |
//! | `GET /admin/api/services/{id}/proxy/configs/{env}/{latest or N}.json` | `{"proxy_config": {...}}`; 404 `{"status":"Not found"}` for an unknown service or version; 400 for an unknown environment |
//! | `GET /admin/api/services/{id}/proxy/configs/{env}.json` | every version, oldest first, not paginated |
//! | `POST /admin/api/services/{id}/proxy/configs/{env}/{N}/promote.json?to=production` | 201, the copy (same number); 422 if already promoted |
//! | `GET /admin/api/services.json?page=&per_page=` | `{"services": [{"service": {"id": ...}}]}` |
//! | anything else (`/admin/api/nginx/spec.json` too) | 404 |
//!
//! `staging` is accepted as `sandbox` and answered as `"environment": "sandbox"`. A missing
//! or wrong token gets 403 `{"error":"Access denied"}`. Answers are
//! `application/json; charset=utf-8`.
//!
//! # OpenID Connect issuer (no token; see [`idp`])
//!
//! | request | answer |
//! |---|---|
//! | `GET /auth/realms/{realm}/.well-known/openid-configuration` | `{"issuer": "https://{Host}/auth/realms/{realm}", "jwks_uri": ...}`; 401 without the realm's Basic client credentials |
//! | `GET /auth/realms/{realm}/protocol/openid-connect/certs` | the realm's JWKS |
//!
//! Realms are set with [`MockSystem::set_realm`]. Issuer requests are recorded and can be
//! failed like the API's (`Faults::path`).
//!
//! # Control API (tests; not authenticated, not recorded, never failed or delayed)
//!
//! | request | effect |
//! |---|---|
//! | `POST /__control/publish[?environment=production\|sandbox\|staging\|both]` | body: a service content or an array of them (each with an integer `id`); each becomes a new version where it differs from the latest. Answers `{"published": [{"id","version","environment","created"}]}` |
//! | `DELETE /__control/services/{id}` | deletes the service and its history |
//! | `POST /__control/between_pages` | `{"after_page": 1, "publish": [contents], "delete": [ids]}`: deploys (production) and deletes once the account list's page `after_page` is answered, as a change between two page requests |
//! | `POST /__control/fail` | `{"mode": "normal\|status\|garbage\|empty\|truncated\|reset\|hang", "status": 500, "delay_ms": 0, "path": "/admin/api/...", "count": N, "ignore_page": false}`, all optional; replaces the previous settings (`{}` is normal) |
//! | `GET /__control/requests` / `DELETE /__control/requests` | the request log `{"requests": [{"method","path","query","authorization","user_agent","credential","status","at_ms"}]}` / clear it |
//! | `GET /__control/state` | `{service id: {"sandbox": [versions], "production": [versions]}}` |
//! | `POST /__control/reset` | forgets services, faults and requests |

// The fixtures are long `json!` literals.
#![recursion_limit = "256"]

pub mod api;
pub mod between_pages;
pub mod control;
pub mod fixtures;
pub mod idp;
pub mod model;
pub mod server;

pub use api::Credential;
pub use between_pages::BetweenPages;
pub use control::{Failure, Faults, SystemRequest};
pub use idp::Realm;
pub use model::{ProxyConfig, Published, Store, Stored};
pub use server::MockSystem;
