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
//! - **multipart**: every `name` or `content-id` followed by `=` or `:`, anywhere in the body
//!   (not only in part headers: Rack's regex finds `name=` inside a quoted `filename`), its
//!   value read quoted, unquoted, as RFC 2231 (`name*=utf-8''%5Fmethod`, Busboy) and RFC 2047
//!   (`=?utf-8?B?...?=`, ASP.NET Core), percent-decoded, and compared in every spelling PHP
//!   or Rack reads as `_method` (`arg_names`). A file whose text holds `name="_method"` is
//!   refused too.
//! - **JSON**: every string followed by `:` (a key, at any depth), its escapes decoded, equal
//!   to `_method` in any case.

use crate::base64::{self, Alphabet};
use crate::encoding::decode_component;
use crate::mapping::arg_names::is_spelling_of;
use std::mem::take;

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
        self.found |= take(&mut self.fields.open)
            .iter()
            .any(|c| c.phase == Phase::Reading && c.names_method(false));
        self.found
    }

    pub fn found(&self) -> bool {
        self.found
    }
}

// --- multipart ------------------------------------------------------------------------------

/// The words a field's name follows: `Content-Disposition`'s `name` (and `filename`, which
/// ends with it), and Rack's `Content-ID` (a part's name when it has no other).
const KEYS: [&[u8]; 2] = [b"name", b"content-id"];
/// Bytes (line breaks left out) before a chunk that a key may have started in.
const TAIL: usize = 9;
/// A value's bytes kept; a longer first token is judged on what it holds.
const VALUE_CAP: usize = 96;
/// Values read at once; more is taken as a `_method`. (Only a value being read holds letters,
/// and it ends within [`VALUE_CAP`] bytes, so about `VALUE_CAP / 5` can be open: a bound.)
const MAX_OPEN: usize = 32;

#[derive(Debug, Default)]
struct Fields {
    /// The last bytes of the chunks before, line breaks left out, most recent last.
    tail: [u8; TAIL],
    open: Vec<Capture>,
}

/// A value being read after a key. PHP joins a part header line without a colon to the line
/// before it (`name="_met` then `hod"`), so a value goes on across single line breaks, which
/// are left out; an empty line (the part's headers end) or [`VALUE_CAP`] bytes end it.
#[derive(Debug, Default)]
struct Capture {
    phase: Phase,
    value: Vec<u8>,
    /// The value's length at its first line break: as a reader that stops there reads it.
    first_line: Option<usize>,
    /// The last byte was a line feed (a carriage return does not change it).
    after_line_feed: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum Phase {
    /// After the key: spaces, line breaks or a `*` (RFC 2231), then `=` or `:`.
    #[default]
    Separator,
    /// After the separator: whitespace and control bytes (PHP skips `\v` and `\f`, Java's
    /// `trim` every byte up to a space), quotes and `<`, then the value.
    Value,
    /// In the value.
    Reading,
}

impl Fields {
    fn feed(&mut self, chunk: &[u8]) -> bool {
        let mut i = 0;
        while i < chunk.len() {
            if self.open.is_empty() {
                // Nothing being read: skip to the next byte that can end a key.
                match (chunk.get(i..).unwrap_or_default())
                    .iter()
                    .position(|b| matches!(b | 0x20, b'e' | b'd'))
                {
                    Some(k) => i += k,
                    None => break,
                }
            }
            let Some(&byte) = chunk.get(i) else { break };
            if self.advance(byte) {
                return true;
            }
            if KEYS.iter().any(|key| self.key_ends_at(chunk, i, key)) {
                if self.open.len() >= MAX_OPEN {
                    return true;
                }
                self.open.push(Capture::default());
            }
            i += 1;
        }
        self.keep_tail(chunk);
        false
    }

    /// Moves every open value on by `byte`; true when one that ended names `_method`.
    fn advance(&mut self, byte: u8) -> bool {
        let mut found = false;
        self.open.retain_mut(|capture| match capture.phase {
            Phase::Separator => match byte {
                b' ' | b'\t' | b'\r' | b'\n' | b'*' => true,
                b'=' | b':' => {
                    capture.phase = Phase::Value;
                    true
                }
                _ => false,
            },
            Phase::Value => {
                if !(byte <= b' ' || matches!(byte, b'"' | b'\'' | b'<')) {
                    capture.phase = Phase::Reading;
                    capture.value.push(byte);
                }
                true
            }
            Phase::Reading => match byte {
                b'\r' => true,
                b'\n' if capture.after_line_feed => {
                    found |= capture.names_method(false);
                    false
                }
                b'\n' => {
                    capture.after_line_feed = true;
                    capture.first_line.get_or_insert(capture.value.len());
                    true
                }
                _ if capture.value.len() < VALUE_CAP => {
                    capture.after_line_feed = false;
                    capture.value.push(byte);
                    true
                }
                _ => {
                    found |= capture.names_method(true);
                    false
                }
            },
        });
        found
    }

