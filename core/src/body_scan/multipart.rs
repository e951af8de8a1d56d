//! The multipart reader: every `name` or `content-id` followed by `=` or `:`, anywhere in the
//! body, and its value in every reading a framework may give it (see the module above).

use super::METHOD_FIELD;
use crate::base64::{self, Alphabet};
use crate::encoding::decode_component;
use crate::mapping::arg_names::is_spelling_of;
use std::mem::take;

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
pub(super) struct Fields {
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
    /// The value is an RFC 2047 encoded word (`=?`): ASP.NET Core's base64 decoder ignores
    /// whitespace, however much, so it is left out rather than kept up to [`VALUE_CAP`].
    encoded_word: bool,
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
    pub(super) fn feed(&mut self, chunk: &[u8]) -> bool {
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
                _ if capture.encoded_word && byte <= b' ' => {
                    capture.after_line_feed = false;
                    true
                }
                _ if capture.value.len() < VALUE_CAP => {
                    capture.after_line_feed = false;
                    capture.value.push(byte);
                    capture.encoded_word |= capture.value == b"=?";
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

    /// The body ended: a value still being read ends there.
    pub(super) fn finish(&mut self) -> bool {
        take(&mut self.open)
            .iter()
            .any(|c| c.phase == Phase::Reading && c.names_method(false))
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
