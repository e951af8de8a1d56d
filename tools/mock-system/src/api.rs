//! The System API as porta answers it (reference §1): routes, the token check, environment
//! names, paging and status codes. Pure: a request in, a [`Response`] out.

use serde::Serialize;
use serde_json::{json, Value};
use tollgate_core::base64::{self, Alphabet};
use tollgate_core::config::system::PER_PAGE;

use crate::model::{content_id, ProxyConfig, Store, Stored, VersionFilter};

pub const JSON: &str = "application/json; charset=utf-8";

/// An answer ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    pub fn json(status: u16, body: &Value) -> Response {
        Response {
            status,
            content_type: JSON,
            body: body.to_string(),
        }
    }

    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.to_string(),
        }
    }

    pub fn not_found() -> Response {
        Response::json(404, &json!({"status": "Not found"}))
    }

    pub fn access_denied() -> Response {
        Response::json(403, &json!({"error": "Access denied"}))
    }
}

/// How a request carried its token (recorded, so tests can assert the client's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Credential {
    /// `access_token` query parameter.
    Query,
    /// HTTP Basic, the token as user or password.
    Basic,
    None,
}

/// The token a request presents, as porta reads it: `access_token`, else HTTP Basic's first
/// non-blank of user and password.
pub fn credential(
    query: &[(String, String)],
    authorization: Option<&str>,
) -> (Credential, Option<String>) {
    if let Some((_, token)) = query.iter().find(|(k, _)| k == "access_token") {
        return (Credential::Query, Some(token.clone()));
    }
    let basic = authorization.and_then(|value| {
        let (scheme, encoded) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::decode(encoded.trim(), Alphabet::Standard)?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':').unwrap_or((text.as_str(), ""));
        let token = [user, password].into_iter().find(|s| !s.trim().is_empty());
        token.map(str::to_string)
    });
    match basic {
        Some(token) => (Credential::Basic, Some(token)),
        None => (Credential::None, None),
    }
}

/// A request as the API sees it.
pub struct ApiRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub token: Option<&'a str>,
    /// Serve page 1 whatever `page` asks (a misbehaving server, reference §6).
    pub ignore_page: bool,
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The route a path names.
enum Route<'a> {
    AccountList {
        env: &'a str,
    },
    ServiceConfig {
        id: &'a str,
        env: &'a str,
        version: &'a str,
    },
    ServiceIndex {
        id: &'a str,
        env: &'a str,
    },
    Promote {
        id: &'a str,
        env: &'a str,
        version: &'a str,
    },
    Services,
}

/// Matches a path; `Err(406)` for a known route in another format than `.json`.
fn route<'a>(method: &str, path: &'a str) -> Option<Result<Route<'a>, u16>> {
    let segments: Vec<&str> = path.strip_prefix("/admin/api/")?.split('/').collect();
    let (last, rest) = segments.split_last()?;
    let (stem, format) = last.rsplit_once('.')?;
    let get = method == "GET" || method == "HEAD";
    let found = match (rest, stem) {
        (["account", "proxy_configs"], env) if get => Route::AccountList { env },
        ([], "services") if get => Route::Services,
        (["services", id, "proxy", "configs", env], version) if get => {
            Route::ServiceConfig { id, env, version }
        }
        (["services", id, "proxy", "configs"], env) if get => Route::ServiceIndex { id, env },
        (["services", id, "proxy", "configs", env, version], "promote") if method == "POST" => {
            Route::Promote { id, env, version }
        }
        _ => return None,
    };
    Some(if format == "json" {
        Ok(found)
    } else {
        Err(406)
    })
}

/// Answers a System API request; `None` for a path that is not the API's (404 by the caller).
pub fn handle(store: &mut Store, token: &str, req: &ApiRequest) -> Response {
    let route = match route(req.method, req.path) {
        None => return Response::not_found(),
        Some(Err(status)) => return Response::json(status, &json!({"status": "Not acceptable"})),
        Some(Ok(route)) => route,
    };
    if req.token != Some(token) {
        return Response::access_denied();
    }
    match route {
        Route::AccountList { env } => match Stored::from_path(env) {
            None => invalid_environment(422),
            Some(env) => account_list(store, env, req),
        },
        Route::Services => services(store, req),
        Route::ServiceConfig { id, env, version } => {
            with_service(store, id, env, |store, id, env| {
                let found = match version {
                    "latest" => store.latest(id, env),
                    v => v.parse().ok().and_then(|v| store.version(id, env, v)),
                };
                found.map_or_else(Response::not_found, |c| Response::json(200, &c.envelope()))
            })
        }
        Route::ServiceIndex { id, env } => with_service(store, id, env, |store, id, env| {
            let rows: Vec<Value> = store.index(id, env).iter().map(|c| c.envelope()).collect();
            Response::json(200, &json!({ "proxy_configs": rows }))
        }),
        Route::Promote { id, env, version } => with_service(store, id, env, |store, id, env| {
            promote(store, id, env, version, param(req.query, "to"))
        }),
    }
}

fn invalid_environment(status: u16) -> Response {
    Response::json(status, &json!({"error": "invalid environment"}))
}

/// Per-service routes: an unknown service is 404, a bad environment 400.
fn with_service(
    store: &mut Store,
    id: &str,
    env: &str,
    answer: impl FnOnce(&mut Store, u64, Stored) -> Response,
) -> Response {
    let Some(id) = id.parse().ok().filter(|&id| store.exists(id)) else {
        return Response::not_found();
    };
    match Stored::from_path(env) {
        None => invalid_environment(400),
        Some(env) => answer(store, id, env),
    }
}

