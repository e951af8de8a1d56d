//! A heapsort for the few lists the filter sorts (signed-URL args, usage keys, the pending
//! report list): O(n log n) whatever the input, in a few hundred bytes of Wasm per type. The
//! standard library's sort costs the module 7 to 9 KB for each type it sorts. Not stable:
//! every list sorted here has distinct items, or equal items that are the same text.

/// Sorts `v` in ascending order.
pub fn heap_sort<T: Ord>(v: &mut [T]) {
    for root in (0..v.len() / 2).rev() {
        sift(v, root, v.len());
    }
    for end in (1..v.len()).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

fn sift<T: Ord>(v: &mut [T], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && v.get(child) < v.get(child + 1) {
            child += 1;
        }
        if v.get(root) >= v.get(child) {
            return;
        }
        v.swap(root, child);
        root = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_the_standard_library() {
        for input in [
            vec![],
            vec!["b"],
            vec!["b", "a"],
            vec!["x=1", "a=2", "expires=9", "a=1", "m", "a=2", "", "zz"],
        ] {
            let mut sorted = input.clone();
            heap_sort(&mut sorted);
            let mut expected = input;
            expected.sort();
            assert_eq!(sorted, expected);
        }
        let mut pairs = vec![
            ("b".to_string(), 2u64),
            ("a".into(), 9),
            ("c".into(), 0),
            ("a".into(), 1),
        ];
        let mut expected = pairs.clone();
        expected.sort();
        heap_sort(&mut pairs);
        assert_eq!(pairs, expected);
    }
}
