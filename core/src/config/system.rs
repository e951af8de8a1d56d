//! Loading services from 3scale System (the Admin Portal API): the filter's `system` block,
//! and the wire, defined once for the filter and the CLI (`tollgate pull`): request paths,
//! the `Authorization` header, and the answers read into [`FetchedService`]s with per-entry
//! errors that name their JSON path. See `shared/reference/3scale-configuration-loading.md`.

use super::json::{error, ConfigError, Obj, Result};
use crate::base64::{self, Alphabet};
use serde_json::Value;
use std::fmt;

/// Entries per page of the account list; APIcast asks for the next page while a page holds
/// exactly this many (and porta's maximum is the same).
pub const PER_PAGE: usize = 500;

const DEFAULT_REFRESH_S: u64 = 300;
const MAX_REFRESH_S: u64 = 86_400;
const DEFAULT_TIMEOUT_MS: u64 = 5_000;
const MAX_TIMEOUT_MS: u64 = 60_000;
/// An answer is read into the fetching worker's memory and parsed there, then published to
/// every worker: larger ones are refused unread (the fetch fails, the configuration stays).
/// 64 MiB holds a full page of 500 services averaging 128 KB of JSON each.
pub const DEFAULT_MAX_ANSWER_BYTES: u64 = 64 << 20;
/// Envoy gives a Wasm VM at most 1 GiB; parsing needs several times the answer's size.
const MAX_MAX_ANSWER_BYTES: u64 = 256 << 20;

/// The deployment environment, sent in the path as written (porta maps `staging` to
/// `sandbox` and answers `"environment": "sandbox"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Production,
    Staging,
    Sandbox,
}

impl Environment {
    pub fn from_name(name: &str) -> Option<Environment> {
        match name {
            "production" => Some(Environment::Production),
            "staging" => Some(Environment::Staging),
            "sandbox" => Some(Environment::Sandbox),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Staging => "staging",
            Environment::Sandbox => "sandbox",
        }
    }

    /// The `environment` porta answers for this one: it stores only `production` and
    /// `sandbox`, and maps `staging` to `sandbox`.
    pub fn answered(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Staging | Environment::Sandbox => "sandbox",
        }
    }
}

/// The `system` block. `Debug` never shows the access token.
#[derive(Clone, PartialEq, Eq)]
pub struct SystemConfig {
    /// Envoy cluster of the Admin Portal.
    pub cluster: String,
    /// `:authority` of the requests; defaults to the cluster name.
    pub authority: String,
    pub access_token: String,
    pub environment: Environment,
    pub refresh_s: u64,
    pub timeout_ms: u64,
    /// APICAST_SERVICES_LIST: the service ids to load, in order; `None` loads every service.
    pub services: Option<Vec<String>>,
    /// APICAST_SERVICE_${ID}_CONFIGURATION_VERSION: (service id, pinned version), in order.
    pub versions: Vec<(String, u64)>,
    /// OIDC issuer host (lower-cased) → Envoy cluster that reaches it.
    pub issuer_clusters: Vec<(String, String)>,
    /// Answers larger than this are refused unread.
    pub max_answer_bytes: u64,
}

impl fmt::Debug for SystemConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemConfig")
            .field("cluster", &self.cluster)
            .field("authority", &self.authority)
            .field("access_token", &"<redacted>")
            .field("environment", &self.environment)
            .field("refresh_s", &self.refresh_s)
            .field("timeout_ms", &self.timeout_ms)
            .field("services", &self.services)
            .field("versions", &self.versions)
            .field("issuer_clusters", &self.issuer_clusters)
            .field("max_answer_bytes", &self.max_answer_bytes)
            .finish()
    }
}

/// Which requests make one fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Every service of the account: [`account_page_path`] pages 1, 2, … while a page holds
    /// [`PER_PAGE`] entries; then each pinned service at its version
    /// ([`service_config_path`]), replacing the latest that the pages returned.
    Account { pinned: Vec<(String, u64)> },
    /// Only these services, one [`service_config_path`] request each (`None`: latest).
    Services(Vec<(String, Option<u64>)>),
}

impl SystemConfig {
    /// Reads `root.system`, if present.
    pub(super) fn parse_in(root: &Obj) -> Result<Option<SystemConfig>> {
        root.obj("system")?
            .map(|o| SystemConfig::parse(&o))
            .transpose()
    }

