//! The mock's own admin route, `GET /_mock/stats`: how often each transaction endpoint was
//! called since start, and how much usage was actually added to counters, per service and
//! metric. Benchmarks read it to count backend calls and to check that batched reports lost
//! nothing. It is answered before `Mode` and latency apply, so it never hangs or fails.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::counters::Counters;
use crate::handlers::Endpoint;
use crate::response::Response;

pub const STATS_PATH: &str = "/_mock/stats";

/// Requests received per transaction endpoint (whatever the answer was).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Calls {
    pub authorize: u64,
    pub authrep: u64,
    pub report: u64,
    pub oauth_authorize: u64,
    pub oauth_authrep: u64,
}

impl Calls {
    pub fn record(&mut self, endpoint: Endpoint) {
        let slot = match endpoint {
            Endpoint::Authorize => &mut self.authorize,
            Endpoint::Authrep => &mut self.authrep,
            Endpoint::Report => &mut self.report,
            Endpoint::OauthAuthorize => &mut self.oauth_authorize,
            Endpoint::OauthAuthrep => &mut self.oauth_authrep,
        };
        *slot += 1;
    }
}

/// The body of `GET /_mock/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub calls: Calls,
    /// service id -> metric -> increments applied (authorized authreps and accepted reports,
    /// after propagation to parent metrics), summed over applications.
    pub reported: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    pub fn collect(calls: Calls, counters: &Counters) -> Stats {
        let mut reported: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (service, _app, metric, total) in counters.totals() {
            *reported
                .entry(service.to_string())
                .or_default()
                .entry(metric.to_string())
                .or_default() += total;
        }
        Stats { calls, reported }
    }
}

/// Whether a request is for the admin route (checked before anything else).
pub fn is_stats(method: &str, path: &str) -> bool {
    (method == "GET" || method == "HEAD") && path == STATS_PATH
}

pub fn response(stats: &Stats) -> Response {
    let body = serde_json::to_string(stats).unwrap_or_default();
    Response::route(200, "application/json", body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::UsageValue;

    #[test]
    fn sums_over_apps() {
        let mut counters = Counters::default();
        counters.apply("1", "a", "hits", UsageValue::Incr(2), 0);
        counters.apply("1", "b", "hits", UsageValue::Incr(3), 0);
        counters.apply("1", "b", "hits", UsageValue::Set(100), 0);
        let mut calls = Calls::default();
        calls.record(Endpoint::Report);
        let stats = Stats::collect(calls, &counters);
        assert_eq!(stats.reported["1"]["hits"], 5);
        assert_eq!(stats.calls.report, 1);
        assert_eq!(
            serde_json::to_string(&stats).unwrap(),
            r#"{"calls":{"authorize":0,"authrep":0,"report":1,"oauth_authorize":0,"oauth_authrep":0},"reported":{"1":{"hits":5}}}"#
        );
    }
}
