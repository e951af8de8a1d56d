//! The configuration last fetched from 3scale System, shared with every worker: the fetching
//! worker publishes the services it accepted, and every worker (itself included) compiles
//! them once when the generation moves.
//!
//! Two keys per `system` block: a small generation number every worker reads on its timer,
//! and the document itself, read only when the generation moved. The document is written
//! first, carrying the next generation; then the generation moves by compare-and-swap, so a
//! reader never sees a generation without its document, and of two overlapping publishes
//! the later one wins with a generation of its own.

use crate::cache::store::update;
use crate::cache::SharedStore;
use crate::config::FetchedService;
use serde_json::{json, Value};

fn generation_key(scope: &str) -> String {
    format!("tollgate.system.{scope}.generation")
}

fn document_key(scope: &str) -> String {
    format!("tollgate.system.{scope}.config")
}

/// A published configuration: `generation loaded_at_s` on the first line, then the JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub generation: u64,
    /// Unix seconds of the fetch that produced it.
    pub loaded_at_s: u64,
    pub json: Vec<u8>,
}

/// Publishes a new document; returns its generation.
pub fn publish(store: &dyn SharedStore, scope: &str, json: &[u8], loaded_at_s: u64) -> Option<u64> {
    for _ in 0..8 {
        let (value, version) = store.get(&generation_key(scope));
        let generation = parse_u64(value.as_deref()).saturating_add(1);
        let mut document = format!("{generation} {loaded_at_s}\n").into_bytes();
        document.extend_from_slice(json);
        update(store, &document_key(scope), |_| {
            Some((document.clone(), ()))
        })?;
        // Another publish since the read: write again, with the generation after it.
        if store
            .set(
                &generation_key(scope),
                generation.to_string().as_bytes(),
                version,
            )
            .is_ok()
        {
            return Some(generation);
        }
    }
    None
}

/// The published generation (0: none yet).
pub fn generation(store: &dyn SharedStore, scope: &str) -> u64 {
    parse_u64(store.get(&generation_key(scope)).0.as_deref())
}

/// The published document, if there is one newer than `known`.
pub fn newer_than(store: &dyn SharedStore, scope: &str, known: u64) -> Option<Published> {
    if generation(store, scope) <= known {
        return None;
    }
    let bytes = store.get(&document_key(scope)).0?;
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

/// The services as published: JSON, each with its id, version, environment, path and content.
pub fn encode(services: &[FetchedService]) -> Vec<u8> {
    let list: Vec<Value> = services
        .iter()
        .map(|s| {
            json!({"id": s.id, "version": s.version, "environment": s.environment,
                   "path": s.path, "content": s.content})
        })
        .collect();
    serde_json::to_vec(&list).unwrap_or_default()
}

/// [`encode`]'s services, or `None` for a document this module cannot read.
pub fn decode(bytes: &[u8]) -> Option<Vec<FetchedService>> {
    let Value::Array(list) = serde_json::from_slice(bytes).ok()? else {
        return None;
    };
    list.into_iter()
        .map(|mut v| {
            Some(FetchedService {
                id: v.get("id").and_then(Value::as_str).map(str::to_string),
                version: v.get("version")?.as_u64()?,
                environment: v.get("environment")?.as_str()?.to_string(),
                path: v.get("path")?.as_str()?.to_string(),
                content: v.get_mut("content")?.take(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryStore;

    #[test]
    fn readers_see_each_new_generation_once() {
        let store = MemoryStore::default();
        assert_eq!(newer_than(&store, "s", 0), None);
        assert_eq!(publish(&store, "s", b"[1]", 100), Some(1));
        let first = newer_than(&store, "s", 0).unwrap();
        assert_eq!(
            (first.generation, first.loaded_at_s, first.json.as_slice()),
            (1, 100, &b"[1]"[..])
        );
        assert_eq!(newer_than(&store, "s", 1), None);
        assert_eq!(publish(&store, "s", b"[2]", 200), Some(2));
        assert_eq!(newer_than(&store, "s", 1).unwrap().json, b"[2]".to_vec());
    }
}
