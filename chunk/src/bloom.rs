//! The bloom filter over user keys, and the stable hash it is built on.
//!
//! The hash is XXH64 (seed 0), written out here so that the file format can
//! never change with a dependency's hash function. See FORMAT.md, "Filter block".

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use bytes::Bytes;

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

/// Largest number of probes a filter may declare.
pub(crate) const MAX_PROBES: u32 = 30;

#[inline]
fn xxh_round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

#[inline]
fn xxh_merge(acc: u64, v: u64) -> u64 {
    (acc ^ xxh_round(0, v)).wrapping_mul(P1).wrapping_add(P4)
}

/// The first 8 bytes of `b` as a little-endian u64 (callers pass at least 8).
#[inline]
fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    if let Some(head) = b.get(..8) {
        a.copy_from_slice(head);
    }
    u64::from_le_bytes(a)
}

/// The first 4 bytes of `b` as a little-endian u32 (callers pass at least 4).
#[inline]
fn le32(b: &[u8]) -> u64 {
    let mut a = [0u8; 4];
    if let Some(head) = b.get(..4) {
        a.copy_from_slice(head);
    }
    u32::from_le_bytes(a) as u64
}

/// XXH64 of `data` with `seed`, exactly as specified by the xxHash project.
/// The chunk format uses seed 0 for the bloom filter.
pub(crate) fn xxh64(data: &[u8], seed: u64) -> u64 {
    let mut rest = data;
    let mut h = if data.len() >= 32 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        let mut stripes = data.chunks_exact(32);
        for stripe in &mut stripes {
            for (lane, word) in v.iter_mut().zip(stripe.chunks_exact(8)) {
                *lane = xxh_round(*lane, le64(word));
            }
        }
        rest = stripes.remainder();
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for lane in v {
            h = xxh_merge(h, lane);
        }
        h
    } else {
        seed.wrapping_add(P5)
    };
    h = h.wrapping_add(data.len() as u64);
    let mut words = rest.chunks_exact(8);
    for w in &mut words {
        h ^= xxh_round(0, le64(w));
        h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
    }
    rest = words.remainder();
    if rest.len() >= 4 {
        h ^= le32(rest).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = rest.get(4..).unwrap_or_default();
    }
    for &b in rest {
        h ^= (b as u64).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

/// The hash the filter stores for a user key.
#[inline]
pub fn key_hash(user_key: &[u8]) -> u64 {
    xxh64(user_key, 0)
}

/// Number of probes for a bits-per-key budget: round(bits_per_key * ln 2),
/// clamped to 1..=30 (10 bits/key gives 7 probes, ~0.8% false positives).
pub(crate) fn num_probes(bits_per_key: u32) -> u32 {
    (bits_per_key.saturating_mul(69).saturating_add(50) / 100).clamp(1, MAX_PROBES)
}

/// Maps a 64-bit probe value onto `0..m` ("fastrange": the high half of x * m).
#[inline]
fn bit_index(x: u64, m: u64) -> u64 {
    ((x as u128).wrapping_mul(m as u128) >> 64) as u64
}

/// The bit positions a hash sets: x_0 = h, x_{i+1} = x_i + rotl(h, 31)
/// (wrapping), bit_i = fastrange(x_i, m), for i in 0..k.
#[inline]
fn probes(h: u64, k: u32, m: u64) -> impl Iterator<Item = u64> {
    let delta = h.rotate_left(31);
    (0..k as u64).map(move |i| bit_index(h.wrapping_add(i.wrapping_mul(delta)), m))
}

/// Builds the filter block payload (bit array followed by the probe count) for
/// the hashes of the distinct user keys of a chunk. `bits_per_key == 0`
/// builds an empty filter that matches every key.
pub(crate) fn build_filter(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
    if bits_per_key == 0 || hashes.is_empty() {
        return vec![0];
    }
    let bits = (hashes.len() as u64)
        .saturating_mul(bits_per_key as u64)
        .max(64);
    let nbytes = bits.div_ceil(8) as usize;
    let m = (nbytes as u64).saturating_mul(8);
    let k = num_probes(bits_per_key);
    let mut out = vec![0u8; nbytes.saturating_add(1)];
    for &h in hashes {
        for bit in probes(h, k, m) {
            // bit < m = 8 * nbytes, so the index is in range.
            if let Some(byte) = out.get_mut((bit / 8) as usize) {
                *byte |= 1 << (bit % 8);
            }
        }
    }
    if let Some(last) = out.last_mut() {
        *last = k as u8;
    }
    out
}

/// A decoded bloom filter. The bit array is a [`Bytes`], so it can live in a
/// buffer the filter shares (a memory-mapped local index file) or own a copy.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bloom {
    bits: Bytes,
    k: u32,
}

