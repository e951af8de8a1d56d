//! Byte classes shared by the pattern compiler and the matchers.

/// What a `{var}` placeholder matches: any byte of a path segment (not `/`, and never the
/// `?` or `#` that end a path).
///
/// APIcast's class is `[\w\-.~%!$&'()*+,;=@:]`, and its rules see the path decoded then
/// re-escaped by nginx, which leaves `|`, `"`, `[`, `]`, `{`, `}`, `^` and `` ` `` decoded:
/// `/users/1%7C/export` matched no `/users/{id}/export` rule and fell to a cheaper one, while
/// every upstream router (Express, Rails, Flask, Spring, Go) serves it as that route, with an
/// id that Rails' `to_i` or `parseInt` read as 1 (found by an audit, 2026-12-05).
const PLACEHOLDER: ByteSet = {
    let mut set = ByteSet([u64::MAX; 4]);
    let mut excluded = [b'/', b'?', b'#'].as_slice();
    while let [byte, rest @ ..] = excluded {
        set.0[*byte as usize / 64] &= !(1 << (*byte as usize % 64));
        excluded = rest;
    }
    set
};

/// APIcast's own placeholder class, `[\w\-.~%!$&'()*+,;=@:]`: a rule matched only through
/// the wider [`PLACEHOLDER`] still counts, but its `last` does not stop the evaluation.
const APICAST_PLACEHOLDER: ByteSet = {
    let mut set = ByteSet([0; 4]);
    let mut byte = 0u8;
    while byte < 128 {
        if byte.is_ascii_alphanumeric() {
            set.0[byte as usize / 64] |= 1 << (byte as usize % 64);
        }
        byte += 1;
    }
    let mut others = b"_-.~%!$&'()*+,;=@:".as_slice();
    while let [byte, rest @ ..] = others {
        set.0[*byte as usize / 64] |= 1 << (*byte as usize % 64);
        others = rest;
    }
    set
};

#[inline]
pub(super) fn is_placeholder_byte(byte: u8) -> bool {
    PLACEHOLDER.contains(byte)
}

#[inline]
pub(super) fn is_apicast_placeholder_byte(byte: u8) -> bool {
    APICAST_PLACEHOLDER.contains(byte)
}

/// A set of bytes: what a pattern's literals need, or what a path contains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ByteSet([u64; 4]);

impl ByteSet {
    pub(super) fn of(bytes: &[u8]) -> ByteSet {
        // A byte-indexed table first: one store per byte, no read-modify-write chain.
        let mut seen = [false; 256];
        for &byte in bytes {
            seen[usize::from(byte)] = true;
        }
        let mut set = ByteSet::default();
        for (byte, _) in seen.iter().enumerate().filter(|(_, seen)| **seen) {
            set.0[byte / 64] |= 1 << (byte % 64);
        }
        set
    }

    pub(super) fn insert(&mut self, byte: u8) {
        self.0[usize::from(byte / 64)] |= 1 << (byte % 64);
    }

    #[inline]
    pub(super) fn contains(&self, byte: u8) -> bool {
        self.0[usize::from(byte / 64)] >> (byte % 64) & 1 == 1
    }

    pub(super) fn is_subset_of(&self, other: &ByteSet) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & !b == 0)
    }

    pub(super) fn union(&self, other: &ByteSet) -> ByteSet {
        let mut set = *self;
        set.0.iter_mut().zip(other.0).for_each(|(a, b)| *a |= b);
        set
    }

    pub(super) fn intersection(&self, other: &ByteSet) -> ByteSet {
        let mut set = *self;
        set.0.iter_mut().zip(other.0).for_each(|(a, b)| *a &= b);
        set
    }

    pub(super) fn minus(&self, other: &ByteSet) -> ByteSet {
        let mut set = *self;
        set.0.iter_mut().zip(other.0).for_each(|(a, b)| *a &= !b);
        set
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }
}
