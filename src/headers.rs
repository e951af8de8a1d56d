//! Reading headers from Envoy without trusting them to be UTF-8, and without letting a failed
//! read pass for an absent header where that could open access.
//!
//! A request's headers (and a backend answer's) are read with one host call, as the host
//! serializes the whole map: the decision reads several of them, and forwarding needs every
//! name anyway (to strip each spelling of the secret-token and debug headers).

use crate::abi::MapPairs;
use crate::host::{self, HostError};
use std::cell::Cell;
use tollgate_core::backend::answer_headers::{read_answer, status_code};
use tollgate_core::backend::BackendAnswer;
use tollgate_core::pipeline::is_stripped_request_header;
use tollgate_core::request::{same_header_spelling, HeaderSource};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A header map read once. A read that failed, or a map the host serialized wrongly, reads
/// as failed: the core then refuses the whole request (an absent header is not always the
/// safe reading: a missing limit or debug header is, a header the decision depends on may
/// not be).
pub struct HeaderMap {
    map: Vec<u8>,
    failed: Cell<bool>,
}

impl HeaderMap {
    fn read(read: fn() -> Result<Vec<u8>, HostError>) -> HeaderMap {
        let (map, failed) = match read() {
            Ok(map) => (map, false),
            Err(_) => (Vec::new(), true),
        };
        HeaderMap {
            map,
            failed: Cell::new(failed),
        }
    }

    /// The request's headers.
    pub fn request() -> HeaderMap {
        HeaderMap::read(host::request_headers)
    }

    /// The first value of `name` (Envoy's names are lower-case), as `get_header` gives it.
    fn value(&self, name: &str) -> Option<&[u8]> {
        self.nth_value(name, 0)
    }

    /// The `n`th value of `name` (from 0). One loop for every reader: module size.
    #[inline(never)]
    fn nth_value(&self, name: &str, n: usize) -> Option<&[u8]> {
        let mut skip = n;
        for (key, value) in MapPairs::new(&self.map) {
            if key.eq_ignore_ascii_case(name.as_bytes()) {
                if skip == 0 {
                    return Some(value);
                }
                skip -= 1;
            }
        }
        None
    }

    /// The first value of `name`, borrowed unless it must be repaired (not UTF-8).
    pub fn lossy(&self, name: &str) -> Option<std::borrow::Cow<'_, str>> {
        self.value(name).map(String::from_utf8_lossy)
    }

    /// The names to remove before forwarding: every spelling of the stripped headers.
    pub fn stripped_names(&self) -> Vec<Vec<u8>> {
        MapPairs::new(&self.map)
            .filter(|(name, _)| is_stripped_request_header(name))
            .map(|(name, _)| name.to_vec())
            .collect()
    }
}

impl HeaderSource for HeaderMap {
    fn header(&self, name: &str) -> Option<String> {
        self.value(name).map(text)
    }

    fn header_any_spelling(&self, name: &str) -> (Option<String>, bool) {
        let mut first: Option<&[u8]> = None;
        let mut ambiguous = false;
        for (key, value) in MapPairs::new(&self.map) {
            if same_header_spelling(key, name.as_bytes()) {
                match first {
                    None => first = Some(value),
                    Some(seen) => ambiguous |= seen != value,
                }
            }
        }
        (first.map(text), ambiguous)
    }

    fn any_value_any_spelling(&self, name: &str, found: &mut dyn FnMut(&str) -> bool) -> bool {
        MapPairs::new(&self.map).any(|(key, value)| {
            same_header_spelling(key, name.as_bytes()) && found(&String::from_utf8_lossy(value))
        })
    }

    fn header_ambiguous(&self, name: &str) -> bool {
        let first = self.value(name);
        (1..)
            .map_while(|n| self.nth_value(name, n))
            .any(|v| Some(v) != first)
    }

    #[cfg(feature = "jwt")]
    fn header_joined(&self, name: &str) -> Option<String> {
        let mut values = MapPairs::new(&self.map)
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v);
        let mut joined = values.next()?.to_vec();
        for value in values {
            joined.push(b',');
            joined.extend_from_slice(value);
        }
        Some(text(&joined))
    }

    fn is_tls(&self) -> bool {
        // Envoy's `connection.tls_version` attribute is empty or absent on plain connections.
        match host::property(&["connection", "tls_version"]) {
            Ok(v) => v.is_some_and(|v| !v.is_empty()),
            Err(_) => {
                self.failed.set(true);
                false
            }
        }
    }

    #[cfg(feature = "jwt")]
    fn dynamic_metadata(&self) -> Option<Vec<u8>> {
        // The whole `metadata` property: Envoy serializes it as a typed protobuf message,
        // deeper paths as untyped pairs (see the core's `auth/jwt/metadata.rs`).
        match host::property(&["metadata"]) {
            Ok(v) => v,
            Err(_) => {
                self.failed.set(true);
                None
            }
        }
    }

    fn source_address(&self) -> Option<String> {
        match host::property(&["source", "address"]) {
            Ok(v) => v.map(|v| text(&v)),
            Err(_) => {
                self.failed.set(true);
                None
            }
        }
    }

    fn failed(&self) -> bool {
        self.failed.get()
    }
}

/// The parts of a backend callout response that decide the request. A failed read fails the
/// whole answer: reading `3scale-limit-remaining` as absent would mean "no limit".
pub fn backend_answer(num_headers: usize) -> Option<BackendAnswer> {
    if num_headers == 0 {
        // Envoy reports a reset or connection failure as a response without headers.
        return Some(BackendAnswer::default());
    }
    let map = HeaderMap::read(host::call_response_headers);
    if map.failed() {
        return None;
    }
    Some(read_answer(&|name| map.value(name)))
}

/// The status of the callout response being delivered (`None`: absent, or unreadable).
pub fn call_status() -> Option<u16> {
    status(host::call_response_headers)
}

/// The status of the response going to the client (`None`: absent, or unreadable).
pub fn response_status() -> Option<u16> {
    status(host::response_headers)
}

fn status(read: fn() -> Result<Vec<u8>, HostError>) -> Option<u16> {
    status_code(HeaderMap::read(read).value(":status")?)
}
