//! One `/`-free piece of a path pattern, matched in time linear in the text.
//!
//! Placeholders never match `/`, so a pattern is matched segment by segment. Within a
//! segment, the pattern is a Shift-And automaton (one state per literal byte, `min`
//! states per placeholder, the last of which loops): every byte updates the set of live
//! states at once, so nothing backtracks. Cost: one step per text byte, of
//! `ceil(states / 64)` words.

use super::bytes::{is_apicast_placeholder_byte, is_placeholder_byte, ByteSet};

/// A piece of a segment pattern: literal bytes (no `/`), or a placeholder of `min` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Piece<'a> {
    Literal(&'a [u8]),
    Placeholder(usize),
}

/// What must follow a segment's match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// A `/`, then the next segment.
    Slash,
    /// The end of the path (the pattern's last segment, before its `$`).
    Anchored,
    /// Anything (the pattern's last segment, without `$`).
    Prefix,
}

pub(super) enum Walk<'t> {
    Fail,
    Done,
    Next(&'t [u8]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    /// No placeholder: compared directly.
    Literal(Vec<u8>),
    Automaton(Automaton),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Automaton {
    states: usize,
    words: usize,
    /// Placeholder states that loop on themselves (the last of each placeholder).
    loops: Vec<u64>,
    /// Byte → its class: 0 for bytes no state takes (`/` among them), 1 and 2 for
    /// placeholder bytes that no literal has (in APIcast's class, and not), then one class
    /// per literal byte. 512 bytes per segment buy two loads per path byte.
    class_of: Box<[u16; 256]>,
    /// For each class, the states that take its bytes (`words` words each).
    masks: Vec<u64>,
    /// The same, with placeholders of APIcast's class (`[\w\-.~%!$&'()*+,;=@:]`): a table
    /// rather than a test per byte, so the usual match pays nothing for it.
    apicast_masks: Vec<u64>,
}

impl Segment {
    pub(super) fn compile(pieces: &[Piece]) -> Segment {
        if pieces
            .iter()
            .all(|piece| matches!(piece, Piece::Literal(_)))
        {
            let literal = pieces.iter().flat_map(|piece| match piece {
                Piece::Literal(bytes) => bytes.iter().copied(),
                Piece::Placeholder(_) => [].iter().copied(),
            });
            return Segment::Literal(literal.collect());
        }
        Segment::Automaton(Automaton::compile(pieces))
    }

    /// Matches the segment that starts `text` (up to its first `/`, or the end). `Last`:
    /// the segment is the pattern's last; with `anchored`, `text` must end with it.
    /// Returns whether it matched, and for a segment that is not the last, the text
    /// after the `/` that ends it. Placeholders never take `/`, so no scan goes past it.
    /// `apicast`: placeholders take APIcast's class only.
    pub(super) fn walk<'t>(&self, text: &'t [u8], end: End, apicast: bool) -> Walk<'t> {
        match self {
            Segment::Literal(literal) => {
                let Some(rest) = text.strip_prefix(literal.as_slice()) else {
                    return Walk::Fail;
                };
                match end {
                    End::Prefix => Walk::Done,
                    End::Anchored if rest.is_empty() => Walk::Done,
                    End::Anchored => Walk::Fail,
                    End::Slash => match rest.split_first() {
                        Some((b'/', rest)) => Walk::Next(rest),
                        _ => Walk::Fail,
                    },
                }
            }
            Segment::Automaton(automaton) => {
                let masks = match apicast {
                    true => &automaton.apicast_masks,
                    false => &automaton.masks,
                };
                let (accepted, stop) = if automaton.words == 1 {
                    automaton.run_one(masks, text, end == End::Prefix)
                } else {
                    automaton.run_many(masks, text, end == End::Prefix)
                };
                match (accepted, end, text.get(stop)) {
                    (false, _, _) => Walk::Fail,
                    (true, End::Prefix, _) | (true, End::Anchored, None) => Walk::Done,
                    (true, End::Slash, Some(b'/')) => {
                        Walk::Next(text.get(stop + 1..).unwrap_or_default())
                    }
                    _ => Walk::Fail,
                }
            }
        }
    }

    pub(super) fn as_literal(&self) -> Option<&[u8]> {
        match self {
            Segment::Literal(literal) => Some(literal),
            Segment::Automaton(_) => None,
        }
    }
}

fn set_bit(words: &mut [u64], bit: usize) {
    if let Some(word) = words.get_mut(bit / 64) {
        *word |= 1 << (bit % 64);
    }
}

