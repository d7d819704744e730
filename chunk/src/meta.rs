//! [`EntryMeta`]: the write time and expiry stored with a put (format version
//! 2), and the encoding of the metadata prefix of a kind-2 entry's value field.
//!
//! ```text
//! value field of a kind-2 entry (value_len covers all of it):
//!
//!   +--------------------+----------------------+-----------------------+
//!   | write_ms : varint  | expires_ms : varint  | user value ...        |
//!   +--------------------+----------------------+-----------------------+
//!   |<-------- metadata prefix (2..=20) ------->|
//! ```

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use crate::coding::{get_varint, put_varint, varint_len};

/// Metadata stored with a put (chunk format version 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EntryMeta {
    /// When the write was committed, in ms since the Unix epoch (0: unknown).
    pub write_ms: u64,
    /// When the value expires, in ms since the Unix epoch; 0: never.
    pub expires_ms: u64,
}

impl EntryMeta {
    /// True once `now_ms` has reached the expiry (never when `expires_ms == 0`).
    pub fn is_expired_at(&self, now_ms: u64) -> bool {
        self.expires_ms != 0 && now_ms >= self.expires_ms
    }

    /// Length of the metadata prefix [`EntryMeta::encode_prefix`] writes.
    #[inline]
    pub(crate) fn prefix_len(&self) -> usize {
        varint_len(self.write_ms).saturating_add(varint_len(self.expires_ms))
    }

    /// Appends the metadata prefix `write_ms:varint ++ expires_ms:varint`.
    #[inline]
    pub(crate) fn encode_prefix(&self, out: &mut Vec<u8>) {
        put_varint(out, self.write_ms);
        put_varint(out, self.expires_ms);
    }

    /// Decodes the metadata prefix at the start of a kind-2 value field:
    /// the metadata and the prefix length (where the user value starts).
    /// The error names what was malformed: a varint that is truncated (runs
    /// past the end of the value field), overlong or overflowing.
    #[inline]
    pub(crate) fn decode_prefix(field: &[u8]) -> Result<(EntryMeta, usize), &'static str> {
        let (write_ms, a) =
            get_varint(field).ok_or("entry metadata: write_ms varint truncated or overlong")?;
        let rest = field.get(a..).unwrap_or_default();
        let (expires_ms, b) =
            get_varint(rest).ok_or("entry metadata: expires_ms varint truncated or overlong")?;
        let len = a
            .checked_add(b)
            .ok_or("entry metadata: prefix length overflows")?;
        Ok((
            EntryMeta {
                write_ms,
                expires_ms,
            },
            len,
        ))
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
    fn expiry() {
        let never = EntryMeta {
            write_ms: 5,
            expires_ms: 0,
        };
        assert!(!never.is_expired_at(0));
        assert!(!never.is_expired_at(u64::MAX));
        let m = EntryMeta {
            write_ms: 5,
            expires_ms: 100,
        };
        assert!(!m.is_expired_at(0));
        assert!(!m.is_expired_at(99));
        assert!(m.is_expired_at(100));
        assert!(m.is_expired_at(u64::MAX));
        assert!(!EntryMeta::default().is_expired_at(u64::MAX));
    }

    #[test]
    fn prefix_round_trip_and_every_truncation_fails() {
        let values = [0u64, 1, 127, 128, 1_764_547_200_000, u64::MAX];
        for &w in &values {
            for &e in &values {
                let m = EntryMeta {
                    write_ms: w,
                    expires_ms: e,
                };
                let mut buf = Vec::new();
                m.encode_prefix(&mut buf);
                assert_eq!(buf.len(), m.prefix_len());
                assert_eq!(EntryMeta::decode_prefix(&buf), Ok((m, buf.len())));
                // A user value after the prefix is not part of it.
                buf.extend_from_slice(b"\x80\xffvalue");
                assert_eq!(EntryMeta::decode_prefix(&buf), Ok((m, m.prefix_len())));
                for cut in 0..m.prefix_len() {
                    assert!(
                        EntryMeta::decode_prefix(&buf[..cut]).is_err(),
                        "{m:?} {cut}"
                    );
                }
            }
        }
    }

    #[test]
    fn overlong_and_overflowing_varints_are_rejected() {
        // 11 bytes with the continuation bit: overlong write_ms.
        let mut overlong = vec![0x80; 11];
        overlong.push(0);
        assert!(EntryMeta::decode_prefix(&overlong)
            .unwrap_err()
            .contains("write_ms"));
        // A 10-byte varint whose last byte carries more than 64 bits.
        let mut overflow = vec![1];
        overflow.extend_from_slice(&[0xff; 9]);
        overflow.push(0x02);
        assert!(EntryMeta::decode_prefix(&overflow)
            .unwrap_err()
            .contains("expires_ms"));
    }
}
