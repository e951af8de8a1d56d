//! Every policy of every explicit chain as `tollgate check` prints it: its answer or its
//! refusal, and the chain's own verdict (empty, public), read on even after a refusal (the
//! filter stops at the first). The filter itself never calls this.

use super::{empty_chain, entry, misplaced, public_line, ChainEntry, Context, Policy};
use crate::config::json::{error, Obj};
use crate::config::ConfigError;
use serde_json::Value;

/// One policy of a chain as `tollgate check` prints it.
#[derive(Debug)]
pub struct Reviewed {
    /// The filter's answer, or its refusal.
    pub answer: std::result::Result<ChainEntry, ConfigError>,
}

/// One service's explicit chain as `tollgate check` prints it, refused policies included.
#[derive(Debug)]
pub struct Review {
    pub service: String,
    /// `services[0].proxy.policy_chain`.
    pub path: String,
    pub entries: Vec<Reviewed>,
    /// The chain as a whole: an empty one is refused (`Err`); one without `apicast` is public
    /// (`Ok`, a warning).
    pub chain: Option<std::result::Result<String, ConfigError>>,
}

/// Every policy of every explicit chain with its answer or its refusal, even when the
/// configuration is refused (the filter stops at the first refusal).
pub fn review(text: &[u8]) -> Vec<Review> {
    let Ok(root) = serde_json::from_slice::<Value>(text) else {
        return Vec::new();
    };
    let Ok(obj) = Obj::new("", &root) else {
        return Vec::new();
    };
    let ctx = Context::new(&obj).unwrap_or_default();
    let services = root.get("services").and_then(Value::as_array);
    let mut reviews = Vec::new();
    for (i, service) in services.into_iter().flatten().enumerate() {
        let chain = service.get("proxy").and_then(|p| p.get("policy_chain"));
        let Some(Value::Array(chain)) = chain else {
            continue;
        };
        let path = format!("services[{i}].proxy.policy_chain");
        let mut entries: Vec<Reviewed> = (chain.iter().enumerate())
            .map(|(j, v)| Reviewed {
                answer: entry(&format!("{path}[{j}]"), v, &ctx),
            })
            .collect();
        // The chain's order, as the filter reads it, refusing each misplaced policy in turn.
        while let Some((j, why)) = misplaced(&accepted(&entries)) {
            let Some(e) = entries.get_mut(j) else { break };
            e.answer = Err(error(&format!("{path}[{j}]"), why));
        }
        let has_apicast = entries.iter().any(|e| {
            matches!(
                &e.answer,
                Ok(ChainEntry {
                    policy: Policy::Apicast,
                    ..
                })
            )
        });
        reviews.push(Review {
            service: match service.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(id) => id.to_string(),
                None => "?".to_string(),
            },
            chain: match (chain.is_empty(), has_apicast) {
                (true, _) => Some(Err(empty_chain(&path))),
                (false, false) => Some(Ok(public_line(&path))),
                _ => None,
            },
            path,
            entries,
        });
    }
    reviews
}

/// The policies of a chain's accepted entries, with their indices.
fn accepted(entries: &[Reviewed]) -> Vec<(usize, &Policy)> {
    (entries.iter().enumerate())
        .filter_map(|(j, e)| e.answer.as_ref().ok().map(|c| (j, &c.policy)))
        .collect()
}
