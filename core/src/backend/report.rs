//! Building `POST /transactions.xml` (the batcher's report, APIcast §7.1 and protocol §2.5):
//! `service_id` and the service credential in the query, the transactions in a form body.

use super::authrep::{identity_query, BackendCall, QueryBuilder};
use super::protocol::Endpoint;
use crate::config::service::BackendAuth;
use crate::config::BackendConfig;
use crate::config::Service;
use crate::credentials::Credentials;

/// What a report needs of its service: the id and the backend credential. Kept apart from the
/// `Service` so that calls of a service removed from the configuration can still be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportingIdentity {
    pub service_id: String,
    pub backend_auth: Option<BackendAuth>,
    /// [`reporting_fingerprint`] of the configuration the service came from.
    pub fingerprint: String,
}

impl ReportingIdentity {
    pub fn of(service: &Service) -> ReportingIdentity {
        ReportingIdentity {
            service_id: service.id.clone(),
            backend_auth: service.backend_auth.clone(),
            fingerprint: service.reporting_fingerprint.clone(),
        }
    }
}

/// Who the backend counts a service's calls for: the backend cluster and authority the calls
/// go to and the service credential they carry, as 8 hex digits of their SHA-256 (a key never
/// holds the token itself). Cache keys and pending calls carry it, so that after a listener
/// update rotating the token or moving the backend, neither a cached authorization nor a call
/// of one identity is used or reported under the other (found by an audit, 2026-12-06).
pub fn reporting_fingerprint(backend: &BackendConfig, service: &Service) -> String {
    let mut text = String::new();
    let auth = service.backend_auth.as_ref();
    let parts = [
        backend.cluster.as_str(),
        backend.authority.as_str(),
        auth.map_or("", |a| a.param),
        auth.map_or("", |a| a.value.as_str()),
    ];
    for part in parts {
        // Lengths first: no two lists of parts make the same text.
        text.push_str(&part.len().to_string());
        text.push(':');
        text.push_str(part);
    }
    let digest = crate::auth::digest::sha256(text.as_bytes());
    crate::auth::digest::to_hex(digest.get(..4).unwrap_or_default())
}

/// Usage per application, ready to report. Reports name the application only: an app_key is
/// never sent (APIcast batcher TEST 6).
///
/// With response codes, every call is a transaction of its own with `[log][code]`: 3scale
/// counts one response per transaction, whatever its usage (apisonator's response-code
/// aggregator adds 1), so merged calls would count as one response.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transactions {
    /// Calls without a code: one transaction per application and minute, sorted by them,
    /// each usage sorted by metric (sorted `Vec`s: smaller module than maps, and a
    /// deterministic body).
    apps: Vec<((App, u64), Usage)>,
    /// Calls with a code: the application, the code, one call's usage, the minute and how
    /// many calls.
    coded: Vec<(App, u16, Usage, u64, u64)>,
}

/// How far back a report's `timestamp` may go: apisonator refuses (asynchronously, with the
/// whole report) transactions older than 24 hours (protocol §2.5). Calls kept longer by a
/// backend outage are stamped this long ago.
const MAX_TIMESTAMP_AGE_S: u64 = 23 * 3600;

/// The `timestamp` of calls made in `minute` (0: unknown, none sent): the minute's start,
/// within what the backend accepts, and never ahead of the clock. A minute ahead of it means
/// the clock went back since the calls were counted (an NTP step): they are stamped now, the
/// period they were really made in, never a later one, where their budget would come back
/// in their own (found by an audit, 2026-12-06).
fn timestamp(minute: u64, now_s: u64) -> Option<u64> {
    let at = minute.checked_mul(60).filter(|&at| at > 0)?;
    let earliest = now_s.saturating_sub(MAX_TIMESTAMP_AGE_S);
    Some(at.clamp(earliest, now_s.max(earliest)))
}

/// A usage: metrics and their deltas.
type Usage = Vec<(String, u64)>;

