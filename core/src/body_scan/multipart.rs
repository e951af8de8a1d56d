//! The multipart reader: every `name` or `content-id` followed by `=` or `:`, anywhere in the
//! body, and its value in every reading a framework may give it (see the module above); for
//! a name read as a credential, the content that follows the part's headers.

use super::{differs_at, worst, Expected, Finding, METHOD_FIELD};
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
/// Credential values read at once; more is taken as one that differs (a body has a few).
const MAX_VALUES: usize = 8;

#[derive(Debug, Default)]
pub(super) struct Fields {
    /// The last bytes of the chunks before, line breaks left out, most recent last.
    tail: [u8; TAIL],
    open: Vec<Capture>,
    values: Vec<Content>,
}

/// How a name's value ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Not a name: no `=` or `:` after the key.
    NotAName,
    /// At an empty line: the part's headers ended, its content follows.
    Headers,
    /// Past [`VALUE_CAP`] bytes.
    Long,
}

/// A credential field's content (`Expected` at `slot`): after the part's headers (an empty
/// line), up to a line break that a boundary's `--` follows. A content on more than one line,
/// or longer than every value accepted, differs; so does one the body ends in that differs.
#[derive(Debug)]
struct Content {
    slot: usize,
    phase: ContentPhase,
    value: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
enum ContentPhase {
    /// In the part's headers, until an empty line (`after_line_feed`: a line just ended).
    Headers {
        after_line_feed: bool,
    },
    Value,
    /// After the value's `\r`, its `\n`, its boundary's first `-`.
    Cr,
    Lf,
    Dash,
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
    pub(super) fn feed(
        &mut self,
        chunk: &[u8],
        method: bool,
        expected: &[Expected],
    ) -> Option<Finding> {
        let mut i = 0;
        while i < chunk.len() {
            if self.open.is_empty() && self.values.is_empty() {
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
            if let Some(found) = self.advance(byte, method, expected) {
                return Some(found);
            }
            if KEYS.iter().any(|key| self.key_ends_at(chunk, i, key)) {
                if self.open.len() >= MAX_OPEN {
                    // Wider than any body: taken as the worst it could hide.
                    return Some(worst(method, expected));
                }
                self.open.push(Capture::default());
            }
            i += 1;
        }
        self.keep_tail(chunk);
        None
    }

    /// Moves every credential content and open value on by `byte`: a content that differs,
    /// or a value that ended naming `_method` (when `method`), is found; one naming a
    /// credential starts reading its content.
    fn advance(&mut self, byte: u8, method: bool, expected: &[Expected]) -> Option<Finding> {
        let mut differs = None;
        self.values
            .retain_mut(|content| match content.step(byte, expected) {
                Ok(()) => true,
                Err(same) => {
                    if !same {
                        differs = differs.or(Some(differs_at(expected, content.slot)));
                    }
                    false
                }
            });
        if differs.is_some() {
            return differs;
        }
        let mut found = None;
        let values = &mut self.values;
        self.open.retain_mut(|capture| {
            let Err(end) = capture.step(byte) else {
                return true;
            };
            let long = end == End::Long;
            if end != End::NotAName {
                if method && capture.names(METHOD_FIELD, long) {
                    found = Some(Finding::Method);
                }
                for (slot, e) in expected.iter().enumerate() {
                    if capture.names(&e.name, long) {
                        values.push(Content::after(slot, end));
                    }
                }
            }
            false
        });
        if found.is_none() && self.values.len() > MAX_VALUES {
            found = Some(worst(false, expected));
        }
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

    /// The body ended: a value still being read ends there, and so does a credential's content.
    pub(super) fn finish(&mut self, method: bool, expected: &[Expected]) -> Option<Finding> {
        let open = take(&mut self.open);
        if method
            && (open.iter()).any(|c| c.phase == Phase::Reading && c.names(METHOD_FIELD, false))
        {
            return Some(Finding::Method);
        }
        let values = take(&mut self.values);
        (values.iter())
            .find(|c| !c.ends_same(expected))
            .map(|c| differs_at(expected, c.slot))
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

impl Content {
    /// After a name's value ended at `end`: at the content, or in the headers still.
    fn after(slot: usize, end: End) -> Content {
        let phase = match end {
            End::Headers => ContentPhase::Value,
            _ => ContentPhase::Headers {
                after_line_feed: false,
            },
        };
        Content {
            slot,
            phase,
            value: Vec::new(),
        }
    }

    /// Moves the content on by `byte`: `Err` when it ended, with whether it is a value
    /// accepted.
    fn step(&mut self, byte: u8, expected: &[Expected]) -> Result<(), bool> {
        let e = expected.get(self.slot).ok_or(false)?;
        match (&self.phase, byte) {
            (ContentPhase::Headers { after_line_feed }, b'\n') => {
                self.phase = match after_line_feed {
                    true => ContentPhase::Value,
                    false => ContentPhase::Headers {
                        after_line_feed: true,
                    },
                }
            }
            (ContentPhase::Headers { .. }, b'\r') => {}
            (ContentPhase::Headers { .. }, _) => {
                self.phase = ContentPhase::Headers {
                    after_line_feed: false,
                }
            }
            (ContentPhase::Value, b'\r') => self.phase = ContentPhase::Cr,
            (ContentPhase::Value | ContentPhase::Cr, b'\n') => self.phase = ContentPhase::Lf,
            (ContentPhase::Value, _) if self.value.len() < e.longest() => self.value.push(byte),
            (ContentPhase::Lf, b'-') => self.phase = ContentPhase::Dash,
            // The boundary's `--`. (A value that goes on past a line starting with `--` that
            // is not the boundary has a line break in it: no credential does.)
            (ContentPhase::Dash, b'-') => return Err(e.accepts(&self.value)),
            _ => return Err(false),
        }
        Ok(())
    }

    /// The body ended: the value so far is the content (none yet: the part has no content).
    fn ends_same(&self, expected: &[Expected]) -> bool {
        matches!(self.phase, ContentPhase::Headers { .. })
            || (expected.get(self.slot)).is_some_and(|e| e.accepts(&self.value))
    }
}

impl Capture {
    /// Moves the value on by `byte`: `Err` when it ended, with how.
    fn step(&mut self, byte: u8) -> Result<(), End> {
        match self.phase {
            // A character of more than one byte before the value (`value` holds its bytes so
            // far, a chunk may end inside it): a Unicode space is skipped.
            Phase::Separator | Phase::Value if byte > 0x7f || !self.value.is_empty() => {
                self.value.push(byte);
                match std::str::from_utf8(&self.value) {
                    Ok(c) if c.chars().all(char::is_whitespace) => self.value.clear(),
                    Err(e) if e.error_len().is_none() => {}
                    _ if self.phase == Phase::Separator => return Err(End::NotAName),
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
                _ => Err(End::NotAName),
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
                b'\n' if self.after_line_feed => Err(End::Headers),
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
                _ => Err(End::Long),
            },
        }
    }

    /// Whether the value names `name` (`_method`, a credential) as any reader may take it: up
    /// to its first line break, or with the next lines joined (PHP); `long`: it went on past
    /// [`VALUE_CAP`].
    fn names(&self, name: &str, long: bool) -> bool {
        let first = self.first_line.and_then(|end| self.value.get(..end));
        first.is_some_and(|v| names(v, name, false))
            || names(&self.value, name, long)
            || (long && self.extended && padded_extended(&self.value, name))
    }
}

/// Whether a value read after a key names `name`, as any reader may take it: its first
/// token, its quoted form unescaped, its RFC 2231 and RFC 2047 forms, each percent-decoded.
/// `long`: it went on past [`VALUE_CAP`] bytes; a first token that long is judged on whether
/// its start holds the name's longest word (`method`, `user`), an escape or an encoded word
/// (no spelling of a name puts them further: PHP's leading spaces were skipped before the
/// value, and a bracket comes after the name: `_method[...]`).
fn names(value: &[u8], name: &str, long: bool) -> bool {
    // Every reading of `_method` holds `method` as such, or an escape that could spell it (`%`,
    // `\`, an encoded word's `?`): most values (a YAML or HTML file's `name: x`) stop here.
    let word = longest_word(name);
    if !(value.iter().any(|b| matches!(b, b'%' | b'\\' | b'?')) || contains_ci(value, word)) {
        return false;
    }
    // A token ends at whitespace or a control byte (PHP ends a name at a NUL, `\v` or `\f`).
    let delimiter = |b: &u8| *b <= b' ' || b";,\"'>".contains(b);
    let token = cut(value, delimiter);
    // An encoded word's value may be padded with words that decode to nothing or to white
    // space, each followed by a byte that ends a token (Tomcat ignores what follows `?=`).
    if long && (token.len() == value.len() || value.starts_with(b"=?")) {
        return contains_ci(value, word) || value.contains(&b'%') || contains_ci(value, b"=?");
    }
    let unquoted = unescape_quoted(value);
    // RFC 2231: `charset'language'value`, the language often empty.
    let extended = (value.iter().enumerate())
        .filter(|(_, b)| **b == b'\'')
        .nth(1)
        .and_then(|(at, _)| value.get(at + 1..))
        .map(|rest| cut(rest, |b| *b <= b' ' || b";,\"".contains(b)));
    // Tomcat ends an unquoted value at `;` only, spaces between encoded words kept.
    read_as(token, name)
        || read_as(&unquoted, name)
        || read_as(cut(&unquoted, |b| *b == b';'), name)
        || extended.is_some_and(|rest| {
            // Decoded in its charset (Tomcat, busboy 0.x): UTF-16's NUL bytes left out.
            read_as(rest, name) || spelled(&as_ascii(percent_decode(rest).collect()), name)
        })
}

/// The longest run of letters and digits in a name (`method` in `_method`, `user` in
/// `user_key`): every spelling of it holds that run, in some case, unless escaped.
fn longest_word(name: &str) -> &[u8] {
    let words = name.as_bytes().split(|b| !b.is_ascii_alphanumeric());
    words.max_by_key(|w| w.len()).unwrap_or_default()
}

/// A long RFC 2231 value (`charset'language'text`), judged on what it holds: a language that
/// runs past [`VALUE_CAP`] (Tomcat and busboy ignore it: only padding is that long), or a text
/// whose start, decoded and without its white space (Tomcat trims it), may begin a spelling of
/// `name` (`_method`, `.method`, `[method`: PHP reads `.` and `[` as `_`).
fn padded_extended(value: &[u8], name: &str) -> bool {
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
    let folds =
        |n: u8, b: u8| n.eq_ignore_ascii_case(&b) || (n == b'_' && matches!(b, b'.' | b'['));
    (name.bytes()).zip(start.bytes()).all(|(n, b)| folds(n, b))
}

/// A candidate as written, as one RFC 2047 encoded word (ASP.NET Core) or as text with
/// encoded words in it (Tomcat), the Q encoding's `_` read as itself and as a space.
fn read_as(candidate: &[u8], name: &str) -> bool {
    spelled(candidate, name)
        || encoded_word(candidate).is_some_and(|word| spelled(&word, name))
        || (contains_ci(candidate, b"=?")
            && [false, true]
                .into_iter()
                .any(|space| spelled(&mime_text(candidate, space), name)))
}

/// Compared as PHP and Java leave it: up to a NUL (C strings), and percent-decoded.
fn spelled(candidate: &[u8], name: &str) -> bool {
    let text = String::from_utf8_lossy(cut(candidate, |b| *b == 0));
    is_name(&text, name) || (text.contains('%') && is_name(&decode_component(&text), name))
}

/// Whether `text` is a spelling of `name` without the white space at either end (Java's
/// `trim`: every byte up to a space; `Character.isWhitespace`: Unicode's spaces).
fn is_name(text: &str, name: &str) -> bool {
    is_spelling_of(text.trim_matches(java_space), name)
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
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}
