//! The JSON reader: every string followed by `:` (a key, at any depth), escapes decoded, equal
//! to `_method` in any case.

use super::METHOD_FIELD;

/// The bytes of a key kept: `_method` and one more, to tell a longer key.
const KEY_CAP: usize = METHOD_FIELD.len() + 1;

#[derive(Debug, Default)]
pub(super) struct Keys {
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
    pub(super) fn feed(&mut self, chunk: &[u8]) -> bool {
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
            } else if let Some(skip) = self.whole_string(chunk.get(i + 1..).unwrap_or_default()) {
                i += skip;
                continue;
            }
            i += 1;
        }
        false
    }

    /// A string that just opened, when it closes in `rest` without an escape: read whole
    /// rather than byte by byte (most strings of a payload are short). Returns the bytes from
    /// its opening quote to past its closing one.
    fn whole_string(&mut self, rest: &[u8]) -> Option<usize> {
        if !self.in_string {
            return None;
        }
        let k = rest.iter().position(|b| matches!(b, b'"' | b'\\'))?;
        (rest.get(k) == Some(&b'"')).then(|| {
            self.in_string = false;
            self.candidate = is_method(rest.get(..k).unwrap_or_default());
            k + 2
        })
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
                    self.candidate = is_method(self.key.get(..self.len).unwrap_or_default());
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
