//! The multipart reader: every `name` or `content-id` followed by `=` or `:`, anywhere in the
//! body, and its value in every reading a framework may give it (see the module above).

use super::METHOD_FIELD;
use crate::base64::{self, Alphabet};
use crate::encoding::decode_component;
use crate::mapping::arg_names::is_spelling_of;
use percent_encoding::percent_decode;
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
    /// whitespace, however much, and Tomcat drops it between two encoded words, so a run of it
    /// is kept as one space rather than up to [`VALUE_CAP`].
    encoded_word: bool,
    /// A `*` came before the separator: the value may be RFC 2231's (`name*=`).
    extended: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum Phase {
    /// After the key: white space (every control byte, and Unicode's spaces: Java's
    /// `Character.isWhitespace`), line breaks or a `*` (RFC 2231), then `=` or `:`.
    #[default]
    Separator,
    /// After the separator: whitespace and control bytes (PHP skips `\v` and `\f`, Java's
    /// `trim` every byte up to a space, Tomcat's `ParameterParser` Unicode's spaces too),
    /// quotes and `<`, then the value.
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
        self.open.retain_mut(|capture| match capture.step(byte) {
            Ok(()) => true,
            Err(named) => {
                found |= named;
                false
            }
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
    /// Moves the value on by `byte`: `Err` when it ended, with whether it names `_method`.
    fn step(&mut self, byte: u8) -> Result<(), bool> {
        match self.phase {
            // A character of more than one byte before the value (`value` holds its bytes so
            // far, a chunk may end inside it): a Unicode space is skipped.
            Phase::Separator | Phase::Value if byte > 0x7f || !self.value.is_empty() => {
                self.value.push(byte);
                match std::str::from_utf8(&self.value) {
                    Ok(c) if c.chars().all(char::is_whitespace) => self.value.clear(),
                    Err(e) if e.error_len().is_none() => {}
                    _ if self.phase == Phase::Separator => return Err(false),
                    Ok(_) => self.phase = Phase::Reading,
                    // Not UTF-8: the bytes before start the value, this one is read after them.
                    Err(_) => {
                        self.value.pop();
                        self.phase = Phase::Reading;
                        return self.step(byte);
                    }
                }
                Ok(())
            }
            Phase::Separator => match byte {
                b'=' | b':' => {
                    self.phase = Phase::Value;
                    Ok(())
                }
                b'*' => {
                    self.extended = true;
                    Ok(())
                }
                ..=b' ' | 0x7f => Ok(()),
                _ => Err(false),
            },
            Phase::Value => {
                if !(byte <= b' ' || matches!(byte, b'"' | b'\'' | b'<')) {
                    self.phase = Phase::Reading;
                    self.value.push(byte);
                }
                Ok(())
            }
            Phase::Reading => match byte {
                b'\r' => Ok(()),
                b'\n' if self.after_line_feed => Err(self.names_method(false)),
                b'\n' => {
                    self.after_line_feed = true;
                    self.first_line.get_or_insert(self.value.len());
                    Ok(())
                }
                _ if self.encoded_word && byte <= b' ' => {
                    self.after_line_feed = false;
                    if self.value.len() < VALUE_CAP && self.value.last() != Some(&b' ') {
                        self.value.push(b' ');
                    }
                    Ok(())
                }
                _ if self.value.len() < VALUE_CAP => {
                    self.after_line_feed = false;
                    self.value.push(byte);
                    self.encoded_word |= self.value == b"=?";
                    Ok(())
                }
                _ => Err(self.names_method(true)),
            },
        }
    }

    /// Whether the value names `_method` as any reader may take it: up to its first line
    /// break, or with the next lines joined (PHP); `long`: it went on past [`VALUE_CAP`].
    fn names_method(&self, long: bool) -> bool {
        let first = self.first_line.and_then(|end| self.value.get(..end));
        first.is_some_and(|v| names_method(v, false))
            || names_method(&self.value, long)
            || (long && self.extended && padded_extended(&self.value))
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
    // An encoded word's value may be padded with words that decode to nothing or to white
    // space, each followed by a byte that ends a token (Tomcat ignores what follows `?=`).
    if long && (token.len() == value.len() || value.starts_with(b"=?")) {
        return contains_ci(value, b"method") || value.contains(&b'%') || contains_ci(value, b"=?");
    }
    let unquoted = unescape_quoted(value);
    // RFC 2231: `charset'language'value`, the language often empty.
    let extended = (value.iter().enumerate())
        .filter(|(_, b)| **b == b'\'')
        .nth(1)
        .and_then(|(at, _)| value.get(at + 1..))
        .map(|rest| cut(rest, |b| *b <= b' ' || b";,\"".contains(b)));
    // Tomcat ends an unquoted value at `;` only, spaces between encoded words kept.
    read_as_method(token)
        || read_as_method(&unquoted)
        || read_as_method(cut(&unquoted, |b| *b == b';'))
        || extended.is_some_and(|rest| {
            // Decoded in its charset (Tomcat, busboy 0.x): UTF-16's NUL bytes left out.
            read_as_method(rest) || spelled(&as_ascii(percent_decode(rest).collect()))
        })
}

/// A long RFC 2231 value (`charset'language'text`), judged on what it holds: a language that
/// runs past [`VALUE_CAP`] (Tomcat and busboy ignore it: only padding is that long), or a text
/// whose start, decoded and without its white space (Tomcat trims it), may begin a spelling of
/// `_method`.
fn padded_extended(value: &[u8]) -> bool {
    let mut parts = value.splitn(3, |b| *b == b'\'');
    let (Some(_charset), Some(_language)) = (parts.next(), parts.next()) else {
        return false;
    };
    let Some(mut text) = parts.next() else {
        return true;
    };
    // An escape the cap cut short.
    if let Some(at) = (text.iter().rposition(|b| *b == b'%')).filter(|at| at + 3 > text.len()) {
        text = text.get(..at).unwrap_or_default();
    }
    let text = as_ascii(percent_decode(text).collect());
    let text = String::from_utf8_lossy(&text);
    fn trim(t: &str) -> &str {
        t.trim_start_matches(|c: char| c == '+' || java_space(c))
    }
    let start = trim(&text);
    let start = start.strip_prefix('[').map_or(start, trim);
    ["_method", ".method", "[method"].iter().any(|spelling| {
        spelling
            .bytes()
            .zip(start.bytes())
            .all(|(a, b)| a == b.to_ascii_lowercase())
    })
}

/// A candidate as written, as one RFC 2047 encoded word (ASP.NET Core) or as text with
/// encoded words in it (Tomcat), the Q encoding's `_` read as itself and as a space.
fn read_as_method(candidate: &[u8]) -> bool {
    spelled(candidate)
        || encoded_word(candidate).is_some_and(|word| spelled(&word))
        || (contains_ci(candidate, b"=?")
            && [false, true]
                .into_iter()
                .any(|space| spelled(&mime_text(candidate, space))))
}

/// Compared as PHP and Java leave it: up to a NUL (C strings), and percent-decoded.
fn spelled(candidate: &[u8]) -> bool {
    let text = String::from_utf8_lossy(cut(candidate, |b| *b == 0));
    is_method(&text) || (text.contains('%') && is_method(&decode_component(&text)))
}

/// Whether `text` is a spelling of `_method` without the white space at either end (Java's
/// `trim`: every byte up to a space; `Character.isWhitespace`: Unicode's spaces).
fn is_method(text: &str) -> bool {
    is_spelling_of(text.trim_matches(java_space), METHOD_FIELD)
}

/// Java's `trim` (every character up to a space) and `Character.isWhitespace` (Unicode's
/// spaces; Rust's reading of them is a little wider).
fn java_space(c: char) -> bool {
    c <= ' ' || c.is_whitespace()
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
/// ASP.NET Core decodes it (whitespace in the base64 ignored), what follows the last `?=` in
/// its text.
fn encoded_word(candidate: &[u8]) -> Option<Vec<u8>> {
    let inner = candidate.strip_prefix(b"=?")?;
    let inner = inner.strip_suffix(b"?=").unwrap_or(inner);
    let mut parts = inner.splitn(3, |b| *b == b'?');
    let (_charset, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
    decode_word(encoding, text, false)
}

/// Text with RFC 2047 encoded words as Tomcat's `MimeUtility.decodeText` reads it: each word
/// (between white space) that is an encoded word decoded, what follows its first `?=`
/// ignored, the white space between two encoded words dropped. `space`: the Q encoding's `_`
/// read as a space (Java's `trim` then drops it at either end).
fn mime_text(text: &[u8], space: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut after_word = false;
    let mut rest = text;
    while let Some(start) = rest.iter().position(|b| *b > b' ') {
        let (white, word) = rest.split_at(start);
        let end = word.iter().position(|b| *b <= b' ').unwrap_or(word.len());
        let (word, next) = word.split_at(end);
        rest = next;
        let decoded = mime_word(word, space);
        if !(after_word && decoded.is_some()) {
            out.extend_from_slice(white);
        }
        after_word = decoded.is_some();
        out.extend_from_slice(decoded.as_deref().unwrap_or(word));
    }
    out
}

/// One of [`mime_text`]'s words as Tomcat's `decodeWord` reads it: what follows the first
/// `?=` after its encoding ignored.
fn mime_word(word: &[u8], space: bool) -> Option<Vec<u8>> {
    let mut parts = word.strip_prefix(b"=?")?.splitn(3, |b| *b == b'?');
    let (_charset, encoding, text) = (parts.next()?, parts.next()?, parts.next()?);
    let end = text.windows(2).position(|w| w == b"?=")?;
    decode_word(encoding, text.get(..end)?, space)
}

/// An encoded word's text decoded (white space in it ignored), then read as ASCII whatever its
/// charset.
fn decode_word(encoding: &[u8], text: &[u8], space: bool) -> Option<Vec<u8>> {
    let text: Vec<u8> = text.iter().copied().filter(|b| *b > b' ').collect();
    let bytes = match encoding {
        b"B" | b"b" => base64::decode(&String::from_utf8_lossy(&text), Alphabet::Standard)?,
        b"Q" | b"q" => {
            let text: Vec<u8> = (text.into_iter())
                .map(|b| match b {
                    b'=' => b'%',
                    b'_' if space => b' ',
                    b => b,
                })
                .collect();
            percent_decode(&text).collect()
        }
        _ => return None,
    };
    Some(as_ascii(bytes))
}

/// Bytes read as ASCII whatever their charset: NUL bytes (UTF-16 and UTF-32 of ASCII) and a
/// byte-order mark left out.
fn as_ascii(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.retain(|b| *b != 0);
    for bom in [&[0xef, 0xbb, 0xbf][..], &[0xff, 0xfe], &[0xfe, 0xff]] {
        if let Some(rest) = bytes.strip_prefix(bom) {
            return rest.to_vec();
        }
    }
    bytes
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
