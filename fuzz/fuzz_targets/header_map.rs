//! The header-map deserialiser of the adapter (`MapPairs` in src/abi.rs): Envoy's serialized
//! request, response and callout headers (a count, then each name's and value's length as
//! u32 little-endian, then the names and values each followed by a NUL). Any bytes, never a
//! panic; every pair lies within the bytes; what reads well reads the same once serialized
//! again; and any pairs serialized read back as they were.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_fuzz::abi::{serialize_map, MapPairs};
use tollgate_fuzz::header_lines::serialized_lines;

fuzz_target!(|data: &[u8]| {
    let mut pairs = MapPairs::new(data);
    let read: Vec<(&[u8], &[u8])> = pairs.by_ref().take(100_000).collect();
    let declared = data
        .get(..4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    assert!(read.len() <= declared, "more pairs than the count");
    let total: usize = read.iter().map(|(n, v)| n.len() + v.len() + 10).sum();
    assert!(
        read.is_empty() || total + 4 <= data.len() + 1,
        "pairs take more bytes than given"
    );
    if !pairs.malformed {
        assert_eq!(read.len(), declared, "a well-formed map yields its count");
        let texts: Option<Vec<(&str, &str)>> = read
            .iter()
            .map(|(n, v)| Some((std::str::from_utf8(n).ok()?, std::str::from_utf8(v).ok()?)))
            .collect();
        if let Some(texts) = texts {
            let again = serialize_map(&texts);
            let mut back = MapPairs::new(&again);
            let reread: Vec<(&[u8], &[u8])> = back.by_ref().collect();
            assert!(!back.malformed);
            assert_eq!(reread, read);
        }
    }

    // The other way: the input cut into names and values, serialized, reads back exactly.
    let text = String::from_utf8_lossy(data);
    let (map, bytes) = serialized_lines(&text);
    let mut back = MapPairs::new(&bytes);
    let reread: Vec<(&[u8], &[u8])> = back.by_ref().collect();
    assert!(!back.malformed);
    let want: Vec<(&[u8], &[u8])> = map
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    assert_eq!(reread, want);
    // Every cut (the last NUL aside, which is never read) of a serialized map short of its end is malformed, never misread.
    if bytes.len() < 512 && !map.is_empty() {
        for cut in 1..bytes.len().saturating_sub(1) {
            let mut short = MapPairs::new(&bytes[..cut]);
            short.by_ref().for_each(drop);
            assert!(short.malformed, "cut at {cut}");
        }
    }
});
