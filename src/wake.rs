//! Wake-up queues: whichever worker gets a backend answer for an entry tells every worker,
//! through one shared queue per worker VM, and each worker's root context resumes its own
//! waiting requests (an HTTP context can only be resumed on its own thread).

use crate::host;
use crate::store::HostStore;
use std::cell::{Cell, RefCell};
use tollgate_core::cache::store::update;
use tollgate_core::cache::wake_list::{legacy_tokens, listed, parse_entries, refreshed, without};
use tollgate_core::cache::SharedStore;

/// Shared-data key of the plugin's wake-up queues: `token seen_s` pairs (`wake_list`).
/// (Not `tollgate.workers`, the list of modules before 2026-12-06, which never took their
/// dead queues off it.)
const QUEUES_KEY: &str = "tollgate.wake.live";
/// The list of bare tokens of modules before 2026-12-07, still notified (read only): their
/// VMs may serve during an update, and would misread pairs.
const LEGACY_QUEUES_KEY: &str = "tollgate.wake.queues";
/// Shared-data key (the `vm_id`'s, no plugin prefix) of the VMs' numbers.
const VM_SEQ_KEY: &str = "tollgate.vm.seq";
/// How often a worker says its queue lives (from its timer).
const HEARTBEAT_S: u64 = 10;

thread_local! {
    /// This VM's number among the VMs of its `vm_id` (0: not drawn yet), which names its
    /// queue of each plugin: one queue per VM and plugin, however many root contexts
    /// configuration updates create in the VM. Envoy keeps a queue as long as any VM of its
    /// `vm_id` lives and delivers its messages only to the context that registered it last:
    /// a queue per root context filled with every notice, unread, for the rest of the process
    /// (found by an audit, 2026-12-06: 26 MB after three updates and 2,000 keys).
    static VM_SEQ: Cell<u64> = const { Cell::new(0) };
    /// This VM's queues (name, token), the root context each delivers to (0: none any
    /// more), and when it last said the queue lives (seconds; one queue per plugin, and two
    /// plugins may share a VM).
    static RECEIVERS: RefCell<Vec<Receiver>> = const { RefCell::new(Vec::new()) };
}

/// A queue this VM registered: (name, token, root context, last beat in seconds).
type Receiver = (String, u32, u32, u64);

/// Registers this worker's wake-up queue for root context `root` (the VM's queue of the
/// plugin: the same token for every root context) and publishes its token among the plugin's.
pub fn register_queue(store: &HostStore, root: u32, now_s: u64) -> Option<u32> {
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
            .find(|(n, _, r, _)| *n == name && *r > root)
            .map(|(_, token, ..)| *token)
    });
    if newer.is_some() {
        return newer;
    }
    // The same name gives the same token, and the queue's messages go to `root` from now on.
    let token = host::register_queue(&name).ok()?;
    RECEIVERS.with_borrow_mut(
        |receivers| match receivers.iter_mut().find(|(n, ..)| *n == name) {
            Some(receiver) => (receiver.1, receiver.2, receiver.3) = (token, root, now_s),
            None => receivers.push((name, token, root, now_s)),
        },
    );
    if beat(store, token, now_s).is_none() {
        // The queue receives all the same: the next heartbeat lists it (found by an audit).
        RECEIVERS.with_borrow_mut(|receivers| {
            if let Some(receiver) = receivers.iter_mut().find(|(_, t, ..)| *t == token) {
                receiver.3 = 0;
            }
        });
    }
    Some(token)
}

/// From the timer of root context `root`: every [`HEARTBEAT_S`], if this VM's queue delivers
/// to it, says the queue lives (listing it again if it was dropped) and drops dead ones.
pub fn heartbeat(store: &HostStore, root: u32, now_s: u64) {
    let token = RECEIVERS.with_borrow_mut(|receivers| {
        let receiver = receivers.iter_mut().find(|(_, _, r, _)| *r == root)?;
        if now_s.saturating_sub(receiver.3) < HEARTBEAT_S {
            return None;
        }
        receiver.3 = now_s;
        Some(receiver.1)
    });
    if let Some(token) = token {
        beat(store, token, now_s);
    }
}

/// Lists `token` as seen at `now_s`, and drops the queues not seen for `wake_list::STALE_S`.
fn beat(store: &HostStore, token: u32, now_s: u64) -> Option<()> {
    update(store, QUEUES_KEY, |value| {
        let now_s = u32::try_from(now_s).unwrap_or(u32::MAX);
        Some((listed(&refreshed(parse_entries(value), token, now_s)), ()))
    })?;
    Some(())
}

/// Root context `root` is done: if its queue still delivers to it (no newer root context of
/// this VM took the queue over), no worker notifies that queue any more.
pub fn unregister_queue(store: &HostStore, root: u32) {
    let token = RECEIVERS.with_borrow_mut(|receivers| {
        let receiver = receivers.iter_mut().find(|(_, _, r, _)| *r == root)?;
        receiver.2 = 0;
        Some(receiver.1)
    });
    if let Some(token) = token {
        update(store, QUEUES_KEY, |value| {
            Some((listed(&without(parse_entries(value), token)), ()))
        });
    }
}

/// Tells every worker of the plugin (this one included) that `key` has a new answer.
pub fn notify(store: &HostStore, key: &str) {
    let (value, _) = store.get(QUEUES_KEY);
    let (legacy, _) = store.get(LEGACY_QUEUES_KEY);
    let live = parse_entries(value.as_deref()).into_iter().map(|(t, _)| t);
    for token in live.chain(legacy_tokens(legacy.as_deref())) {
        host::enqueue(token, key.as_bytes());
    }
}