    /// Whether `key` (lower case) ends at `chunk[i]`, in any case, line breaks left out (PHP
    /// joins `na` and `me=` on two lines); it may begin in the tail.
    fn key_ends_at(&self, chunk: &[u8], i: usize, key: &[u8]) -> bool {
        // Most `e` and `d` bytes end no key: the letter and the one before it first (when that
        // one is in this chunk and not a line break).
        let (Some(&last), Some(&here)) = (key.last(), chunk.get(i)) else {
            return false;
        };
        let prev = i.checked_sub(1).and_then(|p| chunk.get(p));
        let want = key.len().checked_sub(2).and_then(|k| key.get(k));
        if here.to_ascii_lowercase() != last
            || matches!((prev, want), (Some(p), Some(w))
                if !matches!(p, b'\r' | b'\n') && p.to_ascii_lowercase() != *w)
        {
            return false;
        }
        let before = chunk.get(..=i).unwrap_or_default().iter().rev();
        let mut back =
            (before.chain(self.tail.iter().rev())).filter(|b| !matches!(b, b'\r' | b'\n'));
        (key.iter().rev()).all(|want| back.next().is_some_and(|b| b.to_ascii_lowercase() == *want))
    }

    fn keep_tail(&mut self, chunk: &[u8]) {
        let kept = chunk
            .iter()
            .rev()
            .filter(|b| !matches!(b, b'\r' | b'\n'))
            .take(TAIL);
        let kept: Vec<u8> = kept.copied().collect();
        self.tail.rotate_left(kept.len());
        for (slot, byte) in self.tail.iter_mut().rev().zip(kept) {
            *slot = byte;
        }
    }
}

impl Capture {
    /// Whether the value names `_method` as any reader may take it: up to its first line
    /// break, or with the next lines joined (PHP); `long`: it went on past [`VALUE_CAP`].
    fn names_method(&self, long: bool) -> bool {
        let first = self.first_line.and_then(|end| self.value.get(..end));
        first.is_some_and(|v| names_method(v, false)) || names_method(&self.value, long)
    }
}

/// Whether a value read after a key names `_method`, as any reader may take it: its first
/// token, its quoted form unescaped, its RFC 2231 and RFC 2047 forms, each percent-decoded.
/// `long`: it went on past [`VALUE_CAP`] bytes; a first token that long is judged on whether
/// its start holds `method`, an escape or an encoded word (no spelling of `_method` puts them
/// further: PHP's leading spaces were skipped before the value, and a bracket comes after
/// the name: `_method[...]`).
fn names_method(value: &[u8], long: bool) -> bool {
    // Every reading of `_method` holds `method` as such, or an escape that could spell it (`%`,
    // `\`, an encoded word's `?`): most values (a YAML or HTML file's `name: x`) stop here.
    if !(value.iter().any(|b| matches!(b, b'%' | b'\\' | b'?')) || contains_ci(value, b"method")) {
        return false;
    }
    // A token ends at whitespace or a control byte (PHP ends a name at a NUL, `\v` or `\f`).
    let delimiter = |b: &u8| *b <= b' ' || b";,\"'>".contains(b);
    let token = cut(value, delimiter);
    if long && token.len() == value.len() {
        return contains_ci(value, b"method") || value.contains(&b'%') || contains_ci(value, b"=?");
    }
    let unquoted = unescape_quoted(value);
    // RFC 2231: `charset'language'value`, the language often empty.
    let extended = (value.iter().enumerate())
        .filter(|(_, b)| **b == b'\'')
        .nth(1)
        .and_then(|(at, _)| value.get(at + 1..))
        .map(|rest| cut(rest, |b| *b <= b' ' || b";,\"".contains(b)));
    read_as_method(token) || read_as_method(&unquoted) || extended.is_some_and(read_as_method)
}

/// A candidate as written or as an RFC 2047 encoded word.
fn read_as_method(candidate: &[u8]) -> bool {
    spelled(candidate) || encoded_word(candidate).is_some_and(|word| spelled(&word))
}

/// Compared as PHP and Java leave it: up to a NUL (C strings), without the bytes up to a
/// space at either end (Java's `trim`).
fn spelled(candidate: &[u8]) -> bool {
    let candidate = cut(candidate, |b| *b == 0);
    let start = candidate
        .iter()
        .position(|b| *b > b' ')
        .unwrap_or(candidate.len());
    let end = candidate
        .iter()
        .rposition(|b| *b > b' ')
        .map_or(start, |e| e + 1);
    let text = String::from_utf8_lossy(candidate.get(start..end).unwrap_or_default());
    is_spelling_of(&text, METHOD_FIELD)
        || (text.contains('%') && is_spelling_of(&decode_component(&text), METHOD_FIELD))
}

/// A quoted-string's content: `\x` is `x`, up to the closing quote.
fn unescape_quoted(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut escaped = false;
    for &b in value {
        match (escaped, b) {
            (false, b'\\') => escaped = true,
            (false, b'"') => break,
            _ => {
                out.push(b);
                escaped = false;
            }
        }
    }
    out
}

/// An RFC 2047 encoded word, `=?charset?B?base64?=` or `=?charset?Q?text?=`, decoded as
/// ASP.NET Core decodes it (whitespace in the base64 ignored), then read as ASCII whatever
/// its charset: NUL bytes (UTF-16 and UTF-32 of ASCII) and a byte-order mark left out.
fn encoded_word(candidate: &[u8]) -> Option<Vec<u8>> {
    let inner = candidate.strip_prefix(b"=?")?;
    let inner = inner.strip_suffix(b"?=").unwrap_or(inner);
    let mut parts = inner.splitn(3, |b| *b == b'?');
    let (_charset, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = match encoding {
        b"B" | b"b" => {
            let text: Vec<u8> = text.iter().copied().filter(|b| *b > b' ').collect();
            base64::decode(&String::from_utf8_lossy(&text), Alphabet::Standard)?
        }
        b"Q" | b"q" => {
            let text = String::from_utf8_lossy(text).replace('=', "%");
            decode_component(&text).into_bytes()
        }
        _ => return None,
    };
    let ascii: Vec<u8> = bytes.into_iter().filter(|b| *b != 0).collect();
    let ascii = (ascii.strip_prefix(&[0xef, 0xbb, 0xbf]))
        .or_else(|| ascii.strip_prefix(&[0xff, 0xfe]))
        .or_else(|| ascii.strip_prefix(&[0xfe, 0xff]))
        .unwrap_or(&ascii);
    Some(ascii.to_vec())
}

fn cut(value: &[u8], delimiter: impl Fn(&u8) -> bool) -> &[u8] {
    let end = value.iter().position(delimiter);
    &value[..end.unwrap_or(value.len())]
}

fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

// --- JSON -----------------------------------------------------------------------------------

/// The bytes of a key kept: `_method` and one more, to tell a longer key.
const KEY_CAP: usize = METHOD_FIELD.len() + 1;

#[derive(Debug, Default)]
struct Keys {
    in_string: bool,
    escape: Escape,
    key: [u8; KEY_CAP],
    /// The string's length so far (decoded), saturating.
    len: usize,
    /// The string just closed reads `_method`: a key if a `:` follows.
    candidate: bool,
}

#[derive(Debug, Default, Clone, Copy)]
enum Escape {
    #[default]
    None,
    Backslash,
    /// `\u`: the hex digits still to come and the value so far.
    Unicode {
        left: u8,
        value: u32,
    },
}

impl Keys {
    fn feed(&mut self, chunk: &[u8]) -> bool {
        let mut i = 0;
        while let Some(&byte) = chunk.get(i) {
            let plain = !matches!(byte, b'"' | b'\\');
            let long_string =
                self.in_string && matches!(self.escape, Escape::None) && self.len > KEY_CAP;
            // Outside strings, with no key pending, only a quote matters.
            let between = !self.in_string && !self.candidate;
            if plain && (long_string || between) {
                // Skip to the next quote (or escape, inside a string): a long string cannot be
                // the key, and nothing between strings can start one.
                match (chunk.get(i..).unwrap_or_default())
                    .iter()
                    .position(|b| matches!(b, b'"' | b'\\'))
                {
                    Some(k) => i += k,
                    None => break,
                }
                continue;
            }
            if self.in_string {
                self.string_byte(byte);
            } else if self.outside_byte(byte) {
                return true;
            }
            i += 1;
        }
        false
    }

    /// A byte inside a string (it never finds anything itself: the `:` after it does).
    fn string_byte(&mut self, byte: u8) {
        match self.escape {
            Escape::Backslash => {
                if byte == b'u' {
                    self.escape = Escape::Unicode { left: 4, value: 0 };
                } else {
                    self.escape = Escape::None;
                    self.push(unescaped(byte));
                }
            }
            Escape::Unicode { left, value } => {
                let Some(digit) = (byte as char).to_digit(16) else {
                    // Not JSON: no reader takes a key from it.
                    self.escape = Escape::None;
                    self.push(0xff);
                    return;
                };
                let value = value * 16 + digit;
                if left > 1 {
                    self.escape = Escape::Unicode {
                        left: left - 1,
                        value,
                    };
                } else {
                    self.escape = Escape::None;
                    self.push(
                        u8::try_from(value)
                            .ok()
                            .filter(u8::is_ascii)
                            .unwrap_or(0xff),
                    );
                }
            }
            Escape::None => match byte {
                b'\\' => self.escape = Escape::Backslash,
                b'"' => {
                    self.in_string = false;
                    self.candidate = self.len == METHOD_FIELD.len()
                        && self.key[..METHOD_FIELD.len()]
                            .eq_ignore_ascii_case(METHOD_FIELD.as_bytes());
                }
                other => self.push(other),
            },
        }
    }

    /// A byte outside strings: true when it is the `:` after a `_method` string.
    fn outside_byte(&mut self, byte: u8) -> bool {
        if matches!(byte, b' ' | b'\t' | b'\r' | b'\n') {
            return false;
        }
        let key = self.candidate && byte == b':';
        self.candidate = false;
        if byte == b'"' {
            self.in_string = true;
            self.len = 0;
        }
        key
    }

    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.key.get_mut(self.len) {
            *slot = byte;
        }
        self.len = self.len.saturating_add(1);
    }
}

/// The byte a JSON escape `\x` stands for (`\"`, `\\`, `\/` and the control escapes).
fn unescaped(byte: u8) -> u8 {
    match byte {
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::{applies, BodyScan};

    fn scan(body: &[u8]) -> bool {
        let mut whole = BodyScan::new();
        whole.feed(body);
        let whole = whole.finish();
        // Every split gives the same answer, and so does a byte at a time.
        for at in 0..=body.len() {
            let mut split = BodyScan::new();
            split.feed(&body[..at]);
            split.feed(&body[at..]);
            assert_eq!(split.finish(), whole, "split at {at}: {body:?}");
        }
        let mut bytes = BodyScan::new();
        body.iter().for_each(|b| {
            bytes.feed(&[*b]);
        });
        assert_eq!(bytes.finish(), whole, "a byte at a time: {body:?}");
        whole
    }

    fn part(disposition: &str) -> Vec<u8> {
        format!("--XyZ\r\nContent-Disposition: {disposition}\r\n\r\nDELETE\r\n--XyZ--\r\n")
            .into_bytes()
    }

    #[test]
    fn kinds_of_content_types() {
        for (ct, kind) in [
            ("multipart/form-data; boundary=x", true),
            ("Multipart/Mixed; boundary=x", true),
            ("application/json", true),
            ("application/vnd.api+json", true),
            ("text/JSON; charset=utf-8", true),
            ("application/x-www-form-urlencoded; profile=/json", true),
            (
                " multipart/form-data; x=\"application/x-www-form-urlencoded\"",
                true,
            ),
            ("application/x-www-form-urlencoded", false),
            ("text/plain", false),
            ("application/octet-stream", false),
        ] {
            assert_eq!(applies(ct), kind, "{ct}");
        }
    }

    #[test]
    fn multipart_names_read_as_method() {
        for disposition in [
            "form-data; name=\"_method\"",
            "form-data; name=_method",
            "form-data; NAME = \"_METHOD\"",
            "form-data; name=\"   _method\"",
            "form-data; name=\".method\"",
            "form-data; name=\"_method[]\"",
            "form-data; name=\"[_method]\"",
            "form-data; name=\"%5Fmethod\"",
            "form-data; name=\"_m\\ethod\"",
            "form-data; name*=utf-8''%5Fmethod",
            "form-data; name*=UTF-8'en'_method",
            "form-data; name=\"=?utf-8?B?X21ldGhvZA==?=\"",
            "form-data; name=\"=?utf-8?Q?=5Fmethod?=\"",
            "form-data; filename=\"a;name=_method\"",
            "form-data; name=\"x\"; name=\"_method\"",
            "form-data; name=\"_method;x\"",
            "form-data; name=\n \"_method\"",
            "form-data\r\nContent-ID: <_method>",
            "form-data\r\nContent-ID: _method",
            // PHP joins a line without a colon to the one before; it ends a name at a NUL and
            // skips `\v` and `\f`; Java's `trim` drops every byte up to a space.
            "form-data; name=\"_met\r\nhod\"",
            "form-data; na\r\nme=\"_method\"",
            "form-data; name=\"_method\0x\"",
            "form-data; name=\x0b_method",
            "form-data; name=_method\x0c",
            "form-data; name=\"_method\x01\"",
            "form-data; name=\"\x1f_method\"",
            // ASP.NET Core: whitespace in the base64, UTF-16 and UTF-32 charsets.
            "form-data; name=\"=?utf-8?B?X21ld GhvZA==?=\"",
            "form-data; name=\"=?utf-16?B?XwBtAGUAdABoAG8AZAA=?=\"",
            "form-data; name=\"=?utf-16?B?//5fAG0AZQB0AGgAbwBkAA==?=\"",
        ] {
            assert!(scan(&part(disposition)), "{disposition}");
        }
    }

    #[test]
    fn other_multipart_names_pass() {
        for disposition in [
            "form-data; name=\"payment_method\"",
            "form-data; name=\"method\"",
            "form-data; name=\"_methods\"",
            "form-data; name=\"file\"; filename=\"methods.txt\"",
            "form-data; name=\"x\"",
            "form-data; name=note\r\n_method: x",
            "form-data; name=\"=?utf-8?B?cGF5bWVudF9tZXRob2Q=?=\"",
        ] {
            assert!(!scan(&part(disposition)), "{disposition}");
        }
        let prose = b"--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n\
            The method's name is: secret, and the name is _method.\r\n--b--\r\n";
        assert!(!scan(prose));
    }

    #[test]
    fn a_value_at_the_end_of_the_body_is_read_when_it_ends() {
        let mut scan = BodyScan::new();
        assert!(!scan.feed(b"--b\r\nContent-Disposition: form-data; name=_method"));
        assert!(scan.finish());
    }

    #[test]
    fn long_multipart_values_are_judged_on_what_they_hold() {
        let long = |v: &str| format!("form-data; name=\"{v}\"");
        let pad = "a".repeat(200);
        assert!(scan(&part(&long(&format!("_method[{pad}]")))));
        assert!(scan(&part(&long(&format!("%5F{pad}")))));
        assert!(!scan(&part(&long(&pad))));
        assert!(!scan(&part(&long(&format!("{pad}_method")))));
        // Leading spaces (PHP drops them) are skipped before the value, however many.
        let spaces = " ".repeat(500);
        assert!(scan(&part(&format!("form-data; name={spaces}_method"))));
    }

    #[test]
    fn json_keys_read_as_method() {
        for body in [
            r#"{"_method":"DELETE"}"#,
            r#"{ "a": 1, "_method" : "DELETE" }"#,
            r#"{"_METHOD":"put"}"#,
            r#"{"\u005fmethod":"DELETE"}"#,
            r#"{"\u005F\u006d\u0065thod":"DELETE"}"#,
            r#"{"data":{"_method":"DELETE"}}"#,
            "{\"_method\"\n\t:\"DELETE\"}",
        ] {
            assert!(scan(body.as_bytes()), "{body}");
        }
    }

    #[test]
    fn other_json_passes() {
        for body in [
            r#"{"payment_method":"card"}"#,
            r#"{"method":"DELETE"}"#,
            r#"{"note":"_method"}"#,
            r#"["_method", "x"]"#,
            r#"{"note":"a \"_method\": b"}"#,
            r#"{"_method_":"x"}"#,
            r#"{"_metho":"x"}"#,
            r#"{"\u005fmethodx":"x"}"#,
        ] {
            assert!(!scan(body.as_bytes()), "{body}");
        }
        let long = format!(
            r#"{{"text":"{}","_method":"DELETE"}}"#,
            "x\\\"y".repeat(300)
        );
        assert!(scan(long.as_bytes()));
    }
}