fn promote(store: &mut Store, id: u64, from: Stored, version: &str, to: Option<&str>) -> Response {
    let Some(to) = to else {
        return Response::text(400, "Required parameter missing: to");
    };
    // `to` is validated against the stored names: `staging` fails too.
    let to = match to {
        "production" => Stored::Production,
        "sandbox" => Stored::Sandbox,
        _ => {
            return Response::json(
                422,
                &json!({"errors": {"environment": ["is not included in the list"]}}),
            )
        }
    };
    let Some(version) = version.parse().ok() else {
        return Response::not_found();
    };
    match store.promote(id, from, version, to) {
        None => Response::not_found(),
        Some(Err(message)) => Response::json(422, &json!({"errors": {"version": [message]}})),
        Some(Ok(row)) => Response::json(201, &row.envelope()),
    }
}

/// porta's pagination: `page` below 1 or not an integer is 1; `per_page` outside 1..=500 is
/// 500 (not clamped, not an error).
pub fn paging(query: &[(String, String)], ignore_page: bool) -> (usize, usize) {
    let page = param(query, "page")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|&p| p >= 1 && !ignore_page)
        .unwrap_or(1);
    let per_page = param(query, "per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| (1..=PER_PAGE).contains(p))
        .unwrap_or(PER_PAGE);
    (page, per_page)
}

/// One page of `items`, and porta's `metadata` when the collection is paginated.
fn page_of<T: Clone>(
    items: &[T],
    query: &[(String, String)],
    ignore_page: bool,
) -> (Vec<T>, Option<Value>) {
    let (page, per_page) = paging(query, ignore_page);
    let start = (page - 1).saturating_mul(per_page);
    let slice = items.iter().skip(start).take(per_page).cloned().collect();
    let metadata = (per_page < items.len()).then(|| {
        json!({
            "per_page": per_page,
            "total_entries": items.len(),
            "total_pages": items.len().div_ceil(per_page),
            "current_page": page,
        })
    });
    (slice, metadata)
}

fn account_list(store: &Store, env: Stored, req: &ApiRequest) -> Response {
    let versions = match param(req.query, "version") {
        None => VersionFilter::All,
        Some("latest") => VersionFilter::Latest,
        Some(v) => match v.parse() {
            Ok(v) => VersionFilter::Exactly(v),
            // porta compares the column with the text: nothing matches.
            Err(_) => VersionFilter::Exactly(0),
        },
    };
    let rows: Vec<&ProxyConfig> = store.account_list(env, versions, param(req.query, "host"));
    let (page, metadata) = page_of(&rows, req.query, req.ignore_page);
    let list: Vec<Value> = page.iter().map(|c| c.envelope()).collect();
    let mut body = json!({ "proxy_configs": list });
    if let Some(metadata) = metadata {
        body["metadata"] = metadata;
    }
    Response::json(200, &body)
}

/// `GET /admin/api/services.json`: the services, as the (short) service representer.
fn services(store: &Store, req: &ApiRequest) -> Response {
    let ids = store.service_ids();
    let (page, metadata) = page_of(&ids, req.query, req.ignore_page);
    let list: Vec<Value> = page
        .iter()
        .map(|&id| {
            let content = store.any_latest(id).map(|c| &c.content);
            let field = |name: &str| content.map_or(Value::Null, |c| c[name].clone());
            json!({"service": {
                "id": content.and_then(|c| content_id(c).ok()).unwrap_or(id),
                "name": field("name"),
                "system_name": field("system_name"),
                "state": field("state"),
                "backend_version": content.map_or(Value::Null, |c| c["proxy"]["authentication_method"].clone()),
            }})
        })
        .collect();
    let mut body = json!({ "services": list });
    if let Some(metadata) = metadata {
        body["metadata"] = metadata;
    }
    Response::json(200, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_token_is_read_as_porta_reads_it() {
        let basic = tollgate_core::config::system::basic_authorization("TOK");
        assert_eq!(
            credential(&[], Some(&basic)),
            (Credential::Basic, Some("TOK".into()))
        );
        // ":TOKEN" works too: the first non-blank of user and password.
        let swapped = format!("Basic {}", base64::encode(b":TOK", Alphabet::Standard));
        assert_eq!(credential(&[], Some(&swapped)).1.as_deref(), Some("TOK"));
        let q = pairs(&[("access_token", "Q")]);
        assert_eq!(
            credential(&q, Some(&basic)),
            (Credential::Query, Some("Q".into()))
        );
        assert_eq!(
            credential(&[], Some("Bearer TOK")),
            (Credential::None, None)
        );
        assert_eq!(credential(&[], Some("Basic !!!")), (Credential::None, None));
        assert_eq!(credential(&[], None), (Credential::None, None));
    }

    #[test]
    fn paging_follows_porta() {
        assert_eq!(paging(&[], false), (1, 500));
        assert_eq!(
            paging(&pairs(&[("page", "3"), ("per_page", "20")]), false),
            (3, 20)
        );
        assert_eq!(
            paging(&pairs(&[("page", "0"), ("per_page", "501")]), false),
            (1, 500)
        );
        assert_eq!(
            paging(&pairs(&[("page", "x"), ("per_page", "0")]), false),
            (1, 500)
        );
        assert_eq!(paging(&pairs(&[("page", "3")]), true), (1, 500));
    }
}
