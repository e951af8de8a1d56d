//! One request's state between Envoy's callbacks (ext_authz's `State`), and the worker's list
//! of the requests it must remember.
//!
//! A request that is forwarded at once with no response headers to add is never listed: no
//! entry means "not held". Every other request is listed until Envoy is done with it.

use super::matched::MatchedRequest;
use super::reporting::Uncounted;
use super::steps::{RequestId, Steps};
use super::PendingRequest;
use crate::cache::EntryKey;

pub(super) enum State {
    /// Paused until the form body has arrived (`buffered`: its bytes so far, held by Envoy;
    /// `since_ms`: when the headers were held).
    ReadingBody {
        request: Box<PendingRequest>,
        buffered: usize,
        since_ms: u64,
    },
    /// Authrep mode: paused until the backend answers.
    Calling(Box<MatchedRequest>),
    /// Batching mode: paused until the cache can decide. `waited`: the request had to wait (a
    /// cache miss).
    Waiting {
        matched: Box<MatchedRequest>,
        key: EntryKey,
        waited: bool,
    },
    /// Forwarded; these headers go on the upstream's response (debug headers). `report`:
    /// batching, the call (its cache key, and whether it was leased) counted with its
    /// response: with response codes (its status), or a body read as it streams.
    Forwarded {
        headers: Vec<(String, String)>,
        report: Option<Uncounted>,
    },
    /// Answered locally, or failed: its body and trailers stay held in Envoy.
    Complete,
}

impl State {
    /// While the verdict is pending, or after a local reply, body and trailers must stay in
    /// Envoy: letting them go on would release the paused headers upstream.
    pub(super) fn holds_request(&self) -> bool {
        !matches!(self, State::Forwarded { .. })
    }

    /// The request's headers are held in Envoy until the filter lets them go or answers.
    pub(super) fn holds_headers(&self) -> bool {
        matches!(
            self,
            State::ReadingBody { .. } | State::Calling(_) | State::Waiting { .. }
        )
    }
}

/// What a body or trailer callback returns when no step is due.
pub(super) fn held(state: Option<&State>) -> Steps {
    if state.is_some_and(State::holds_request) {
        Steps::hold()
    } else {
        Steps::proceed()
    }
}

/// The requests a worker remembers: few at a time, so a plain `Vec` (a map costs the module more).
#[derive(Default)]
pub(super) struct Flows(Vec<(RequestId, State)>);

impl Flows {
    pub(super) fn get(&self, request: RequestId) -> Option<&State> {
        self.0.iter().find(|(id, _)| *id == request).map(|(_, s)| s)
    }

    pub(super) fn get_mut(&mut self, request: RequestId) -> Option<&mut State> {
        self.0
            .iter_mut()
            .find(|(id, _)| *id == request)
            .map(|(_, s)| s)
    }

    /// Removes the request's state (it is then "not held" until set again).
    pub(super) fn take(&mut self, request: RequestId) -> Option<State> {
        let i = self.0.iter().position(|(id, _)| *id == request)?;
        Some(self.0.swap_remove(i).1)
    }

    pub(super) fn set(&mut self, request: RequestId, state: State) {
        match self.get_mut(request) {
            Some(s) => *s = state,
            None => self.0.push((request, state)),
        }
    }

    /// Requests waiting for any answer on `key` (every key: `None`).
    pub(super) fn waiting_on(&self, key: Option<&str>) -> Vec<RequestId> {
        self.0
            .iter()
            .filter(|(_, s)| match s {
                State::Waiting { key: k, .. } => key.is_none_or(|key| k.as_str() == key),
                _ => false,
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Requests held for their body since `since_ms` or earlier, with no byte of it yet.
    pub(super) fn bodiless_since(&self, since_ms: u64) -> Vec<RequestId> {
        self.0
            .iter()
            .filter(|(_, s)| match s {
                State::ReadingBody {
                    buffered: 0,
                    since_ms: t,
                    ..
                } => *t <= since_ms,
                _ => false,
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// The call a forwarded request still has to count, once (response codes).
    pub(super) fn take_report(&mut self, request: RequestId) -> Option<Uncounted> {
        match self.get_mut(request) {
            Some(State::Forwarded { report, .. }) => report.take(),
            _ => None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}
