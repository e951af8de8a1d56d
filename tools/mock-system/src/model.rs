//! What the mock knows: services and their numbered configuration versions per environment,
//! kept as porta keeps them (reference §5.2). A deploy creates `max + 1` only when the
//! content changed; a promotion copies a version to another environment with the same
//! number; `latest` is the highest number.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

/// The two environments porta stores; `staging` in a path means `sandbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stored {
    Sandbox,
    Production,
}

impl Stored {
    /// The stored environment a path segment names, as porta maps it.
    pub fn from_path(name: &str) -> Option<Stored> {
        match name {
            "production" => Some(Stored::Production),
            "sandbox" | "staging" => Some(Stored::Sandbox),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stored::Sandbox => "sandbox",
            Stored::Production => "production",
        }
    }
}

/// One stored configuration version (porta's `proxy_configs` row).
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    /// Row id: new for every version and every environment copy.
    pub id: u64,
    pub service_id: u64,
    pub version: u64,
    pub environment: Stored,
    pub content: Value,
}

impl ProxyConfig {
    /// `{"proxy_config": {id, version, environment, content}}`, porta's four fields.
    pub fn envelope(&self) -> Value {
        json!({"proxy_config": {
            "id": self.id,
            "version": self.version,
            "environment": self.environment.as_str(),
            "content": self.content,
        }})
    }

    /// Exact membership in `content.proxy.hosts`, as porta's `host` filter.
    pub fn has_host(&self, host: &str) -> bool {
        self.content["proxy"]["hosts"]
            .as_array()
            .is_some_and(|hosts| hosts.iter().any(|h| h.as_str() == Some(host)))
    }
}

/// What a deploy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Published {
    pub id: u64,
    pub version: u64,
    pub environment: Stored,
    /// False when the content equals the latest version's (porta keeps that one).
    pub created: bool,
}

/// Which versions the account list returns (`version` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionFilter {
    All,
    Latest,
    Exactly(u64),
}

/// Every service's configuration history.
#[derive(Debug, Default)]
pub struct Store {
    /// Service id → its rows, in creation order.
    services: BTreeMap<u64, Vec<ProxyConfig>>,
    last_row_id: u64,
}

/// The service id of a content object: `id`, an integer or a string of digits.
pub fn content_id(content: &Value) -> Result<u64, String> {
    match &content["id"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| "the service content needs an integer `id`".to_string())
}

impl Store {
    /// Deploys `content` to `environment`: a new version if it differs from the latest.
    pub fn publish(&mut self, environment: Stored, content: Value) -> Result<Published, String> {
        if !content.is_object() {
            return Err("the service content must be a JSON object".to_string());
        }
        let id = content_id(&content)?;
        if let Some(latest) = self.latest(id, environment) {
            if latest.content == content {
                return Ok(Published {
                    id,
                    version: latest.version,
                    environment,
                    created: false,
                });
            }
        }
        let version = self.max_version(id, environment) + 1;
        self.insert(id, version, environment, content);
        Ok(Published {
            id,
            version,
            environment,
            created: true,
        })
    }

    /// Copies `version` of `from` to `to`, keeping its number. `None` when there is no such
    /// version; `Err` when `to` already has that number (porta's uniqueness validation).
    pub fn promote(
        &mut self,
        id: u64,
        from: Stored,
        version: u64,
        to: Stored,
    ) -> Option<Result<ProxyConfig, String>> {
        let content = self.version(id, from, version)?.content.clone();
        if self.version(id, to, version).is_some() {
            return Some(Err("has already been taken".to_string()));
        }
        Some(Ok(self.insert(id, version, to, content)))
    }

    fn insert(
        &mut self,
        id: u64,
        version: u64,
        environment: Stored,
        content: Value,
    ) -> ProxyConfig {
        self.last_row_id += 1;
        let row = ProxyConfig {
            id: self.last_row_id,
            service_id: id,
            version,
            environment,
            content,
        };
        self.services.entry(id).or_default().push(row.clone());
        row
    }

    fn max_version(&self, id: u64, environment: Stored) -> u64 {
        self.history(id, environment)
            .map(|c| c.version)
            .max()
            .unwrap_or(0)
    }

    /// Deletes a service and its history; false if unknown.
    pub fn delete(&mut self, id: u64) -> bool {
        self.services.remove(&id).is_some()
    }

    pub fn exists(&self, id: u64) -> bool {
        self.services.contains_key(&id)
    }

    pub fn service_ids(&self) -> Vec<u64> {
        self.services.keys().copied().collect()
    }

    fn history(&self, id: u64, environment: Stored) -> impl Iterator<Item = &ProxyConfig> {
        self.services
            .get(&id)
            .into_iter()
            .flatten()
            .filter(move |c| c.environment == environment)
    }

    pub fn latest(&self, id: u64, environment: Stored) -> Option<&ProxyConfig> {
        self.history(id, environment).max_by_key(|c| c.version)
    }

    pub fn version(&self, id: u64, environment: Stored, version: u64) -> Option<&ProxyConfig> {
        self.history(id, environment).find(|c| c.version == version)
    }

    /// Every version of one service in one environment, oldest first.
    pub fn index(&self, id: u64, environment: Stored) -> Vec<&ProxyConfig> {
        let mut rows: Vec<&ProxyConfig> = self.history(id, environment).collect();
        rows.sort_by_key(|c| c.version);
        rows
    }