impl Bloom {
    /// Decodes a filter payload (bit array, then one byte of probe count) into
    /// a filter owning a copy of the bits. `None` if it is empty or declares
    /// more than [`MAX_PROBES`] probes.
    pub(crate) fn decode(payload: &[u8]) -> Option<Bloom> {
        let (&k, bits) = payload.split_last()?;
        Bloom::from_bits(Bytes::copy_from_slice(bits), k as u32)
    }

    /// A filter over the bit array `bits` (shared, not copied) with `k`
    /// probes. `None` if `k` is above [`MAX_PROBES`].
    pub(crate) fn from_bits(bits: Bytes, k: u32) -> Option<Bloom> {
        (k <= MAX_PROBES).then_some(Bloom { bits, k })
    }

    /// The bit array.
    pub(crate) fn bits(&self) -> &Bytes {
        &self.bits
    }

    /// The number of probes.
    pub(crate) fn k(&self) -> u32 {
        self.k
    }

    /// False means the key is certainly absent; true means it may be present.
    #[inline]
    pub(crate) fn may_contain(&self, user_key: &[u8]) -> bool {
        self.may_contain_hash(key_hash(user_key))
    }

    /// [`Bloom::may_contain`] for an already computed [`key_hash`].
    #[inline]
    pub(crate) fn may_contain_hash(&self, h: u64) -> bool {
        if self.k == 0 || self.bits.is_empty() {
            return true;
        }
        let m = (self.bits.len() as u64).saturating_mul(8);
        probes(h, self.k, m).all(|bit| {
            self.bits
                .get((bit / 8) as usize)
                .is_some_and(|b| b & (1 << (bit % 8)) != 0)
        })
    }

    /// Bytes of the bit array.
    pub(crate) fn memory_usage(&self) -> usize {
        self.bits.len()
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
    fn xxh64_reference_vectors() {
        assert_eq!(xxh64(b"", 0), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh64(b"a", 0), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(xxh64(b"abc", 0), 0x44BC_2CF5_AD77_0999);
        assert_eq!(xxh64(b"asdf", 0), 0x4158_72F5_99CE_A71E);
        assert_eq!(xxh64(b"Call me Ishmael.", 0), 0x6D04_390F_C9D6_1A90);
        // 39 bytes: one 32-byte stripe, then a word, then three single bytes.
        assert_eq!(
            xxh64(b"Nobody inspects the spammish repetition", 0),
            0xFBCE_A83C_8A37_8BF1
        );
    }

    #[test]
    fn probe_counts() {
        assert_eq!(num_probes(10), 7);
        assert_eq!(num_probes(1), 1);
        assert_eq!(num_probes(0), 1);
        assert_eq!(num_probes(1000), MAX_PROBES);
    }

    fn key(i: u64) -> Vec<u8> {
        format!("user{i:012}").into_bytes()
    }

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let n = 20_000u64;
        let hashes: Vec<u64> = (0..n).map(|i| key_hash(&key(i))).collect();
        let filter = build_filter(&hashes, 10);
        assert_eq!(filter.len(), (n as usize * 10).div_ceil(8) + 1);
        let bloom = Bloom::decode(&filter).expect("decodes");
        for i in 0..n {
            assert!(bloom.may_contain(&key(i)));
        }
        let probes = 200_000u64;
        let fp = (n..n + probes)
            .filter(|&i| bloom.may_contain(&key(i)))
            .count();
        let rate = fp as f64 / probes as f64;
        assert!((0.004..0.015).contains(&rate), "false positive rate {rate}");
    }

    #[test]
    fn empty_filter_matches_everything() {
        let filter = build_filter(&[1, 2, 3], 0);
        assert_eq!(filter, vec![0]);
        let bloom = Bloom::decode(&filter).expect("decodes");
        assert!(bloom.may_contain(b"anything"));
        assert!(Bloom::decode(&[]).is_none());
        assert!(Bloom::decode(&[0xff, 31]).is_none());
        assert!(Bloom::from_bits(Bytes::from_static(b"\xff"), 31).is_none());
        let shared = Bytes::from(build_filter(&[7, 8], 10));
        let bits = shared.slice(..shared.len() - 1);
        let bloom = Bloom::from_bits(bits.clone(), 7).expect("valid");
        assert_eq!(bloom.bits().as_ptr(), shared.as_ptr());
        assert_eq!((bloom.k(), bloom.memory_usage()), (7, bits.len()));
    }
}
