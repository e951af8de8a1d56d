//! Building `POST /transactions.xml` (the batcher's report, APIcast §7.1 and protocol §2.5):
//! `service_id` and the service credential in the query, the transactions in a form body.

use super::authrep::{service_query, BackendCall, QueryBuilder};
use super::protocol::Endpoint;
use crate::config::Service;
use crate::credentials::Credentials;

/// Usage per application, ready to report. Reports name the application only: an app_key is
/// never sent (APIcast batcher TEST 6).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transactions {
    /// Sorted by application, each usage sorted by metric (sorted `Vec`s: smaller module
    /// than maps, and a deterministic body).
    apps: Vec<(App, Vec<(String, u64)>)>,
}

/// The report parameter naming an application (`user_key` or `app_id`) and its value.
type App = (&'static str, String);

impl Transactions {
    /// Adds `calls` calls of `usage` by the application `credentials` name.
    pub fn add(&mut self, credentials: &Credentials, usage: &[(String, u64)], calls: u64) {
        let app = match credentials {
            Credentials::UserKey(k) => ("user_key", k.clone()),
            Credentials::AppIdAndKey { app_id, .. } | Credentials::AppId(app_id) => {
                ("app_id", app_id.clone())
            }
        };
        let i = match self.apps.binary_search_by(|(a, _)| a.cmp(&app)) {
            Ok(i) => i,
            Err(i) => {
                self.apps.insert(i, (app, Vec::new()));
                i
            }
        };
        let Some((_, totals)) = self.apps.get_mut(i) else {
            return;
        };
        for (metric, delta) in usage {
            let n = delta.saturating_mul(calls);
            match totals.binary_search_by(|(m, _)| m.cmp(metric)) {
                Ok(j) => {
                    if let Some((_, total)) = totals.get_mut(j) {
                        *total = total.saturating_add(n);
                    }
                }
                Err(j) => totals.insert(j, (metric.clone(), n)),
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    pub fn len(&self) -> usize {
        self.apps.len()
    }
}

impl BackendCall {
    pub fn report(service: &Service, transactions: &Transactions) -> BackendCall {
        let mut body = QueryBuilder::default();
        for (i, ((param, value), usage)) in transactions.apps.iter().enumerate() {
            body.push(&format!("transactions[{i}][{param}]"), value);
            for (metric, total) in usage {
                body.push(
                    &format!("transactions[{i}][usage][{metric}]"),
                    &total.to_string(),
                );
            }
        }
        BackendCall::new(
            Endpoint::Report,
            &service_query(service).0,
            vec![(
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            )],
            body.0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn reports_usage_per_application_without_app_keys() {
        let text = br#"{"backend":{"cluster":"b"},"services":[{"id":"7","backend_version":2,
            "backend_authentication_type":"service_token","backend_authentication_value":"t&k"}]}"#;
        let config = Config::parse(text).unwrap().config;
        let mut t = Transactions::default();
        let app = |id: &str, key: &str| Credentials::AppIdAndKey {
            app_id: id.into(),
            app_key: key.into(),
        };
        t.add(&app("a=1", "k1"), &[("hits".into(), 1)], 3);
        t.add(&app("a=1", "k2"), &[("hits".into(), 2), ("m".into(), 1)], 2);
        t.add(&app("b", "k"), &[("hits".into(), 1)], 1);
        let call = BackendCall::report(&config.services[0], &t);
        assert_eq!(call.method, "POST");
        assert_eq!(
            call.path,
            "/transactions.xml?service_id=7&service_token=t%26k"
        );
        assert_eq!(
            call.body,
            "transactions%5B0%5D%5Bapp_id%5D=a%3D1&transactions%5B0%5D%5Busage%5D%5Bhits%5D=7\
             &transactions%5B0%5D%5Busage%5D%5Bm%5D=2\
             &transactions%5B1%5D%5Bapp_id%5D=b&transactions%5B1%5D%5Busage%5D%5Bhits%5D=1"
        );
        assert!(!call.body.contains("k1"));
    }
}