    /// The account list before paging, ordered by row id as porta orders it. With `Latest`,
    /// the newest version is chosen first and the host filter applied after.
    pub fn account_list(
        &self,
        environment: Stored,
        versions: VersionFilter,
        host: Option<&str>,
    ) -> Vec<&ProxyConfig> {
        let mut rows: Vec<&ProxyConfig> = match versions {
            VersionFilter::Latest => self
                .services
                .keys()
                .filter_map(|&id| self.latest(id, environment))
                .collect(),
            VersionFilter::All => self
                .services
                .values()
                .flatten()
                .filter(|c| c.environment == environment)
                .collect(),
            VersionFilter::Exactly(v) => self
                .services
                .keys()
                .filter_map(|&id| self.version(id, environment, v))
                .collect(),
        };
        if let Some(host) = host {
            rows.retain(|c| c.has_host(host));
        }
        rows.sort_by_key(|c| c.id);
        rows
    }

    /// The latest content of a service in any environment (production first), for the
    /// services list.
    pub fn any_latest(&self, id: u64) -> Option<&ProxyConfig> {
        self.latest(id, Stored::Production)
            .or_else(|| self.latest(id, Stored::Sandbox))
    }

    /// `{service id: {environment: [versions]}}`, for `GET /__control/state`.
    pub fn summary(&self) -> Value {
        let mut out = serde_json::Map::new();
        for &id in self.services.keys() {
            let mut envs = serde_json::Map::new();
            for env in [Stored::Sandbox, Stored::Production] {
                let versions: Vec<u64> = self.index(id, env).iter().map(|c| c.version).collect();
                envs.insert(env.as_str().to_string(), json!(versions));
            }
            out.insert(id.to_string(), Value::Object(envs));
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(id: u64, marker: &str) -> Value {
        json!({"id": id, "name": marker, "proxy": {"hosts": [format!("{marker}.example.com")]}})
    }

    #[test]
    fn versions_grow_only_on_change_and_promotion_keeps_the_number() {
        let mut store = Store::default();
        let p = store.publish(Stored::Sandbox, content(7, "a")).unwrap();
        assert_eq!((p.version, p.created), (1, true));
        let p = store.publish(Stored::Sandbox, content(7, "a")).unwrap();
        assert_eq!((p.version, p.created), (1, false));
        let p = store.publish(Stored::Sandbox, content(7, "b")).unwrap();
        assert_eq!((p.version, p.created), (2, true));
        let promoted = store
            .promote(7, Stored::Sandbox, 2, Stored::Production)
            .unwrap()
            .unwrap();
        assert_eq!(promoted.version, 2);
        assert_eq!(
            store.latest(7, Stored::Production).unwrap().content["name"],
            "b"
        );
        assert!(store
            .promote(7, Stored::Sandbox, 2, Stored::Production)
            .unwrap()
            .is_err());
        assert!(store
            .promote(7, Stored::Sandbox, 9, Stored::Production)
            .is_none());
        // Production's next deploy continues from its own maximum.
        let p = store.publish(Stored::Production, content(7, "c")).unwrap();
        assert_eq!(p.version, 3);
        assert_eq!(store.index(7, Stored::Sandbox).len(), 2);
    }

    #[test]
    fn account_list_filters_latest_then_host() {
        let mut store = Store::default();
        store
            .publish(Stored::Production, content(1, "old"))
            .unwrap();
        store
            .publish(Stored::Production, content(1, "new"))
            .unwrap();
        store
            .publish(Stored::Production, content(2, "old"))
            .unwrap();
        let ids = |rows: Vec<&ProxyConfig>| -> Vec<(u64, u64)> {
            rows.iter().map(|c| (c.service_id, c.version)).collect()
        };
        let p = Stored::Production;
        assert_eq!(
            ids(store.account_list(p, VersionFilter::Latest, None)),
            [(1, 2), (2, 1)]
        );
        assert_eq!(
            ids(store.account_list(p, VersionFilter::All, None)),
            [(1, 1), (1, 2), (2, 1)]
        );
        assert_eq!(
            ids(store.account_list(p, VersionFilter::Exactly(1), None)),
            [(1, 1), (2, 1)]
        );
        // Service 1's latest dropped old.example.com: not returned by its old version.
        assert_eq!(
            ids(store.account_list(p, VersionFilter::Latest, Some("old.example.com"))),
            [(2, 1)]
        );
        assert!(store.delete(1));
        assert_eq!(
            ids(store.account_list(p, VersionFilter::Latest, None)),
            [(2, 1)]
        );
        assert!(!store.delete(1));
    }

    #[test]
    fn content_needs_an_integer_id() {
        let mut store = Store::default();
        assert!(store
            .publish(Stored::Production, json!({"name": "x"}))
            .is_err());
        assert!(store
            .publish(Stored::Production, json!({"id": "x1"}))
            .is_err());
        assert_eq!(
            store
                .publish(Stored::Production, json!({"id": "12"}))
                .unwrap()
                .id,
            12
        );
        assert_eq!(Stored::from_path("staging"), Some(Stored::Sandbox));
        assert_eq!(Stored::from_path("prod"), None);
    }
}