    /// Parses a `system` object (its path is `obj.path`). Unknown fields are refused.
    pub fn parse(obj: &Obj) -> Result<SystemConfig> {
        obj.deny_unknown(&[
            "cluster",
            "authority",
            "access_token",
            "environment",
            "refresh_s",
            "timeout_ms",
            "services",
            "versions",
            "issuer_clusters",
            "max_answer_bytes",
        ])?;
        let required = |key: &str| -> Result<String> {
            match obj.non_empty_string(key)? {
                Some(s) => Ok(s.to_string()),
                None => Err(error(&obj.child_path(key), "missing required field")),
            }
        };
        let cluster = required("cluster")?;
        let access_token = required("access_token")?;
        let authority = obj
            .non_empty_string("authority")?
            .map_or_else(|| cluster.clone(), str::to_string);
        let environment = match obj.string("environment")? {
            None => Environment::Production,
            Some(name) => Environment::from_name(name).ok_or_else(|| {
                error(
                    &obj.child_path("environment"),
                    "expected production, staging or sandbox",
                )
            })?,
        };
        let refresh_s = bounded(obj, "refresh_s", DEFAULT_REFRESH_S, MAX_REFRESH_S)?;
        let timeout_ms = bounded(obj, "timeout_ms", DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS)?;
        let max_answer_bytes = bounded(
            obj,
            "max_answer_bytes",
            DEFAULT_MAX_ANSWER_BYTES,
            MAX_MAX_ANSWER_BYTES,
        )?;
        let services = obj.array("services", service_id)?;
        if let Some(list) = &services {
            if list.is_empty() {
                return Err(error(
                    &obj.child_path("services"),
                    "must not be empty (leave it out to load every service)",
                ));
            }
            for (i, id) in list.iter().enumerate() {
                if list.get(..i).is_some_and(|before| before.contains(id)) {
                    let path = format!("{}[{i}]", obj.child_path("services"));
                    return Err(error(&path, format!("service {id} is listed twice")));
                }
            }
        }
        let mut versions = Vec::new();
        for (path, key, value) in obj.entries("versions")?.unwrap_or_default() {
            let id = service_id(&path, &Value::String(key.to_string()))?;
            if services.as_ref().is_some_and(|list| !list.contains(&id)) {
                return Err(error(&path, "this service is not in system.services"));
            }
            match value.as_u64() {
                Some(v @ 1..) => versions.push((id, v)),
                _ => return Err(error(&path, "expected a version number (1 or more)")),
            }
        }
        let mut issuer_clusters = Vec::new();
        for (path, host, value) in obj.entries("issuer_clusters")?.unwrap_or_default() {
            match value.as_str() {
                Some(cluster) if !cluster.is_empty() && !host.is_empty() => {
                    issuer_clusters.push((host.to_ascii_lowercase(), cluster.to_string()))
                }
                _ => return Err(error(&path, "expected an issuer host and a cluster name")),
            }
        }
        Ok(SystemConfig {
            cluster,
            authority,
            access_token,
            environment,
            refresh_s,
            timeout_ms,
            services,
            versions,
            issuer_clusters,
            max_answer_bytes,
        })
    }

    /// The `Authorization` header value of every request.
    pub fn authorization(&self) -> String {
        basic_authorization(&self.access_token)
    }

    /// The requests of one fetch: per service with `services`, else the account list (plus
    /// the pinned services, when `versions` is given without `services`).
    pub fn plan(&self) -> Plan {
        let pinned = |id: &str| {
            self.versions
                .iter()
                .find(|(pinned, _)| pinned == id)
                .map(|&(_, v)| v)
        };
        match &self.services {
            Some(ids) => Plan::Services(ids.iter().map(|id| (id.clone(), pinned(id))).collect()),
            None => Plan::Account {
                pinned: self.versions.clone(),
            },
        }
    }

    /// The cluster for an OIDC issuer's host (case-insensitive), if one is mapped.
    pub fn issuer_cluster(&self, host: &str) -> Option<&str> {
        self.issuer_clusters
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(host))
            .map(|(_, c)| c.as_str())
    }
}

fn bounded(obj: &Obj, key: &str, default: u64, max: u64) -> Result<u64> {
    match obj.uint(key)? {
        None => Ok(default),
        Some(n @ 1..) if n <= max => Ok(n),
        Some(_) => Err(error(
            &obj.child_path(key),
            format!("must be between 1 and {max}"),
        )),
    }
}

/// A service id: an integer, or a string of digits (it goes into a URL path).
fn service_id(path: &str, value: &Value) -> Result<String> {
    let id = match value {
        Value::Number(n) if n.is_u64() => n.to_string(),
        Value::String(s) => s.clone(),
        _ => {
            return Err(error(
                path,
                "expected a service id (an integer or a string)",
            ))
        }
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error(path, "a service id is made of digits"));
    }
    // As porta reads it (`"0042"` is service 42): answers carry the id without the zeros.
    match id.trim_start_matches('0') {
        "" => Ok("0".to_string()),
        digits => Ok(digits.to_string()),
    }
}

