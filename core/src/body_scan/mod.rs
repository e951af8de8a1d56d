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
    let lower = content_type.to_ascii_lowercase();
    ["multipart", "/json", "+json"]
        .iter()
        .any(|kind| lower.contains(kind))
}

/// One body's reading, fed chunk by chunk; a chunk may end anywhere (inside a name, an
/// escape or a key): the result is the same as for the whole body at once. Both readers read
/// every body: the content type may name both kinds, and an upstream believes either.
#[derive(Debug, Default)]
pub struct BodyScan {
    fields: Fields,
    keys: Keys,
    found: bool,
}

impl BodyScan {
    pub fn new() -> BodyScan {
        BodyScan::default()
    }

    /// Reads the next chunk; returns whether a `_method` was found (in it or before).
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        if !self.found {
            self.found = self.fields.feed(chunk) || self.keys.feed(chunk);
        }
        self.found
    }

    /// The body ended (its last chunk, or its trailers): a value still being read ends there.
    pub fn finish(&mut self) -> bool {
        self.found |= self.fields.finish();
        self.found
    }

    pub fn found(&self) -> bool {
        self.found
    }
}