impl Automaton {
    /// Linear in the segment's length (plus `words` words per distinct literal byte).
    fn compile(pieces: &[Piece]) -> Automaton {
        let states: usize = pieces
            .iter()
            .map(|piece| match piece {
                Piece::Literal(bytes) => bytes.len(),
                Piece::Placeholder(min) => *min,
            })
            .sum();
        let words = states.div_ceil(64).max(1);
        let mut literal_bytes = ByteSet::default();
        for piece in pieces {
            if let Piece::Literal(bytes) = piece {
                bytes.iter().for_each(|&b| literal_bytes.insert(b));
            }
        }
        // Classes 0 (nothing), 1 and 2 (placeholder only: in APIcast's class, and not),
        // then the literal bytes in order.
        let mut class_of = Box::new([0u16; 256]);
        let mut classes = 3usize;
        for (byte, class) in (0..=255u8).zip(class_of.iter_mut()) {
            if literal_bytes.contains(byte) {
                *class = u16::try_from(classes).unwrap_or(u16::MAX);
                classes += 1;
            } else if is_apicast_placeholder_byte(byte) {
                *class = 1;
            } else if is_placeholder_byte(byte) {
                *class = 2;
            }
        }
        let mut placeholder_classes: Vec<usize> = vec![1, 2];
        // Classes whose bytes APIcast's placeholders do not take.
        let mut outside_apicast: Vec<usize> = vec![2];
        for (byte, &class) in (0..=255u8).zip(class_of.iter()) {
            if class > 2 && is_placeholder_byte(byte) {
                placeholder_classes.push(usize::from(class));
                if !is_apicast_placeholder_byte(byte) {
                    outside_apicast.push(usize::from(class));
                }
            }
        }
        let mut masks = vec![0u64; classes * words];
        let mut loops = vec![0u64; words];
        let mut placeholders = vec![0u64; words];
        let mut state = 0;
        for piece in pieces {
            match piece {
                Piece::Literal(literal) => {
                    for &byte in literal.iter() {
                        let start = usize::from(class_of[usize::from(byte)]) * words;
                        if let Some(mask) = masks.get_mut(start..start + words) {
                            set_bit(mask, state);
                        }
                        state += 1;
                    }
                }
                Piece::Placeholder(min) => {
                    for _ in 0..*min {
                        // Every placeholder byte, literal or not, reaches this state.
                        for &class in &placeholder_classes {
                            let start = class * words;
                            if let Some(mask) = masks.get_mut(start..start + words) {
                                set_bit(mask, state);
                            }
                        }
                        set_bit(&mut placeholders, state);
                        state += 1;
                    }
                    set_bit(&mut loops, state.saturating_sub(1));
                }
            }
        }
        let mut apicast_masks = masks.clone();
        for class in outside_apicast {
            let start = class * words;
            if let Some(mask) = apicast_masks.get_mut(start..start + words) {
                for (word, placeholder) in mask.iter_mut().zip(&placeholders) {
                    *word &= !placeholder;
                }
            }
        }
        Automaton {
            states,
            words,
            loops,
            class_of,
            masks,
            apicast_masks,
        }
    }

    /// The states that take `byte` (`words` words), per `masks`.
    #[inline(always)]
    fn accepts<'m>(&self, masks: &'m [u64], byte: u8) -> &'m [u64] {
        let class = usize::from(self.class_of[usize::from(byte)]);
        masks
            .get(class * self.words..(class + 1) * self.words)
            .unwrap_or_default()
    }

    /// At most 64 states: the state set is one word. Runs up to the first `/` (which no
    /// state takes) or the end; with `prefix`, stops at the first accepting state.
    /// Returns whether the automaton accepts, and where it stopped.
    /// `masks`: [`Automaton::masks`] or [`Automaton::apicast_masks`].
    fn run_one(&self, masks: &[u64], text: &[u8], prefix: bool) -> (bool, usize) {
        let accept = 1u64 << (self.states.saturating_sub(1) % 64);
        let loops = self.loops.first().copied().unwrap_or(0);
        // Before the first byte only the start (state -1) is live: shifting it in gives bit 0.
        let mut live = 0u64;
        let mut shift_in = 1u64;
        let mut i = 0;
        while let Some(&byte) = text.get(i) {
            // One word per class here.
            let class = usize::from(self.class_of[usize::from(byte)]);
            let accepts = masks.get(class).copied().unwrap_or(0);
            let next = ((live << 1) | shift_in | (live & loops)) & accepts;
            shift_in = 0;
            if next == 0 {
                // No state takes `/`: the segment ends there.
                return (byte == b'/' && live & accept != 0, i);
            }
            if prefix && next & accept != 0 {
                return (true, i);
            }
            i += 1;
            if next == live {
                // A fixed point under `byte` stays one for a run of it: skip the run.
                i += run_length(text.get(i..).unwrap_or_default(), byte);
            }
            live = next;
        }
        (live & accept != 0, i)
    }

    /// More than 64 states: the same steps over `words` words.
    fn run_many(&self, masks: &[u64], text: &[u8], prefix: bool) -> (bool, usize) {
        let last = self.states.saturating_sub(1);
        let mut live = vec![0u64; self.words];
        let mut next = vec![0u64; self.words];
        for (step, &byte) in text.iter().enumerate() {
            if byte == b'/' {
                return (bit(&live, last), step);
            }
            let accepts = self.accepts(masks, byte);
            let mut carry = u64::from(step == 0);
            let mut any = 0;
            for (w, out) in next.iter_mut().enumerate() {
                let current = live.get(w).copied().unwrap_or(0);
                let accepts = accepts.get(w).copied().unwrap_or(0);
                let loops = self.loops.get(w).copied().unwrap_or(0);
                *out = ((current << 1) | carry | (current & loops)) & accepts;
                carry = current >> 63;
                any |= *out;
            }
            std::mem::swap(&mut live, &mut next);
            if any == 0 {
                return (false, step);
            }
            if prefix && bit(&live, last) {
                return (true, step);
            }
        }
        (bit(&live, last), text.len())
    }
}

fn bit(words: &[u64], bit: usize) -> bool {
    words
        .get(bit / 64)
        .is_some_and(|word| word >> (bit % 64) & 1 == 1)
}

/// How many bytes at the start of `text` equal `byte`, eight at a time.
fn run_length(text: &[u8], byte: u8) -> usize {
    let pattern = u64::from_ne_bytes([byte; 8]);
    let mut n = 0;
    while let Some(chunk) = text.get(n..n + 8) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(chunk);
        if u64::from_ne_bytes(eight) != pattern {
            break;
        }
        n += 8;
    }
    while text.get(n) == Some(&byte) {
        n += 1;
    }
    n
}
