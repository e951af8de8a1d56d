//! Reading headers from Envoy without trusting them to be UTF-8, and without letting a failed
//! read pass for an absent header where that could open access.

use crate::host::{self, HostError, HostResult};
use std::cell::Cell;
use tollgate_core::backend::protocol::{
    LIMIT_MAX_VALUE_HEADER, LIMIT_REMAINING_HEADER, LIMIT_RESET_HEADER, REJECTION_REASON_HEADER,
};
use tollgate_core::backend::BackendAnswer;
use tollgate_core::request::HeaderSource;

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Request headers, read one by one as the core asks for them. The core's `HeaderSource`
/// cannot carry an error, so a failed read is remembered here and the core refuses the
/// whole request (`HeaderSource::failed`): an absent header is not always the safe
/// reading (a missing limit or debug header is, a header the decision depends on may not be).
#[derive(Default)]
pub struct RequestHeaders {
    failed: Cell<Option<HostError>>,
}

impl RequestHeaders {
    fn note<T>(&self, result: HostResult<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.failed.set(self.failed.get().or(Some(e)));
                None
            }
        }
    }
}

impl HeaderSource for RequestHeaders {
    fn header(&self, name: &str) -> Option<String> {
        self.note(host::request_header(name)).flatten().map(text)
    }

    fn is_tls(&self) -> bool {
        // Envoy's `connection.tls_version` attribute is empty or absent on plain connections.
        self.note(host::property(&["connection", "tls_version"]))
            .flatten()
            .is_some_and(|v| !v.is_empty())
    }

    fn failed(&self) -> bool {
        self.failed.get().is_some()
    }
}

/// The parts of a backend callout response that decide the request. A failed read fails the
/// whole answer: reading `3scale-limit-remaining` as absent would mean "no limit".
pub fn backend_answer(num_headers: usize) -> HostResult<BackendAnswer> {
    if num_headers == 0 {
        // Envoy reports a reset or connection failure as a response without headers.
        return Ok(BackendAnswer::default());
    }
    let read = |name: &str| host::call_response_header(name).map(|v| v.map(text));
    Ok(BackendAnswer {
        status: read(":status")?.and_then(|s| s.parse().ok()),
        rejection_reason: read(REJECTION_REASON_HEADER)?,
        limit_reset: read(LIMIT_RESET_HEADER)?,
        limit_max_value: read(LIMIT_MAX_VALUE_HEADER)?,
        limit_remaining: read(LIMIT_REMAINING_HEADER)?,
    })
}
