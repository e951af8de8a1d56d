//! The configuration last fetched from 3scale System, shared with every worker: the fetching
//! worker publishes the services it accepted, and every worker (itself included) compiles
//! them once when the generation moves.
//!
//! Two keys: a small generation number every worker reads on its timer, and the document
//! itself, read only when the generation moved. The document carries its generation too, so
//! a reader that races a newer publish simply installs the newer one.

use crate::cache::store::update;
use crate::cache::SharedStore;

const GENERATION_KEY: &str = "tollgate.system.generation";
const DOCUMENT_KEY: &str = "tollgate.system.config";

/// A published configuration: `generation loaded_at_s` on the first line, then the JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub generation: u64,
    /// Unix seconds of the fetch that produced it.
    pub loaded_at_s: u64,
    pub json: Vec<u8>,
}

/// Publishes a new document; returns its generation.
pub fn publish(store: &dyn SharedStore, json: &[u8], loaded_at_s: u64) -> Option<u64> {
    let generation = update(store, GENERATION_KEY, |value| {
        let n = parse_u64(value).saturating_add(1);
        Some((n.to_string().into_bytes(), n))
    })?;
    let mut document = format!("{generation} {loaded_at_s}\n").into_bytes();
    document.extend_from_slice(json);
    update(store, DOCUMENT_KEY, |_| Some((document.clone(), ())))?;
    Some(generation)
}

/// The published generation (0: none yet).
pub fn generation(store: &dyn SharedStore) -> u64 {
    parse_u64(store.get(GENERATION_KEY).0.as_deref())
}

/// The published document, if there is one newer than `known`.
pub fn newer_than(store: &dyn SharedStore, known: u64) -> Option<Published> {
    if generation(store) <= known {
        return None;
    }
    let bytes = store.get(DOCUMENT_KEY).0?;
    let newline = bytes.iter().position(|&b| b == b'\n')?;
    let head = std::str::from_utf8(bytes.get(..newline)?).ok()?;
    let mut fields = head.split(' ').map(|f| f.parse::<u64>().ok());
    let generation = fields.next()??;
    let loaded_at_s = fields.next()??;
    (generation > known).then(|| Published {
        generation,
        loaded_at_s,
        json: bytes.get(newline + 1..).unwrap_or_default().to_vec(),
    })
}

fn parse_u64(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryStore;

    #[test]
    fn readers_see_each_new_generation_once() {
        let store = MemoryStore::default();
        assert_eq!(newer_than(&store, 0), None);
        assert_eq!(publish(&store, b"[1]", 100), Some(1));
        let first = newer_than(&store, 0).unwrap();
        assert_eq!(
            (first.generation, first.loaded_at_s, first.json.as_slice()),
            (1, 100, &b"[1]"[..])
        );
        assert_eq!(newer_than(&store, 1), None);
        assert_eq!(publish(&store, b"[2]", 200), Some(2));
        assert_eq!(newer_than(&store, 1).unwrap().json, b"[2]".to_vec());
    }
}
