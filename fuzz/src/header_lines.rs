//! The fuzzer's bytes as a header map: names and values one a line, serialized as the host
//! hands a map over (`abi::serialize_map`), for the targets that read such maps back
//! (`answer_headers`, `header_map`).

use crate::abi::serialize_map;

/// `text` cut into lines taken as name, value, name, value... (a last name without its line
/// of value gets an empty value), and those pairs serialized.
pub fn serialized_lines(text: &str) -> (Vec<(&str, &str)>, Vec<u8>) {
    let mut lines = text.split('\n');
    let mut map = Vec::new();
    while let Some(name) = lines.next() {
        map.push((name, lines.next().unwrap_or("")));
    }
    let bytes = serialize_map(&map);
    (map, bytes)
}
