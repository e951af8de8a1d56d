//! What a fetch keeps of each service as its answers come in: the newest version of a service
//! listed twice, the live version of one whose entry cannot be read or that a page race hid,
//! and a placeholder holding the hosts of one that never served.

use super::paging_race::to_installed_place;
use crate::config::system::Unread;
use crate::config::{Config, FetchedService};
use log::warn;

/// A service the pages missed and no confirm answered: its installed version, in its place.
pub(super) fn keep_in_place(
    installed: &[FetchedService],
    collected: &mut Vec<FetchedService>,
    id: &str,
) {
    keep_installed(installed, collected, id, true);
    to_installed_place(installed, collected, id);
}

/// Keeps the live version of service `id` (if it has one) in the set being fetched, in place
/// of a version fetched for it: its last installed entry (a refused version published after
/// the version it keeps live, which `Loader::finish` keeps again). With `newest` (a latest
/// fetch), a higher version the fetch already holds stays: an entry of another environment
/// does not roll a service back.
pub(super) fn keep_installed(
    installed: &[FetchedService],
    collected: &mut Vec<FetchedService>,
    id: &str,
    newest: bool,
) {
    if let Some(old) = installed.iter().rev().find(|s| s.id.as_deref() == Some(id)) {
        merge(collected, vec![old.clone()], newest);
    }
}

/// An entry that could not be read: its service keeps its live version ([`keep_installed`]);
/// otherwise (none, or the last one published does not compile: a refused version, an
/// earlier placeholder) a placeholder that no worker compiles holds the hosts the entry lists
/// now, so that a later service listing them does not get their traffic (found by an audit,
/// 2026-12-06: a public service took them); `Loader::finish` still keeps a live version
/// before it, on those hosts. In a latest fetch its version 0 loses to any readable entry.
pub(super) fn keep_or_hold(
    installed: &[FetchedService],
    collected: &mut Vec<FetchedService>,
    entry: Unread,
    newest: bool,
    base: &Config,
) {
    let last = installed
        .iter()
        .rev()
        .find(|s| s.id.as_deref() == Some(&entry.id));
    match entry.placeholder {
        Some(placeholder) if last.is_none_or(|old| base.check_fetched(old).is_err()) => {
            merge(collected, vec![placeholder], newest)
        }
        _ => keep_installed(installed, collected, &entry.id, newest),
    }
}

/// Adds services, a later entry for the same id replacing an earlier one in its place (a
/// pinned version replaces the latest the pages returned), except that with `newest` (a
/// latest fetch) the higher version stays (audit 2026-12-06: of v2 then v1 in one answer, v1
/// served).
pub(super) fn merge(
    collected: &mut Vec<FetchedService>,
    services: Vec<FetchedService>,
    newest: bool,
) {
    for service in services {
        let slot = (collected.iter_mut()).find(|s| s.id.is_some() && s.id == service.id);
        match slot {
            Some(slot) => {
                let keep_slot = newest && slot.version > service.version;
                if newest && slot.version != service.version {
                    let (kept, older) = match keep_slot {
                        true => (slot.version, service.version),
                        false => (service.version, slot.version),
                    };
                    let id = service.id.as_deref().unwrap_or_default();
                    warn!("tollgate: 3scale System: service {id} version {older} skipped: version {kept} serves");
                }
                if !keep_slot {
                    *slot = service;
                }
            }
            None => collected.push(service),
        }
    }
}
