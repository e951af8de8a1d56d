//! Porta pages the account list by offset over the current versions, ordered by row id: a
//! deploy (a new row, last) or a deletion between two page requests moves an entry onto a
//! page already read, and no page holds it (found by an audit, 2026-12-07). The loader asks
//! for each live service the pages of a fetch missed by itself; these find them and put a
//! confirmed one back in its place.

use crate::config::FetchedService;

/// Services confirmed one by one in a fetch, at most: a race hides as many entries as rows
/// changed between two page requests; more missed are deletions. The others keep their
/// installed version until a later fetch confirms them (after a mass deletion, 20 go per
/// fetch), so a fetch stays short and one slow portal does not freeze the set.
pub(super) const MAX_CONFIRMS: usize = 20;

/// The ids of installed services a fetch's pages did not list, each once.
/// Sorted lookups: an account may hold thousands of services.
pub(super) fn missed(installed: &[FetchedService], collected: &[FetchedService]) -> Vec<String> {
    let mut listed: Vec<&str> = collected.iter().filter_map(|c| c.id.as_deref()).collect();
    crate::sorting::heap_sort(&mut listed);
    let mut ids: Vec<String> = Vec::new();
    for id in installed.iter().filter_map(|s| s.id.as_deref()) {
        if listed.binary_search(&id).is_err() && !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    ids
}

/// Moves confirmed service `id` (added last) to the place it had among the installed
/// services, after the one before it there: a host belongs to the first service listing it,
/// so a service later in the list must not take it over.
pub(super) fn to_installed_place(
    installed: &[FetchedService],
    collected: &mut Vec<FetchedService>,
    id: &str,
) {
    let same = |s: &FetchedService| s.id.as_deref() == Some(id);
    let Some(was) = installed.iter().position(same) else {
        return;
    };
    if !collected.last().is_some_and(same) {
        return;
    }
    // Not `id` itself: the installed services before it have other ids. Only a neighbour at
    // the version installed: a redeployed one has a new row, last in porta's order, and `id`
    // put after it lost a host it shares with a service listed between (found by a review,
    // 2026-12-07).
    let unmoved = |prev: &FetchedService, c: &FetchedService| {
        c.id.is_some() && c.id == prev.id && c.version == prev.version
    };
    let before = (installed.get(..was).unwrap_or_default().iter().rev())
        .find_map(|prev| (collected.iter()).position(|c| unmoved(prev, c)));
    if let Some(service) = collected.pop() {
        collected.insert(before.map_or(0, |i| i + 1), service);
    }
}
