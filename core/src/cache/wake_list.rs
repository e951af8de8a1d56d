//! The list of a plugin's wake-up queues, as the adapter keeps it in Envoy shared data: each
//! worker VM's queue token and when it last said it lives, read and written as bytes here
//! (the adapter only gets, sets and enqueues). Shared data under the plugin's name can be
//! written by another plugin of the same name, or another module version: any bytes read
//! as a list, never a panic, and never more queues than a list holds.

/// Queue tokens remembered (VMs come and go with configuration changes): room for a worker
/// VM per thread of a large host, twice over during a module update (old VMs drain). A live
/// queue pushed off the list waits for the timer at each cache miss (found by an audit,
/// 2026-12-06: 64 pushed live queues off past 32 workers during an update). 4 KB.
pub const MAX_QUEUES: usize = 512;

/// A listed queue whose worker has not said it lives for this long is a dead VM's (a VM that
/// trapped gets no `on_done` to take its queue off): it is dropped from the list, or its
/// notices would pile up unread in Envoy for the rest of the process.
pub const STALE_S: u32 = 60;

/// A queue list's value: `token seen_s` pairs, space-separated (u32s, as tokens were
/// before: the same code, a smaller module).
pub fn listed(entries: &[(u32, u32)]) -> Vec<u8> {
    let text: Vec<String> = (entries.iter())
        .flat_map(|&(token, seen_s)| [token, seen_s])
        .map(|n| n.to_string())
        .collect();
    text.join(" ").into_bytes()
}

/// A queue list's entries: whole pairs of the numbers it holds, at most the last
/// [`MAX_QUEUES`] (the newest: a beat lists its queue last). A longer list is none this
/// module wrote: every worker's notice would go to each of its tokens (found by an audit,
/// 2026-12-06).
pub fn parse_entries(value: Option<&[u8]>) -> Vec<(u32, u32)> {
    let numbers = numbers(value);
    let pairs = numbers.chunks_exact(2);
    let skip = pairs.len().saturating_sub(MAX_QUEUES);
    (pairs.skip(skip))
        .filter_map(|pair| match *pair {
            [token, seen_s] => Some((token, seen_s)),
            _ => None,
        })
        .collect()
}

/// The tokens of the bare list of modules before 2026-12-07 (`token token ...`), at most
/// [`MAX_QUEUES`] (the last ones).
pub fn legacy_tokens(value: Option<&[u8]>) -> Vec<u32> {
    let numbers = numbers(value);
    let skip = numbers.len().saturating_sub(MAX_QUEUES);
    numbers.get(skip..).unwrap_or_default().to_vec()
}

/// The space-separated numbers of a list (anything else skipped).
fn numbers(value: Option<&[u8]>) -> Vec<u32> {
    let text = value.map(String::from_utf8_lossy).unwrap_or_default();
    text.split(' ').filter_map(|n| n.parse().ok()).collect()
}

/// The list with `token` seen at `now_s` (last), without stale entries, at most
/// [`MAX_QUEUES`] long.
pub fn refreshed(mut entries: Vec<(u32, u32)>, token: u32, now_s: u32) -> Vec<(u32, u32)> {
    entries.retain(|&(t, seen_s)| t != token && now_s.saturating_sub(seen_s) <= STALE_S);
    entries.push((token, now_s));
    let skip = entries.len().saturating_sub(MAX_QUEUES);
    entries.split_off(skip)
}

/// The list without `token` (its VM's root context is done).
pub fn without(mut entries: Vec<(u32, u32)>, token: u32) -> Vec<(u32, u32)> {
    entries.retain(|&(t, _)| t != token);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_not_seen_for_stale_s_is_dropped_at_the_next_beat() {
        let entries = parse_entries(Some(b"7 100 8 150 9 155"));
        assert_eq!(entries, vec![(7, 100), (8, 150), (9, 155)]);
        // At 161: 7 is dead; 9 beats.
        let now = 100 + STALE_S + 1;
        assert_eq!(refreshed(entries, 9, now), vec![(8, 150), (9, now)]);
        assert_eq!(listed(&[(8, 150), (9, 161)]), b"8 150 9 161".to_vec());
        assert_eq!(parse_entries(Some(b"")), vec![]);
        assert_eq!(parse_entries(None), vec![]);
        // A damaged list: whole pairs only.
        assert_eq!(parse_entries(Some(b"5 7 9")), vec![(5, 7)]);
        assert_eq!(refreshed(vec![(5, 7)], 9, now), vec![(9, now)]);
    }

    #[test]
    fn the_list_keeps_the_newest_max_queues() {
        let entries: Vec<(u32, u32)> = (0..MAX_QUEUES as u32 + 5).map(|t| (t, 1000)).collect();
        let kept = refreshed(entries, 999, 1000);
        assert_eq!(kept.len(), MAX_QUEUES);
        assert_eq!(kept.last(), Some(&(999, 1000)));
        assert_eq!(kept.first(), Some(&(6, 1000)));
    }

    #[test]
    fn a_list_reads_back_as_written() {
        let lists: [&[(u32, u32)]; 4] = [
            &[],
            &[(0, 0)],
            &[(u32::MAX, u32::MAX), (1, 2), (1, 2)],
            &[(42, 1_700_000_000), (7, 0)],
        ];
        for entries in lists {
            assert_eq!(parse_entries(Some(&listed(entries))), entries);
        }
        let full: Vec<(u32, u32)> = (0..MAX_QUEUES as u32).map(|t| (t, t)).collect();
        assert_eq!(parse_entries(Some(&listed(&full))), full);
    }

    #[test]
    fn a_list_longer_than_any_written_gives_its_newest_max_queues() {
        // Shared data of the plugin's name written by something else: no notice fan-out
        // beyond what a list holds.
        let long: Vec<(u32, u32)> = (0..MAX_QUEUES as u32 + 100).map(|t| (t, 5)).collect();
        let read = parse_entries(Some(&listed(&long)));
        assert_eq!(read.len(), MAX_QUEUES);
        assert_eq!(read.first(), Some(&(100, 5)));
        assert_eq!(read.last(), long.last());
        let bare: Vec<String> = (0..MAX_QUEUES + 3).map(|t| t.to_string()).collect();
        let legacy = legacy_tokens(Some(bare.join(" ").as_bytes()));
        assert_eq!(legacy.len(), MAX_QUEUES);
        assert_eq!(legacy.first(), Some(&3));
    }

    #[test]
    fn damaged_bytes_read_as_the_numbers_they_hold() {
        assert_eq!(parse_entries(Some(b"1 2 x 3 4")), vec![(1, 2), (3, 4)]);
        assert_eq!(parse_entries(Some(b"1  2 99999999999 3")), vec![(1, 2)]);
        assert_eq!(parse_entries(Some(b"\xff1 2 3 4")), vec![(2, 3)]);
        assert_eq!(legacy_tokens(Some(b"7 8 -1 x 9")), vec![7, 8, 9]);
        assert_eq!(legacy_tokens(None), Vec::<u32>::new());
        assert_eq!(without(vec![(1, 2), (3, 4), (1, 5)], 1), vec![(3, 4)]);
    }
}
