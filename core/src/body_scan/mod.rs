//! A `_method` in a `POST` body that is not a form, read as the body streams. Rack (Rails),
//! PHP (Laravel, Symfony), Spring and ASP.NET Core read a multipart body's parts as form
//! fields, so a `_method` part overrides the method as a form's `_method` field does; Laravel
//! merges a JSON body into its input, so a `_method` key does too (see `method_override`).
//! Such bodies can be large (uploads), so they are not buffered: each chunk is read as Envoy
//! passes it on. The filter sees a chunk before the upstream does, and those upstreams act on
//! a body only once they have all of it, so a `_method` in any chunk is refused in time.
//!
//! Both readings are wider than any framework's, on purpose (a false alarm is a 400, a miss
//! is a method the rules never matched):
//! - **multipart** (`multipart.rs`): every `name` or `content-id` followed by `=` or `:`,
//!   anywhere in the body (not only in part headers: Rack's regex finds `name=` inside a
//!   quoted `filename`), its value read quoted, unquoted, as RFC 2231 (`name*=utf-8''%5Fmethod`,
//!   Busboy) and RFC 2047 (`=?utf-8?B?...?=` in any charset, ASP.NET Core), percent-decoded,
//!   across a line break (PHP), up to a NUL, without control bytes at either end (Java), and
//!   compared in every spelling PHP or Rack reads as `_method` (`arg_names`). A file whose
//!   text holds `name="_method"` is refused too.
//! - **JSON** (`json.rs`): every string followed by `:` (a key, at any depth), its escapes
//!   decoded, equal to `_method` in any case.
//!
//! The same readers compare credentials (`pipeline::body_fields`), on any method: a multipart
//! name read as a credential's (in those spellings) has its part's content compared, a JSON
//! top-level key of that name (any case) its value, which must be a string; and so are the
//! args that rules whose method and path match read.

mod json;
mod multipart;
#[cfg(test)]
mod tests;

use json::Keys;
use multipart::Fields;

const METHOD_FIELD: &str = "_method";

/// Whether a `POST` with this `Content-Type` is read for a `_method`: one that names
/// `multipart` anywhere (Rack parses every `multipart/` type, PHP `multipart/form-data`) or
/// JSON as Laravel's `isJson()` tells it (`/json` or `+json` anywhere). Anywhere, not as the
/// media type: `multipart/related; type="application/json"` is JSON to Laravel, and a form
/// type in a parameter of a multipart type is still multipart to everyone else.
pub fn applies(content_type: &str) -> bool {
    let kinds = kinds(content_type);
    kinds.multipart || kinds.json
}

/// Which of the two kinds a `Content-Type` names (both, for some), as [`applies`] reads it.
pub fn kinds(content_type: &str) -> Kinds {
    let lower = content_type.to_ascii_lowercase();
    Kinds {
        multipart: lower.contains("multipart"),
        json: ["/json", "+json"].iter().any(|kind| lower.contains(kind)),
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Kinds {
    pub multipart: bool,
    pub json: bool,
}

/// What refuses a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// A `_method` (400, method override).
    Method,
    /// A credential field (multipart) or top-level key (JSON) whose value is not one checked
    /// (auth failed).
    Credential,
    /// The same for an arg a rule reads (400, ambiguous argument).
    Argument,
}

/// A credential's or rule arg's name (compared as an upstream reads it) and the values its
/// field may have (none: any value differs); `finding` when it has another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub name: String,
    pub values: Vec<String>,
    pub finding: Finding,
}

/// What a field read as `expected[slot]` that differs refuses.
fn differs_at(expected: &[Expected], slot: usize) -> Finding {
    expected
        .get(slot)
        .map_or(Finding::Credential, |e| e.finding)
}

/// What a body wider than the reader refuses: the worst it could hide.
fn worst(method: bool, expected: &[Expected]) -> Finding {
    let credential = expected.iter().any(|e| e.finding == Finding::Credential);
    match (method, credential || expected.is_empty()) {
        (true, _) => Finding::Method,
        (false, true) => Finding::Credential,
        (false, false) => Finding::Argument,
    }
}

impl Expected {
    fn accepts(&self, value: &[u8]) -> bool {
        (self.values.iter()).any(|v| crate::secret::constant_time_eq(v.as_bytes(), value))
    }

    /// The longest value accepted: a longer one differs, so no more of it is kept.
    fn longest(&self) -> usize {
        self.values.iter().map(String::len).max().unwrap_or(0)
    }
}

/// What a body is read for: a `_method` (a `POST`), and credentials in a multipart body's
/// fields (`fields`) and a JSON body's top-level keys (`keys`), each by its content type.
#[derive(Debug, Default, Clone)]
pub struct Wanted {
    pub method: bool,
    pub fields: Vec<Expected>,
    pub keys: Vec<Expected>,
}

impl Wanted {
    /// Nothing to read the body for.
    pub fn is_empty(&self) -> bool {
        !self.method && self.fields.is_empty() && self.keys.is_empty()
    }
}

/// One body's reading, fed chunk by chunk; a chunk may end anywhere (inside a name, an
/// escape or a key): the result is the same as for the whole body at once. Both readers read
/// every body for a `_method`: the content type may name both kinds, and an upstream believes
/// either.
#[derive(Debug)]
pub struct BodyScan {
    fields: Fields,
    keys: Keys,
    wanted: Wanted,
    found: Option<Finding>,
}

impl Default for BodyScan {
    fn default() -> BodyScan {
        BodyScan::new()
    }
}

impl BodyScan {
    /// A reading for a `_method` only.
    pub fn new() -> BodyScan {
        BodyScan::wanting(Wanted {
            method: true,
            ..Wanted::default()
        })
    }

    pub fn wanting(wanted: Wanted) -> BodyScan {
        BodyScan {
            fields: Fields::default(),
            keys: Keys::new(&wanted.keys),
            wanted,
            found: None,
        }
    }

    /// Reads the next chunk; returns whether something was found (in it or before).
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        if self.found.is_none() {
            let Wanted {
                method,
                fields,
                keys,
            } = &self.wanted;
            self.found = (self.fields.feed(chunk, *method, fields))
                .or_else(|| self.keys.feed(chunk, *method, keys));
        }
        self.found.is_some()
    }

    /// The body ended (its last chunk, or its trailers): a value still being read ends there.
    pub fn finish(&mut self) -> bool {
        if self.found.is_none() {
            self.found = self.fields.finish(self.wanted.method, &self.wanted.fields);
        }
        self.found.is_some()
    }

    pub fn found(&self) -> bool {
        self.found.is_some()
    }

    pub fn finding(&self) -> Option<Finding> {
        self.found
    }
}
