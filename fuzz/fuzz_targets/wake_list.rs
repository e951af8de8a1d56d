//! The list of wake-up queues the adapter keeps in Envoy shared data (`cache::wake_list`),
//! which another plugin of the same name or another module version may have written: any
//! bytes read as a list (the current pairs and the legacy bare tokens), never a panic, never
//! more entries than a list holds or the bytes could spell; a list written reads back as it
//! was; a beat lists its queue last and once, keeping only fresh entries in their order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::cache::wake_list::{
    legacy_tokens, listed, parse_entries, refreshed, without, MAX_QUEUES, STALE_S,
};

/// Whether `part` is `whole` with some elements left out (order kept).
fn is_subsequence(part: &[(u32, u32)], whole: &[(u32, u32)]) -> bool {
    let mut rest = whole.iter();
    part.iter().all(|p| rest.any(|w| w == p))
}

fn word(data: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = data.get(at + i).copied().unwrap_or(0);
    }
    u32::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    // The bytes as shared data holds them.
    let entries = parse_entries(Some(data));
    assert!(entries.len() <= MAX_QUEUES);
    // A pair takes two digits and two separators at least (the last pair one).
    assert!(
        entries.len() * 4 <= data.len() + 1,
        "{} entries",
        entries.len()
    );
    let text = listed(&entries);
    assert!(text.iter().all(|b| b.is_ascii_digit() || *b == b' '));
    assert!(text.len() <= MAX_QUEUES * 22);
    assert_eq!(parse_entries(Some(&text)), entries);
    let legacy = legacy_tokens(Some(data));
    assert!(legacy.len() <= MAX_QUEUES);
    assert!(legacy.len() * 2 <= data.len() + 1);

    // A beat at `now_s` of `token` (both from the first bytes) on that list.
    let (token, now_s) = (word(data, 0), word(data, 4));
    let beat = refreshed(entries.clone(), token, now_s);
    assert!(beat.len() <= MAX_QUEUES);
    assert_eq!(beat.last(), Some(&(token, now_s)));
    assert_eq!(beat.iter().filter(|(t, _)| *t == token).count(), 1);
    assert!(beat
        .iter()
        .all(|&(_, seen)| now_s.saturating_sub(seen) <= STALE_S));
    assert!(is_subsequence(&beat[..beat.len() - 1], &entries));
    assert_eq!(parse_entries(Some(&listed(&beat))), beat);
    let gone = without(beat.clone(), token);
    assert_eq!(gone.len(), beat.len() - 1);
    assert!(is_subsequence(&gone, &beat));

    // The bytes as entries (u32 pairs, little-endian): a list of them reads back as it was,
    // the newest MAX_QUEUES of a longer one.
    let pairs: Vec<(u32, u32)> = (data.chunks_exact(8))
        .map(|c| (word(c, 0), word(c, 4)))
        .collect();
    let back = parse_entries(Some(&listed(&pairs)));
    let newest = pairs.len().saturating_sub(MAX_QUEUES);
    assert_eq!(back, pairs[newest..]);
});
