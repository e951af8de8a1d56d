//! Byte classes shared by the pattern compiler and the matchers.

/// APIcast's placeholder class `[\w\-.~%!$&'()*+,;=@:]`, as a 256-bit table.
const PLACEHOLDER: ByteSet = {
    let mut set = ByteSet([0; 4]);
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'_' | b'-'
                    | b'.'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'@'
                    | b':'
            )
        {
            set.0[b / 64] |= 1 << (b % 64);
        }
        b += 1;
    }
    set
};

#[inline]
pub(super) fn is_placeholder_byte(byte: u8) -> bool {
    PLACEHOLDER.contains(byte)
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
