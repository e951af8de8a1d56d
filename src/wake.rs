//! Wake-up queues: whichever worker gets a backend answer for an entry tells every worker,
//! through one shared queue per worker VM, and each worker's root context resumes its own
//! waiting requests (an HTTP context can only be resumed on its own thread).

use crate::host;
use crate::store::HostStore;
use tollgate_core::cache::store::update;
use tollgate_core::cache::SharedStore;

/// Shared-data keys of the wake-up queues: a sequence number, and the queue tokens.
const QUEUE_SEQ_KEY: &str = "tollgate.workers.seq";
const QUEUES_KEY: &str = "tollgate.workers";
/// Queue tokens remembered (VMs come and go with configuration changes).
const MAX_QUEUES: usize = 64;

/// Registers this worker's wake-up queue (a unique name per VM and plugin) and publishes its
/// token among the plugin's.
pub fn register_queue(store: &HostStore) -> Option<u32> {
    let seq = update(store, QUEUE_SEQ_KEY, |value| {
        let n: u64 = value
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0)
            + 1;
        Some((n.to_string().into_bytes(), n))
    })?;
    let token = host::register_queue(&store.key(&format!("tollgate.wake.{seq}"))).ok()?;
    update(store, QUEUES_KEY, |value| {
        let mut tokens = parse_tokens(value);
        tokens.push(token);
        let skip = tokens.len().saturating_sub(MAX_QUEUES);
        let text: Vec<String> = tokens[skip..].iter().map(u32::to_string).collect();
        Some((text.join(" ").into_bytes(), ()))
    })?;
    Some(token)
}

/// Tells every worker of the plugin (this one included) that `key` has a new answer.
pub fn notify(store: &HostStore, key: &str) {
    let (value, _) = store.get(QUEUES_KEY);
    for token in parse_tokens(value.as_deref()) {
        host::enqueue(token, key.as_bytes());
    }
}

fn parse_tokens(value: Option<&[u8]>) -> Vec<u32> {
    value
        .map(String::from_utf8_lossy)
        .unwrap_or_default()
        .split(' ')
        .filter_map(|t| t.parse().ok())
        .collect()
}
