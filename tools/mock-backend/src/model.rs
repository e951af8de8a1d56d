//! The backend's data model: services, metrics, applications and limits, with
//! a test-friendly builder and a serde (JSON state file) representation.

use serde::{Deserialize, Serialize};

use crate::counters::Counters;
use crate::handlers::report::ReportError;
use crate::periods::Period;

/// A metric (or method) of a service. `parent` names the parent metric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// A 3scale service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    /// Service tokens valid for this service (`service_token` + `service_id`).
    #[serde(default, alias = "service_tokens")]
    pub tokens: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_key: Option<String>,
    /// `"1"` (user_key), `"2"` (app_id/app_key, the default) or `"oauth"`.
    #[serde(default = "default_backend_version")]
    pub backend_version: String,
    /// `"active"` or anything else (e.g. `"suspended"`).
    #[serde(default = "default_state")]
    pub state: String,
    #[serde(default)]
    pub referrer_filters_required: bool,
    /// Metrics in id order (the first one has id 1).
    #[serde(default)]
    pub metrics: Vec<Metric>,
}

fn default_backend_version() -> String {
    "2".to_string()
}

fn default_state() -> String {
    "active".to_string()
}

impl Service {
    /// A new active service with `backend_version` "2" and no metrics.
    pub fn new(id: &str) -> Service {
        Service {
            id: id.to_string(),
            tokens: Vec::new(),
            provider_key: None,
            backend_version: default_backend_version(),
            state: default_state(),
            referrer_filters_required: false,
            metrics: Vec::new(),
        }
    }

    /// Adds a valid service token.
    pub fn token(mut self, token: &str) -> Service {
        self.tokens.push(token.to_string());
        self
    }

    pub fn provider_key(mut self, key: &str) -> Service {
        self.provider_key = Some(key.to_string());
        self
    }

    /// `"1"`, `"2"` or `"oauth"`.
    pub fn backend_version(mut self, version: &str) -> Service {
        self.backend_version = version.to_string();
        self
    }

    /// Adds a metric; `parent` must name an already or later declared metric.
    pub fn metric(mut self, name: &str, parent: Option<&str>) -> Service {
        self.metrics.push(Metric {
            name: name.to_string(),
            parent: parent.map(str::to_string),
        });
        self
    }

    pub fn state_suspended(mut self) -> Service {
        self.state = "suspended".to_string();
        self
    }

    pub fn referrer_filters_required(mut self, required: bool) -> Service {
        self.referrer_filters_required = required;
        self
    }

    pub fn is_active(&self) -> bool {
        self.state == "active"
    }

    /// Metric id (1-based declaration order).
    pub fn metric_id(&self, name: &str) -> Option<usize> {
        self.metrics
            .iter()
            .position(|m| m.name == name)
            .map(|i| i + 1)
    }

    pub fn has_metric(&self, name: &str) -> bool {
        self.metric_id(name).is_some()
    }

    /// Ancestors of `name`, nearest first (cycle-safe).
    pub fn ancestors(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut cur = name.to_string();
        while let Some(parent) = self
            .metrics
            .iter()
            .find(|m| m.name == cur)
            .and_then(|m| m.parent.clone())
        {
            if parent == name || out.contains(&parent) || !self.has_metric(&parent) {
                break;
            }
            out.push(parent.clone());
            cur = parent;
        }
        out
    }

    /// Direct children of `name`, in metric-id order.
    pub fn children(&self, name: &str) -> Vec<String> {
        self.metrics
            .iter()
            .filter(|m| m.parent.as_deref() == Some(name))
            .map(|m| m.name.clone())
            .collect()
    }
}

/// A usage limit of an application's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub metric: String,
    pub period: Period,
    pub value: u64,
}

/// An application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub service_id: String,
    /// Application id. In JSON it may be omitted when `user_key` is set; it then
    /// defaults to the user key.
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_key: Option<String>,
    #[serde(default)]
    pub app_keys: Vec<String>,
    /// `"active"` or anything else (e.g. `"suspended"`).
    #[serde(default = "default_state")]
    pub state: String,
    /// Plan name (`<plan>`); empty gives `<plan></plan>`.
    #[serde(default)]
    pub plan: String,
    #[serde(default)]
    pub limits: Vec<Limit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    #[serde(default)]
    pub referrer_filters: Vec<String>,
}

impl App {
    /// A new active app of `service_id` with id `app_id`, no keys, no limits.
    pub fn new(service_id: &str, app_id: &str) -> App {
        App {
            service_id: service_id.to_string(),
            id: app_id.to_string(),
            user_key: None,
            app_keys: Vec::new(),
            state: default_state(),
            plan: String::new(),
            limits: Vec::new(),
            redirect_url: None,
            referrer_filters: Vec::new(),
        }
    }

    pub fn user_key(mut self, key: &str) -> App {
        self.user_key = Some(key.to_string());
        self
    }

    pub fn app_keys(mut self, keys: &[&str]) -> App {
        self.app_keys.extend(keys.iter().map(|k| k.to_string()));
        self
    }

    pub fn plan(mut self, name: &str) -> App {
        self.plan = name.to_string();
        self
    }

    /// Adds (or replaces) the limit of `metric` for `period`.
    pub fn limit(mut self, metric: &str, period: Period, value: u64) -> App {
        self.limits
            .retain(|l| !(l.metric == metric && l.period == period));
        self.limits.push(Limit {
            metric: metric.to_string(),
            period,
            value,
        });
        self
    }

    /// Porta's "disable metric in plan": an eternity limit of 0.
    pub fn disable_metric(self, metric: &str) -> App {
        self.limit(metric, Period::Eternity, 0)
    }

    pub fn state_suspended(mut self) -> App {
        self.state = "suspended".to_string();
        self
    }

