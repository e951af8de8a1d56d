//! The JSON reader: every string followed by `:` (a key, at any depth), escapes decoded, equal
//! to `_method` in any case; and a top-level key named as a credential (any case), whose
//! value must be a string equal to one checked.

use super::{differs_at, Expected, Finding, METHOD_FIELD};
use std::mem::take;

#[derive(Debug, Default)]
pub(super) struct Keys {
    in_string: bool,
    escape: Escape,
    /// The string's decoded bytes, up to `cap`.
    text: Vec<u8>,
    /// The string's length so far (decoded), saturating.
    len: usize,
    /// The bytes of the string kept: a key's (`_method` or the longest credential name, and
    /// one more to tell a longer key), or a credential value's (the longest accepted, and one).
    cap: usize,
    key_cap: usize,
    /// The string just closed reads `_method`: a key if a `:` follows.
    candidate: bool,
    /// A top-level string just closed names this credential: its key if a `:` follows.
    named: Option<usize>,
    /// After that key's `:`: the value must be a string.
    awaiting: Option<usize>,
    /// The string being read is that credential's value.
    value_of: Option<usize>,
    /// Objects and arrays open (credentials wanted only: brackets are skipped otherwise).
    depth: usize,
    counts_depth: bool,
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
    pub(super) fn new(expected: &[Expected]) -> Keys {
        let longest = expected.iter().map(|e| e.name.len()).max().unwrap_or(0);
        Keys {
            key_cap: longest.max(METHOD_FIELD.len()) + 1,
            counts_depth: !expected.is_empty(),
            ..Keys::default()
        }
    }

    pub(super) fn feed(
        &mut self,
        chunk: &[u8],
        method: bool,
        expected: &[Expected],
    ) -> Option<Finding> {
        let mut i = 0;
        while let Some(&byte) = chunk.get(i) {
            let long_string =
                self.in_string && matches!(self.escape, Escape::None) && self.len > self.cap;
            // Outside strings, with no key pending, only a quote (and with credentials
            // wanted, a bracket) matters.
            let between = !self.in_string
                && !self.candidate
                && self.named.is_none()
                && self.awaiting.is_none();
            let brackets = between && self.counts_depth;
            let stop = |b: &u8| {
                matches!(b, b'"' | b'\\') || (brackets && matches!(b, b'{' | b'}' | b'[' | b']'))
            };
            if !stop(&byte) && (long_string || between) {
                // Skip to the next quote (or escape, inside a string): a long string cannot be
                // the key, and nothing between strings can start one.
                match (chunk.get(i..).unwrap_or_default()).iter().position(stop) {
                    Some(k) => i += k,
                    None => break,
                }
                continue;
            }
            if self.in_string {
                if let Some(found) = self.string_byte(byte, expected) {
                    return Some(found);
                }
            } else if let Some(found) = self.outside_byte(byte, method, expected) {
                return Some(found);
            } else if let Some((skip, found)) =
                self.whole_string(chunk.get(i + 1..).unwrap_or_default(), expected)
            {
                if found.is_some() {
                    return found;
                }
                i += skip;
                continue;
            }
            i += 1;
        }
        None
    }

    /// A string that just opened, when it closes in `rest` without an escape: read whole
    /// rather than byte by byte (most strings of a payload are short). Returns the bytes from
    /// its opening quote to past its closing one.
    fn whole_string(
        &mut self,
        rest: &[u8],
        expected: &[Expected],
    ) -> Option<(usize, Option<Finding>)> {
        if !self.in_string {
            return None;
        }
        let k = rest.iter().position(|b| matches!(b, b'"' | b'\\'))?;
        (rest.get(k) == Some(&b'"')).then(|| {
            let text = rest.get(..k).unwrap_or_default();
            (k + 2, self.closed(text, k, expected))
        })
    }

    /// A string closed (`text`: its decoded bytes kept, `len`: all of them): a credential's
    /// value is compared, another string may be a key.
    fn closed(&mut self, text: &[u8], len: usize, expected: &[Expected]) -> Option<Finding> {
        self.in_string = false;
        let whole = (text.len() == len).then_some(text);
        if let Some(slot) = self.value_of.take() {
            let same = whole.is_some_and(|v| expected.get(slot).is_some_and(|e| e.accepts(v)));
            return (!same).then(|| differs_at(expected, slot));
        }
        self.candidate = whole.is_some_and(is_method);
        self.named = whole.filter(|_| self.depth == 1).and_then(|key| {
            (expected.iter()).position(|e| key.eq_ignore_ascii_case(e.name.as_bytes()))
        });
        None
    }

    /// A byte inside a string (a key never finds anything itself: the `:` after it does).
    fn string_byte(&mut self, byte: u8, expected: &[Expected]) -> Option<Finding> {
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
                    return None;
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
                    let text = take(&mut self.text);
                    let found = self.closed(&text, self.len, expected);
                    self.text = text;
                    return found;
                }
                other => self.push(other),
            },
        }
        None
    }

    /// A byte outside strings: the `:` after a `_method` string, or a credential key's value
    /// that is not a string (a number, `null`, an object: an upstream reads it, and it is not
    /// the credential checked).
    fn outside_byte(&mut self, byte: u8, method: bool, expected: &[Expected]) -> Option<Finding> {
        if matches!(byte, b' ' | b'\t' | b'\r' | b'\n') {
            return None;
        }
        if let Some(slot) = self.awaiting.take() {
            if byte != b'"' {
                return Some(differs_at(expected, slot));
            }
            self.value_of = Some(slot);
            let longest = expected.get(slot).map_or(0, Expected::longest);
            self.open_string(longest + 1);
            return None;
        }
        let key = self.candidate && byte == b':';
        self.candidate = false;
        self.awaiting = self.named.take().filter(|_| byte == b':');
        match byte {
            b'"' => self.open_string(self.key_cap),
            b'{' | b'[' => self.depth = self.depth.saturating_add(1),
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        (key && method).then_some(Finding::Method)
    }

    fn open_string(&mut self, cap: usize) {
        self.in_string = true;
        self.len = 0;
        self.cap = cap;
        self.text.clear();
    }

    fn push(&mut self, byte: u8) {
        if self.len < self.cap {
            self.text.push(byte);
        }
        self.len = self.len.saturating_add(1);
    }
}

/// Whether a string's decoded bytes read `_method`, in any case.
fn is_method(text: &[u8]) -> bool {
    text.eq_ignore_ascii_case(METHOD_FIELD.as_bytes())
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