/// `Basic base64("TOKEN:")`, as APIcast sends the token of `https://TOKEN@portal`.
pub fn basic_authorization(token: &str) -> String {
    let mut userinfo = Vec::with_capacity(token.len() + 1);
    userinfo.extend_from_slice(token.as_bytes());
    userinfo.push(b':');
    format!("Basic {}", base64::encode(&userinfo, Alphabet::Standard))
}

/// Page `page` (from 1) of the latest configuration of every service.
pub fn account_page_path(environment: Environment, page: u32) -> String {
    format!(
        "/admin/api/account/proxy_configs/{}.json?version=latest&page={page}&per_page={PER_PAGE}",
        environment.as_str()
    )
}

/// One service's configuration: `version`, or the latest with `None`.
pub fn service_config_path(id: &str, environment: Environment, version: Option<u64>) -> String {
    let version = version.map_or_else(|| "latest".to_string(), |v| v.to_string());
    format!(
        "/admin/api/services/{id}/proxy/configs/{}/{version}.json",
        environment.as_str()
    )
}

/// Every configuration version of one service in one environment (not paginated).
pub fn service_index_path(id: &str, environment: Environment) -> String {
    format!(
        "/admin/api/services/{id}/proxy/configs/{}.json",
        environment.as_str()
    )
}

/// One `proxy_config` of an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedService {
    /// The service id: `content.id`, else `content.proxy.service_id`; `None` without either
    /// (such a service sends no `service_id`).
    pub id: Option<String>,
    pub version: u64,
    /// As System answered it (`production` or `sandbox`, never `staging`).
    pub environment: String,
    /// The service object, to compile as a static one.
    pub content: Value,
    /// JSON path of `content` in the answer, for messages about it
    /// (`proxy_configs[3].proxy_config.content`).
    pub path: String,
}

/// What one answer holds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fetched {
    pub services: Vec<FetchedService>,
    /// Entries that could not be read (each skipped), naming their JSON path.
    pub errors: Vec<ConfigError>,
    /// Each unreadable entry (of a list, or the single one): its service keeps its live
    /// version, in the entry's place, or, without one, holds the hosts the entry lists.
    pub unread: Vec<Unread>,
    /// The page held exactly [`PER_PAGE`] entries: ask for the next one.
    pub more: bool,
}

/// An entry of an answer that could not be read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unread {
    /// How many of the answer's readable entries came before it.
    pub before: usize,
    /// Its service id, as a JSON reader (APIcast's too) reads it: the last of two; empty
    /// when that cannot be read either.
    pub id: String,
    /// Its content (when an object) with [`UNREADABLE`](super::UNREADABLE) set to why: a
    /// placeholder no worker compiles, which holds the hosts it lists.
    pub placeholder: Option<FetchedService>,
}

/// What a request asks for, and so what its answer must be (audit 2026-12-06: the loader took
/// an answer of either shape, and entries of any environment, for any request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// A page of the account list (or a service's index): `{"proxy_configs": […]}`.
    List(Environment),
    /// One service's configuration: `{"proxy_config": {…}}`.
    Single(Environment),
}

/// Reads an answer of either shape, of any environment: a page or index
/// (`{"proxy_configs": [{"proxy_config": {…}}, …]}`) or a single `{"proxy_config": {…}}`, as a
/// pulled file holds. Invalid JSON, or neither key, fails the whole answer. The loader reads
/// with [`parse_answer_for`].
pub fn parse_answer(body: &[u8]) -> Result<Fetched> {
    read_answer(body, None)
}

/// Reads the answer to a request: an answer of the other shape fails whole (a page without
/// `proxy_configs` is no page, whatever else it holds), and an entry of another environment
/// than the one asked for is unreadable (skipped, its service keeps its live version).
pub fn parse_answer_for(body: &[u8], expected: Expected) -> Result<Fetched> {
    read_answer(body, Some(expected))
}

