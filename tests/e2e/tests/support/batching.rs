//! Helpers of the batching tests (`batching.rs`, `batching_outages.rs`): the `batching`
//! block, a status check that shows the response, and "the backend was charged exactly this,
//! once".

use super::cache::{describe, wait_until};
use super::Stack;
use e2e::Response;
use serde_json::{json, Value};
use std::time::Duration;

pub fn batching(auths_ttl: u64) -> Value {
    json!({"auths_ttl": auths_ttl, "batch_report_seconds": 1})
}

pub fn expect(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", describe(r));
}

/// Waits until the backend has counted `expected` hits for each (service, app), then checks
/// that nothing more arrives for two more report intervals.
pub fn assert_reported_exactly(s: &Stack, expected: &[(&str, &str, &str, u64)]) {
    let counted = || {
        expected
            .iter()
            .map(|(svc, app, metric, _)| s.backend.reported_hits(svc, app, metric))
            .collect::<Vec<u64>>()
    };
    let want: Vec<u64> = expected.iter().map(|e| e.3).collect();
    wait_until(Duration::from_secs(20), || counted() == want);
    assert_eq!(counted(), want, "reported usage of {expected:?}");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(counted(), want, "reported twice: {expected:?}");
}
