//! [`KeyCmp`]: ordering prefix-compressed keys against a target without
//! rebuilding them.

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::cmp::Ordering;

/// Orders the keys met in a forward scan (from a restart point) against a
/// target user key, looking only at each entry's unshared bytes.
///
/// With `m` = length of the common prefix of the previous key and the target:
/// a key sharing `shared <= m` bytes with the previous key equals the target
/// on those bytes, so only its delta is compared with `target[shared..]`; a
/// key sharing more than `m` bytes differs from the target at byte `m`
/// exactly as the previous key did, so it orders the same way.
pub(crate) struct KeyCmp<'t> {
    target: &'t [u8],
    /// Common prefix length of the previous key and the target.
    m: usize,
    prev_len: usize,
    prev_ord: Ordering,
}

impl<'t> KeyCmp<'t> {
    pub(crate) fn new(target: &'t [u8]) -> Self {
        KeyCmp {
            target,
            m: 0,
            prev_len: 0,
            prev_ord: Ordering::Less,
        }
    }

    /// Byte order of the key `prev[..shared] ++ delta` against the target;
    /// `None` if `shared` exceeds the previous key's length (malformed).
    #[inline]
    pub(crate) fn next(&mut self, shared: usize, delta: &[u8]) -> Option<Ordering> {
        if shared > self.prev_len {
            return None;
        }
        self.prev_len = shared.checked_add(delta.len())?;
        if shared <= self.m {
            let rest = self.target.get(shared..)?;
            let l = delta.iter().zip(rest).take_while(|(a, b)| a == b).count();
            self.m = shared.checked_add(l)?;
            self.prev_ord = match (delta.get(l), rest.get(l)) {
                (Some(a), Some(b)) => a.cmp(b),
                _ => delta.len().cmp(&rest.len()),
            };
        }
        Some(self.prev_ord)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;

    #[test]
    fn key_cmp_agrees_with_full_comparison() {
        // All keys of length <= 3 over {a, b, c}, sorted: many shared prefixes.
        let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 1..=3 {
            let mut next = Vec::new();
            for k in keys.iter().filter(|k| k.len() == len - 1) {
                for c in [b'a', b'b', b'c'] {
                    let mut n = k.clone();
                    n.push(c);
                    next.push(n);
                }
            }
            keys.extend(next);
        }
        keys.sort();
        let mut targets = keys.clone();
        targets.push(b"abcd".to_vec());
        targets.push(b"d".to_vec());
        for target in &targets {
            for start in 0..keys.len() {
                let mut cmp = KeyCmp::new(target);
                let mut prev: &[u8] = &[];
                for (i, key) in keys[start..].iter().enumerate() {
                    let shared = if i == 0 {
                        0
                    } else {
                        prev.iter()
                            .zip(key.iter())
                            .take_while(|(a, b)| a == b)
                            .count()
                    };
                    let got = cmp.next(shared, &key[shared..]).expect("well formed");
                    assert_eq!(got, key.as_slice().cmp(target), "{key:?} vs {target:?}");
                    prev = key;
                }
            }
        }
        let mut cmp = KeyCmp::new(b"x");
        assert_eq!(
            cmp.next(1, b"a"),
            None,
            "sharing bytes with no previous key"
        );
    }
}
