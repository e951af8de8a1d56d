//! Wake-up queues: whichever worker gets a backend answer for an entry tells every worker,
//! through one shared queue per worker VM, and each worker's root context resumes its own
//! waiting requests (an HTTP context can only be resumed on its own thread).

use crate::host;
use crate::store::HostStore;
use std::cell::{Cell, RefCell};
use tollgate_core::cache::store::update;
use tollgate_core::cache::SharedStore;

/// Shared-data key of the plugin's wake-up queue tokens.
/// (Not `tollgate.workers`, the list of modules before 2026-12-06, which never took their
/// dead queues off it.)
const QUEUES_KEY: &str = "tollgate.wake.queues";
/// Queue tokens remembered (VMs come and go with configuration changes).
const MAX_QUEUES: usize = 64;

/// Shared-data key (the `vm_id`'s, no plugin prefix) of the VMs' numbers.
const VM_SEQ_KEY: &str = "tollgate.vm.seq";

thread_local! {
    /// This VM's number among the VMs of its `vm_id` (0: not drawn yet), which names its
    /// queue of each plugin: one queue per VM and plugin, whatever how many root contexts
    /// configuration updates create in the VM. Envoy keeps a queue as long as any VM of its
    /// `vm_id` lives and delivers its messages only to the context that registered it last:
    /// a queue per root context filled with every notice, unread, for the rest of the process
    /// (found by an audit, 2026-12-06: 26 MB after three updates and 2,000 keys).
    static VM_SEQ: Cell<u64> = const { Cell::new(0) };
    /// This VM's queues (name, token) and the root context each delivers to (0: none any
    /// more).
    static RECEIVERS: RefCell<Vec<(String, u32, u32)>> = const { RefCell::new(Vec::new()) };
}

/// Registers this worker's wake-up queue for root context `root` (the VM's queue of the
/// plugin: the same token for every root context) and publishes its token among the plugin's.
pub fn register_queue(store: &HostStore, root: u32) -> Option<u32> {
    let seq = match VM_SEQ.get() {
        0 => {
            let seq = update(&HostStore::default(), VM_SEQ_KEY, |value| {
                let n: u64 = value
                    .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                    .unwrap_or(0u64)
                    .saturating_add(1);
                Some((n.to_string().into_bytes(), n))
            })?;
            VM_SEQ.set(seq);
            seq
        }
        seq => seq,
    };
    // `vm.`: not a name the numbers of earlier modules (per plugin) gave.
    let name = store.key(&format!("tollgate.wake.vm.{seq}")).into_owned();
    // A newer root context of this VM receives it already: this one (still serving requests
    // of connections from before a configuration update) does not take it back.
    let newer = RECEIVERS.with_borrow(|receivers| {
        (receivers.iter())
            .find(|(n, _, r)| *n == name && *r > root)
            .map(|(_, token, _)| *token)
    });
    if newer.is_some() {
        return newer;
    }
    // The same name gives the same token, and the queue's messages go to `root` from now on.
    let token = host::register_queue(&name).ok()?;
    RECEIVERS.with_borrow_mut(|receivers| {
        match receivers.iter_mut().find(|(n, _, _)| *n == name) {
            Some(receiver) => (receiver.1, receiver.2) = (token, root),
            None => receivers.push((name, token, root)),
        }
    });
    update(store, QUEUES_KEY, |value| {
        let mut tokens = parse_tokens(value);
        if !tokens.contains(&token) {
            tokens.push(token);
        }
        let skip = tokens.len().saturating_sub(MAX_QUEUES);
        Some((listed(&tokens[skip..]), ()))
    })?;
    Some(token)
}

/// Root context `root` is done: if its queue still delivers to it (no newer root context of
/// this VM took the queue over), no worker notifies that queue any more.
pub fn unregister_queue(store: &HostStore, root: u32) {
    let token = RECEIVERS.with_borrow_mut(|receivers| {
        let receiver = receivers.iter_mut().find(|(_, _, r)| *r == root)?;
        receiver.2 = 0;
        Some(receiver.1)
    });
    if let Some(token) = token {
        update(store, QUEUES_KEY, |value| {
            let mut tokens = parse_tokens(value);
            tokens.retain(|&t| t != token);
            Some((listed(&tokens), ()))
        });
    }
}

/// Tells every worker of the plugin (this one included) that `key` has a new answer.
pub fn notify(store: &HostStore, key: &str) {
    let (value, _) = store.get(QUEUES_KEY);
    for token in parse_tokens(value.as_deref()) {
        host::enqueue(token, key.as_bytes());
    }
}

/// The shared-data value of a token list.
fn listed(tokens: &[u32]) -> Vec<u8> {
    let text: Vec<String> = tokens.iter().map(u32::to_string).collect();
    text.join(" ").into_bytes()
}

fn parse_tokens(value: Option<&[u8]>) -> Vec<u32> {
    value
        .map(String::from_utf8_lossy)
        .unwrap_or_default()
        .split(' ')
        .filter_map(|t| t.parse().ok())
        .collect()
}