    pub fn redirect_url(mut self, url: &str) -> App {
        self.redirect_url = Some(url.to_string());
        self
    }

    pub fn referrer_filter(mut self, filter: &str) -> App {
        self.referrer_filters.push(filter.to_string());
        self
    }

    pub fn is_active(&self) -> bool {
        self.state == "active"
    }
}

/// The whole backend state: configuration plus usage counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub apps: Vec<App>,
    #[serde(skip)]
    pub counters: Counters,
    /// The clock is frozen (`MockBackend::set_now`): a report's `timestamp`s written by a
    /// real clock (within the hour of the real time) cannot be placed in it: they count at
    /// the frozen now; others (a test's own, in the frozen clock's time) are read.
    #[serde(skip)]
    pub frozen_clock: bool,
    /// Asynchronous report errors (what apisonator writes to the service's error log).
    #[serde(skip)]
    pub report_errors: Vec<ReportError>,
    /// Every transaction counted, with its `log[code]` and `referrer`.
    #[serde(skip)]
    pub logged: Vec<Logged>,
}

/// A transaction the backend counted (an authorized authrep, or a report transaction with
/// usage), with what it keeps beside the usage: `log[code]` (response-code stats) and
/// `referrer`, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub service_id: String,
    pub app_id: String,
    /// `authrep` (the oauth variant too) or `report`.
    pub endpoint: &'static str,
    /// `usage[...]` as sent: metric and value, in order.
    pub usage: Vec<(String, String)>,
    /// `log[code]` (`transactions[i][log][code]` in a report).
    pub code: Option<String>,
    pub referrer: Option<String>,
}

impl Logged {
    /// Records a counted transaction whose parameters are `params`.
    pub(crate) fn new(
        endpoint: &'static str,
        service_id: &str,
        app_id: &str,
        params: &crate::params::Hash,
    ) -> Logged {
        let usage = params
            .get("usage")
            .and_then(crate::params::Value::as_hash)
            .map(|h| {
                h.iter()
                    .map(|(m, v)| (m.to_string(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Logged {
            service_id: service_id.to_string(),
            app_id: app_id.to_string(),
            endpoint,
            usage,
            code: params
                .get("log")
                .and_then(crate::params::Value::as_hash)
                .and_then(|h| h.str("code"))
                .map(str::to_string),
            referrer: params.str("referrer").map(str::to_string),
        }
    }
}

impl State {
    pub fn new() -> State {
        State::default()
    }

    /// Adds a service (replacing one with the same id, keeping its position).
    pub fn service(mut self, service: Service) -> State {
        match self.services.iter_mut().find(|s| s.id == service.id) {
            Some(slot) => *slot = service,
            None => self.services.push(service),
        }
        self
    }

    /// Adds an application (replacing one with the same service and id).
    pub fn app(mut self, app: App) -> State {
        match self
            .apps
            .iter_mut()
            .find(|a| a.service_id == app.service_id && a.id == app.id)
        {
            Some(slot) => *slot = app,
            None => self.apps.push(app),
        }
        self
    }

    /// Parses a JSON state file (`{"services": [...], "apps": [...]}`).
    pub fn from_json(json: &str) -> Result<State, String> {
        let mut state: State = serde_json::from_str(json).map_err(|e| e.to_string())?;
        for app in &mut state.apps {
            if app.id.is_empty() {
                match &app.user_key {
                    Some(k) => app.id = k.clone(),
                    None => {
                        return Err(format!(
                            "app of service {} has neither an id nor a user_key",
                            app.service_id
                        ))
                    }
                }
            }
        }
        Ok(state)
    }

    /// Serialises the configuration (not the counters) to pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn find_service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    /// The provider's default service: the first one declared with that key.
    pub fn default_service(&self, provider_key: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.provider_key.as_deref() == Some(provider_key))
    }

    pub fn find_app(&self, service_id: &str, app_id: &str) -> Option<&App> {
        self.apps
            .iter()
            .find(|a| a.service_id == service_id && a.id == app_id)
    }

    pub fn find_app_mut(&mut self, service_id: &str, app_id: &str) -> Option<&mut App> {
        self.apps
            .iter_mut()
            .find(|a| a.service_id == service_id && a.id == app_id)
    }

    pub fn find_service_mut(&mut self, id: &str) -> Option<&mut Service> {
        self.services.iter_mut().find(|s| s.id == id)
    }

    pub fn find_app_by_user_key(&self, service_id: &str, user_key: &str) -> Option<&App> {
        self.apps
            .iter()
            .find(|a| a.service_id == service_id && a.user_key.as_deref() == Some(user_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_and_children() {
        let s = Service::new("1")
            .metric("hits", None)
            .metric("get_foo", Some("hits"))
            .metric("deep", Some("get_foo"))
            .metric("post_bar", Some("hits"));
        assert_eq!(s.ancestors("deep"), vec!["get_foo", "hits"]);
        assert!(s.ancestors("hits").is_empty());
        assert_eq!(s.children("hits"), vec!["get_foo", "post_bar"]);
        assert_eq!(s.metric_id("post_bar"), Some(4));
    }

    #[test]
    fn json_state() {
        let json = r#"{"services":[{"id":"1","tokens":["t"],"backend_version":"1",
            "metrics":[{"name":"hits"}]}],
            "apps":[{"service_id":"1","user_key":"uk","plan":"P",
            "limits":[{"metric":"hits","period":"minute","value":5}]}]}"#;
        let st = State::from_json(json).unwrap();
        assert_eq!(st.apps[0].id, "uk");
        assert_eq!(st.apps[0].limits[0].period, Period::Minute);
        assert_eq!(st.services[0].state, "active");
        let again = State::from_json(&st.to_json()).unwrap();
        assert_eq!(again.apps, st.apps);
    }
}