/// The report parameter naming an application (`user_key` or `app_id`) and its value.
pub type App = (&'static str, String);

/// The application a report transaction names: an app_id's keys are one application.
pub fn reported_app(credentials: &Credentials) -> App {
    match credentials {
        Credentials::UserKey(k) => ("user_key", k.clone()),
        Credentials::AppIdAndKey { app_id, .. } | Credentials::AppId(app_id) => {
            ("app_id", app_id.clone())
        }
    }
}

impl Transactions {
    /// Adds `calls` calls of `usage` made in `minute` (UNIX seconds / 60; 0: unknown) by the
    /// application `credentials` name, answered with `code` when response codes are reported.
    pub fn add(
        &mut self,
        credentials: &Credentials,
        usage: &[(String, u64)],
        code: Option<u16>,
        (minute, calls): (u64, u64),
    ) {
        let app = reported_app(credentials);
        if let Some(code) = code {
            self.coded.push((app, code, usage.to_vec(), minute, calls));
            return;
        }
        let at = (app, minute);
        let i = match self.apps.binary_search_by(|(a, _)| a.cmp(&at)) {
            Ok(i) => i,
            Err(i) => {
                self.apps.insert(i, (at, Vec::new()));
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
        self.len() == 0
    }

    /// The parameters the report's body will hold (apisonator takes at most 4,096).
    pub fn params(&self) -> usize {
        let apps = (self.apps.iter()).map(|(_, usage)| usage.len() + 2);
        let coded = (self.coded.iter())
            .map(|(.., usage, _, calls)| (usage.len() + 3).saturating_mul(*calls as usize));
        apps.chain(coded).fold(0, usize::saturating_add)
    }

    /// The transactions the report will hold.
    pub fn len(&self) -> usize {
        let coded = self.coded.iter().map(|(.., calls)| *calls as usize);
        coded.fold(self.apps.len(), usize::saturating_add)
    }
}

impl BackendCall {
    /// The report of `transactions`, stamped with their minutes (`now_s`: the clock).
    pub fn report(
        service: &ReportingIdentity,
        transactions: &Transactions,
        now_s: u64,
    ) -> BackendCall {
        let mut body = QueryBuilder::default();
        let mut i = 0usize;
        let mut push =
            |(param, value): &App, minute, usage: &[(String, u64)], code: Option<u64>| {
                body.push(&format!("transactions[{i}][{param}]"), value);
                if let Some(at) = timestamp(minute, now_s) {
                    body.push(&format!("transactions[{i}][timestamp]"), &at.to_string());
                }
                for (metric, total) in usage {
                    body.push(
                        &format!("transactions[{i}][usage][{metric}]"),
                        &total.to_string(),
                    );
                }
                if let Some(code) = code {
                    body.push(&format!("transactions[{i}][log][code]"), &code.to_string());
                }
                i += 1;
            };
        for ((app, minute), usage) in &transactions.apps {
            push(app, *minute, usage, None);
        }
        for (app, code, usage, minute, calls) in &transactions.coded {
            for _ in 0..*calls {
                push(app, *minute, usage, Some(u64::from(*code)));
            }
        }
        BackendCall::new(
            Endpoint::Report,
            &identity_query(&service.service_id, service.backend_auth.as_ref()).0,
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

    /// 2026-12-06 05:30:00 UTC.
    const NOW: u64 = 1_796_535_000;

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
        t.add(&app("a=1", "k1"), &[("hits".into(), 1)], None, (0, 3));
        t.add(
            &app("a=1", "k2"),
            &[("hits".into(), 2), ("m".into(), 1)],
            None,
            (0, 2),
        );
        t.add(&app("b", "k"), &[("hits".into(), 1)], None, (0, 1));
        let call = BackendCall::report(&ReportingIdentity::of(&config.services[0]), &t, NOW);
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

    #[test]
    fn every_call_with_a_code_is_a_transaction_of_its_own() {
        let text = br#"{"backend":{"cluster":"b"},"services":[{"id":"7","backend_version":1}]}"#;
        let config = Config::parse(text).unwrap().config;
        let mut t = Transactions::default();
        let uk = Credentials::UserKey("u".into());
        t.add(&uk, &[("hits".to_string(), 1)], Some(503), (0, 1));
        t.add(
            &uk,
            &[("hits".into(), 2), ("m".into(), 1)],
            Some(200),
            (0, 2),
        );
        t.add(&uk, &[("hits".to_string(), 1)], None, (0, 4));
        t.add(&uk, &[("hits".to_string(), 3)], None, (0, 1));
        assert_eq!(t.len(), 4);
        let body = BackendCall::report(&ReportingIdentity::of(&config.services[0]), &t, NOW)
            .body
            .replace("%5B", "[")
            .replace("%5D", "]");
        assert_eq!(
            body,
            "transactions[0][user_key]=u&transactions[0][usage][hits]=7\
             &transactions[1][user_key]=u&transactions[1][usage][hits]=1&transactions[1][log][code]=503\
             &transactions[2][user_key]=u&transactions[2][usage][hits]=2&transactions[2][usage][m]=1&transactions[2][log][code]=200\
             &transactions[3][user_key]=u&transactions[3][usage][hits]=2&transactions[3][usage][m]=1&transactions[3][log][code]=200"
        );
    }

    #[test]
    fn calls_are_stamped_with_their_minute_within_what_the_backend_accepts() {
        let text = br#"{"backend":{"cluster":"b"},"services":[{"id":"7","backend_version":1}]}"#;
        let config = Config::parse(text).unwrap().config;
        let mut t = Transactions::default();
        let uk = Credentials::UserKey("u".into());
        let minute = NOW / 60;
        // Two minutes of one application: two transactions, each in its minute.
        t.add(&uk, &[("hits".to_string(), 1)], None, (minute - 1, 3));
        t.add(&uk, &[("hits".to_string(), 1)], None, (minute, 1));
        t.add(&uk, &[("hits".to_string(), 1)], None, (minute, 1));
        // Older than the backend keeps (a long outage): stamped 23 hours ago, not refused.
        t.add(
            &uk,
            &[("hits".to_string(), 1)],
            None,
            (minute - 2 * 24 * 60, 1),
        );
        // Unknown (from a module that kept no minutes): no timestamp, counted now.
        t.add(&uk, &[("hits".to_string(), 1)], None, (0, 5));
        t.add(&uk, &[("hits".to_string(), 1)], Some(200), (minute, 1));
        assert_eq!(t.len(), 5);
        let body = BackendCall::report(&ReportingIdentity::of(&config.services[0]), &t, NOW)
            .body
            .replace("%5B", "[")
            .replace("%5D", "]");
        let stamp = |at: u64| format!("[timestamp]={at}");
        assert_eq!(
            body,
            format!(
                "transactions[0][user_key]=u&transactions[0][usage][hits]=5\
                 &transactions[1][user_key]=u&transactions[1]{}&transactions[1][usage][hits]=1\
                 &transactions[2][user_key]=u&transactions[2]{}&transactions[2][usage][hits]=3\
                 &transactions[3][user_key]=u&transactions[3]{}&transactions[3][usage][hits]=2\
                 &transactions[4][user_key]=u&transactions[4]{}&transactions[4][usage][hits]=1&transactions[4][log][code]=200",
                stamp(NOW - 23 * 3600),
                stamp((minute - 1) * 60),
                stamp(minute * 60),
                stamp(minute * 60),
            )
        );
        // Ahead of the clock (it went back since): now.
        assert_eq!(timestamp(minute, NOW), Some(minute * 60));
        assert_eq!(timestamp(minute + 1, NOW), Some(NOW));
        assert_eq!(timestamp(minute + 10, NOW), Some(NOW));
        assert_eq!(timestamp(0, NOW), None);
    }
}
