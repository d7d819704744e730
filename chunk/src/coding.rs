//! Little-endian fixed-width integers, LEB128 varints and checksums.
//!
//! Every reader here is bound-checked and returns `None` instead of panicking;
//! the callers turn `None` into a [`ChunkError`](crate::ChunkError) that names
//! the offset of the enclosing block.

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

/// Maximum length of an encoded u64 varint.
pub(crate) const MAX_VARINT_LEN: usize = 10;

/// Appends `v` as an unsigned LEB128 varint (7 bits per byte, low bits first,
/// high bit set on every byte but the last).
#[inline]
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Number of bytes [`put_varint`] writes for `v`.
#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    let bits = 64usize.saturating_sub((v | 1).leading_zeros() as usize);
    bits.div_ceil(7)
}

/// Decodes a varint at the start of `src`: `(value, bytes used)`.
/// `None` if it is truncated, longer than 10 bytes or overflows 64 bits.
#[inline]
pub(crate) fn get_varint(src: &[u8]) -> Option<(u64, usize)> {
    let first = *src.first()?;
    if first < 0x80 {
        return Some((first as u64, 1));
    }
    let mut value = 0u64;
    for (i, &b) in src.iter().take(MAX_VARINT_LEN).enumerate() {
        let part = (b & 0x7f) as u64;
        if i == MAX_VARINT_LEN - 1 && part > 1 {
            return None; // would overflow 64 bits
        }
        // i < MAX_VARINT_LEN (10), so the shift is below 64 and i + 1 cannot overflow.
        value |= part.wrapping_shl(7u32.wrapping_mul(i as u32));
        if b < 0x80 {
            return Some((value, i.wrapping_add(1)));
        }
    }
    None
}

/// Reads a little-endian u32 at `pos`.
#[inline]
pub(crate) fn get_u32_le(src: &[u8], pos: usize) -> Option<u32> {
    let bytes = src.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Reads a little-endian u64 at `pos`.
#[inline]
pub(crate) fn get_u64_le(src: &[u8], pos: usize) -> Option<u64> {
    let bytes = src.get(pos..pos.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// CRC-32 (IEEE 802.3, the polynomial of zlib and `crc32fast`) of the
/// concatenation of `parts`.
pub(crate) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// A bound-checked forward reader over a byte slice.
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// Starts reading at the beginning of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// True when every byte has been consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads one varint.
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let (v, n) = get_varint(self.buf.get(self.pos..)?)?;
        self.pos = self.pos.checked_add(n)?;
        Some(v)
    }

    /// Reads a varint that must fit a `usize` no larger than the remaining input
    /// (used for lengths, so that no allocation can exceed the input size).
    pub(crate) fn len_prefix(&mut self) -> Option<usize> {
        let v = self.varint()?;
        let remaining = self.buf.len().saturating_sub(self.pos);
        usize::try_from(v).ok().filter(|&n| n <= remaining)
    }

    /// Reads `n` raw bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    /// Reads a length-prefixed byte string.
    pub(crate) fn length_prefixed(&mut self) -> Option<&'a [u8]> {
        let n = self.len_prefix()?;
        self.bytes(n)
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
    fn varint_round_trip_and_lengths() {
        let values = [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u32::MAX as u64,
            (1 << 56) - 1,
            u64::MAX - 1,
            u64::MAX,
        ];
        for &v in &values {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
            assert_eq!(get_varint(&buf), Some((v, buf.len())));
            // Every truncation fails.
            for cut in 0..buf.len() {
                assert_eq!(get_varint(&buf[..cut]), None);
            }
        }
        assert_eq!(put_and_get(300), vec![0xac, 0x02]);
    }

    fn put_and_get(v: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varint(&mut buf, v);
        buf
    }

    #[test]
    fn varint_rejects_overflow_and_overlong() {
        // 10 bytes whose last carries more than one bit.
        let mut bad = vec![0xff; 9];
        bad.push(0x02);
        assert_eq!(get_varint(&bad), None);
        // 11 continuation bytes.
        assert_eq!(get_varint(&[0x80; 11]), None);
    }

    #[test]
    fn decoder_bounds() {
        let mut buf = Vec::new();
        put_varint(&mut buf, 3);
        buf.extend_from_slice(b"abc");
        put_varint(&mut buf, 7);
        let mut d = Decoder::new(&buf);
        assert_eq!(d.length_prefixed(), Some(&b"abc"[..]));
        assert_eq!(d.varint(), Some(7));
        assert!(d.is_empty());
        assert_eq!(d.varint(), None);
        assert_eq!(d.bytes(1), None);
        // A length larger than the remaining input is rejected.
        let mut d = Decoder::new(&[5, b'a']);
        assert_eq!(d.length_prefixed(), None);
    }
}
