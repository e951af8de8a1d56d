//! For the audit of the access-phase policies (`access_policies_*.rs`): the `apicast` and
//! `ip_check` policy entries, `ip_check`'s refusal, a request to the harness's host.

use super::Stack;
use e2e::{Request, Response};
use serde_json::{json, Value};

pub const IP_DENIED: &str = "IP address not allowed\n";

pub fn apicast() -> Value {
    json!({"name": "apicast"})
}

pub fn send(s: &Stack, r: Request) -> Response {
    r.header("Host", "api.example.com").send(s.port())
}

pub fn ip_check(check: &str, ips: Value, sources: Option<Value>) -> Value {
    let mut c = json!({"check_type": check, "ips": ips});
    if let Some(s) = sources {
        c["client_ip_sources"] = s;
    }
    json!({"name": "apicast.policy.ip_check", "configuration": c})
}