fn read_answer(body: &[u8], expected: Option<Expected>) -> Result<Fetched> {
    let mut value: Value =
        serde_json::from_slice(body).map_err(|e| error("", format!("invalid JSON: {e}")))?;
    let Value::Object(root) = &mut value else {
        return Err(error("", "expected an object"));
    };
    // A key given twice: the service holding it is skipped (a JSON reader keeps one of the two
    // silently), and one outside every service fails the answer.
    let twice = super::duplicates::duplicates(body);
    let twice_in = |entry: &str| {
        (twice.iter())
            .find(|path| {
                path.strip_prefix(entry)
                    .is_some_and(|rest| rest.starts_with('.'))
            })
            .map(|path| {
                error(
                    path,
                    "given twice in one object (a JSON reader keeps one silently)",
                )
            })
    };
    if let Some(path) = twice
        .iter()
        .find(|p| !p.starts_with("proxy_configs[") && !p.starts_with("proxy_config."))
    {
        return Err(error(path, "given twice in one object"));
    }
    let (list_ok, single_ok, environment) = match expected {
        None => (true, true, None),
        Some(Expected::List(env)) => (true, false, Some(env.answered())),
        Some(Expected::Single(env)) => (false, true, Some(env.answered())),
    };
    let mut fetched = Fetched::default();
    let list = root
        .get_mut("proxy_configs")
        .filter(|v| list_ok && !v.is_null());
    if let Some(list) = list {
        let Value::Array(items) = list else {
            return Err(error("proxy_configs", "expected an array"));
        };
        fetched.more = items.len() == PER_PAGE;
        for (i, item) in items.iter_mut().enumerate() {
            let path = format!("proxy_configs[{i}].proxy_config");
            let is_object = item.is_object();
            let inner = item.get_mut("proxy_config").filter(|v| !v.is_null());
            let entry = match (inner, twice_in(&format!("proxy_configs[{i}]"))) {
                (Some(_), Some(twice)) => Err(twice),
                (Some(inner), None) => read_entry(&path, inner, environment),
                (None, _) if is_object => Err(error(&path, "missing required field")),
                (None, _) => Err(error(&format!("proxy_configs[{i}]"), "expected an object")),
            };
            match entry {
                Ok(service) => fetched.services.push(service),
                Err(e) => fetched.not_read(item.get("proxy_config"), e),
            }
        }
    } else if let Some(single) = root
        .get_mut("proxy_config")
        .filter(|v| single_ok && !v.is_null())
    {
        let read = |single: &mut Value| read_entry("proxy_config", single, environment);
        match twice_in("proxy_config").map_or_else(|| read(single), Err) {
            Ok(service) => fetched.services.push(service),
            Err(e) => fetched.not_read(root.get("proxy_config"), e),
        }
    } else if single_ok && !list_ok {
        return Err(error("proxy_config", "missing required field"));
    } else {
        return Err(error("proxy_configs", "missing required field"));
    }
    Ok(fetched)
}

impl Fetched {
    /// `entry` (a `proxy_config`) could not be read: what can be read of it is kept.
    fn not_read(&mut self, entry: Option<&Value>, e: ConfigError) {
        let content = entry.and_then(|e| e.get("content"));
        let id = content.and_then(|c| service_id_of("", c).ok()?);
        let placeholder = content.filter(|c| c.is_object()).map(|c| {
            let mut content = c.clone();
            if let Some(fields) = content.as_object_mut() {
                fields.insert(super::UNREADABLE.into(), Value::String(e.message.clone()));
            }
            FetchedService {
                id: id.clone(),
                version: 0,
                environment: String::new(),
                content,
                path: e.path.clone(),
            }
        });
        self.unread.push(Unread {
            before: self.services.len(),
            id: id.unwrap_or_default(),
            placeholder,
        });
        self.errors.push(e);
    }
}

/// Reads one `proxy_config` and takes its `content` out of the answer (no copy). With
/// `asked` (the environment System answers for the one asked for), an entry of another
/// environment is an error. `environment` is required, as porta always sends it.
fn read_entry(path: &str, value: &mut Value, asked: Option<&str>) -> Result<FetchedService> {
    let content_path = format!("{path}.content");
    let (version, environment, id) = {
        let entry = Obj::new(path, value)?;
        let version = entry
            .uint("version")?
            .ok_or_else(|| error(&entry.child_path("version"), "missing required field"))?;
        let environment = entry.required_string("environment")?.to_string();
        // Audit 2026-12-06: a sandbox entry in a production answer was served.
        if let Some(asked) = asked.filter(|asked| *asked != environment) {
            let message = format!("{environment:?}, not the environment asked for ({asked:?})");
            return Err(error(&entry.child_path("environment"), message));
        }
        let content = entry
            .get("content")
            .ok_or_else(|| error(&content_path, "missing required field"))?;
        (version, environment, service_id_of(&content_path, content)?)
    };
    let content = value
        .get_mut("content")
        .map(Value::take)
        .unwrap_or_default();
    Ok(FetchedService {
        id,
        version,
        environment,
        content,
        path: content_path,
    })
}

/// A service's id: `content.id`, else `content.proxy.service_id`.
fn service_id_of(path: &str, content: &Value) -> Result<Option<String>> {
    let service = Obj::new(path, content)?;
    match service.number_or_string("id")? {
        Some(id) => Ok(Some(id)),
        None => match service.obj("proxy")? {
            // Sent in `x-3scale-service-id` as `content.id` is: checked alike (found by a
            // review, 2026-12-06).
            Some(proxy) => match proxy.number_or_string("service_id")? {
                Some(id) => match super::header_values::value_problem(&id) {
                    Some(why) => Err(error(&proxy.child_path("service_id"), why)),
                    None => Ok(Some(id)),
                },
                None => Ok(None),
            },
            None => Ok(None),
        },
    }
}

#[cfg(test)]
mod tests;
