//! Reading WAL segments back at open (replay).

// Decodes untrusted bytes: no unwrap or expect, no unchecked indexing or arithmetic.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::record::RecordLayout;
use super::{RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_MAGIC, WAL_FORMAT_VERSION};
use crate::error::{Error, Result};

/// What one segment held.
#[derive(Debug)]
pub(crate) struct SegmentReplay {
    /// Record payloads, in order (zero-copy slices of the file contents).
    pub records: Vec<Bytes>,
    /// Length of the valid prefix of the file.
    pub valid_len: u64,
    /// True when a torn tail follows `valid_len` (only in the newest segment).
    pub torn: bool,
    /// The epoch of the writer that wrote the segment (0 when the header is torn).
    pub epoch: u64,
    /// How its records are laid out (by the header's format version).
    pub layout: RecordLayout,
    /// True when the segment never received a complete header: a crash while creating it
    /// (by a build that created segments in place). It holds no write.
    pub headerless: bool,
}

impl SegmentReplay {
    /// A segment without a complete header (or gone): no records.
    fn empty() -> SegmentReplay {
        SegmentReplay {
            records: Vec::new(),
            valid_len: 0,
            torn: false,
            epoch: 0,
            layout: RecordLayout::Timed,
            headerless: true,
        }
    }
}

/// Segment numbers in `dir`, ascending. Other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".wal") else {
            continue;
        };
        if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = stem.parse::<u64>() {
                out.push((n, entry.path()));
            }
        }
    }
    out.sort_unstable_by_key(|(n, _)| *n);
    Ok(out)
}

/// Reads and checks one segment. `newest` selects the torn-tail rule: only the
/// newest segment may end in a torn record; anywhere else a bad record is
/// corruption.
///
/// A segment that vanished after it was listed yields no records: segments
/// are only ever deleted once their memtable is in a published chunk (a
/// previous instance in this process may still be finishing that cleanup).
pub(crate) fn replay_segment(path: &Path, newest: bool) -> Result<SegmentReplay> {
    let data = match std::fs::read(path) {
        Ok(data) => Bytes::from(data),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SegmentReplay::empty()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let object = path.display().to_string();
    if is_unfinished_header(&data) {
        return Ok(SegmentReplay::empty());
    }
    if data.len() < SEGMENT_HEADER_LEN {
        return Err(Error::corruption(
            object,
            Some(0),
            format!(
                "WAL segment is {} bytes, shorter than its {SEGMENT_HEADER_LEN}-byte header, and \
                 not the start of one (damaged)",
                data.len()
            ),
        ));
    }
    let (epoch, layout) = check_header(&data, &object)?;
    let mut records = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    while pos < data.len() {
        match parse_record(&data, pos) {
            Ok((payload, next)) => {
                records.push(payload);
                pos = next;
            }
            Err(why) => {
                if newest && !valid_record_after(&data, pos) {
                    return Ok(SegmentReplay {
                        records,
                        valid_len: pos as u64,
                        torn: true,
                        epoch,
                        layout,
                        headerless: false,
                    });
                }
                return Err(Error::corruption(
                    object,
                    Some(pos as u64),
                    format!("bad WAL record: {why}"),
                ));
            }
        }
    }
    Ok(SegmentReplay {
        records,
        valid_len: pos as u64,
        torn: false,
        epoch,
        layout,
        headerless: false,
    })
}

/// The record layout of the segment at `path` (its header, read alone);
/// `None` when the segment no longer exists.
pub(crate) fn segment_layout(path: &Path) -> Result<Option<RecordLayout>> {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    file.read_exact(&mut header)
        .map_err(|e| Error::io(path, e))?;
    let (_, layout) = check_header(&header, &path.display().to_string())?;
    Ok(Some(layout))
}

/// True for the bytes a crash can leave while a segment's header is being written in place
/// (segments are created under a temporary name now, but older builds wrote them in place):
/// nothing beyond the header's length, and what is there is a prefix of a header (magic, then a
/// known version) or zeros (a header whose data never reached the disk). Such a segment never
/// held a record.
fn is_unfinished_header(data: &[u8]) -> bool {
    if data.len() > SEGMENT_HEADER_LEN {
        return false;
    }
    if data.iter().all(|&b| b == 0) {
        return true;
    }
    let magic_len = data.len().min(SEGMENT_MAGIC.len());
    if data.get(..magic_len) != SEGMENT_MAGIC.get(..magic_len) {
        return false;
    }
    if data.len() < SEGMENT_HEADER_LEN {
        // A prefix of the magic, or the magic followed by part of the rest.
        return true;
    }
    // A full-length header that fails its checksum: the crash tore it.
    let crc = data
        .get(20..24)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes);
    data.get(..20)
        .zip(crc)
        .is_some_and(|(h, crc)| crc32fast::hash(h) != crc)
}

/// The little-endian u32 at `at` of `bytes`, if the bytes are there.
fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
}

/// Checks a segment header; returns the writer epoch it records and the
/// layout of the segment's records.
fn check_header(data: &[u8], object: &str) -> Result<(u64, RecordLayout)> {
    let corrupt = |offset: u64, why: &str| Error::corruption(object, Some(offset), why);
    let header = data
        .get(..SEGMENT_HEADER_LEN)
        .ok_or_else(|| corrupt(0, "WAL segment shorter than its header"))?;
    if header.get(..8) != Some(&SEGMENT_MAGIC[..]) {
        return Err(corrupt(0, "not a Firn WAL segment (bad magic)"));
    }
    let crc = u32_at(header, 20);
    if header.get(..20).map(crc32fast::hash) != crc {
        return Err(corrupt(0, "WAL segment header checksum mismatch"));
    }
    let version = u32_at(header, 8).unwrap_or(u32::MAX);
    let layout = match RecordLayout::of_version(version) {
        Some(layout) => layout,
        None if version > WAL_FORMAT_VERSION => {
            return Err(Error::corruption(
                object,
                Some(8),
                format!("WAL format version {version} is newer than this build supports ({WAL_FORMAT_VERSION}); upgrade Firn"),
            ))
        }
        None => return Err(corrupt(8, "WAL segment header names format version 0")),
    };
    let epoch: [u8; 8] = header
        .get(12..20)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(12, "WAL segment header cut short"))?;
    Ok((u64::from_le_bytes(epoch), layout))
}

/// Parses the record at `pos`: its payload and the offset after it.
pub(crate) fn parse_record(
    data: &Bytes,
    pos: usize,
) -> std::result::Result<(Bytes, usize), &'static str> {
    let start = pos
        .checked_add(RECORD_HEADER_LEN)
        .ok_or("record offset out of range")?;
    let header = data.get(pos..start).ok_or("record header cut short")?;
    let word = |i: usize| u32_at(header, i).ok_or("record header cut short");
    let (len, payload_crc, header_crc) = (word(0)? as usize, word(4)?, word(8)?);
    if header.get(..8).map(crc32fast::hash) != Some(header_crc) {
        return Err("record header checksum mismatch");
    }
    if len > super::MAX_RECORD_LEN {
        return Err("record length out of range");
    }
    let end = start.checked_add(len).ok_or("record length out of range")?;
    let payload = data.get(start..end).ok_or("record payload cut short")?;
    if crc32fast::hash(payload) != payload_crc {
        return Err("record payload checksum mismatch");
    }
    Ok((data.slice(start..end), end))
}

/// True when any complete, checksum-valid record starts after `pos`: then the
/// bad record at `pos` is not a torn tail but damage in the middle.
fn valid_record_after(data: &Bytes, pos: usize) -> bool {
    (pos.saturating_add(1)..data.len().saturating_sub(RECORD_HEADER_LEN - 1))
        .any(|p| parse_record(data, p).is_ok_and(|(payload, _)| !payload.is_empty()))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::super::{frame_record, WalWriter};
    use super::*;

    fn write_segment(dir: &Path, payloads: &[&[u8]]) -> PathBuf {
        let mut w = WalWriter::create(dir, 1, 7).unwrap();
        let mut buf = Vec::new();
        for p in payloads {
            frame_record(&mut buf, |b| b.extend_from_slice(p));
        }
        w.append(&buf).unwrap();
        w.sync().unwrap();
        super::super::segment_path(dir, 1)
    }

    #[test]
    fn deferred_records_reach_the_file_at_the_limit_a_plain_append_a_sync_or_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = super::super::segment_path(dir.path(), 1);
        let records = |path: &Path| replay_segment(path, true).unwrap().records.len();
        let mut w = WalWriter::create(dir.path(), 1, 7).unwrap();
        let mut one = Vec::new();
        frame_record(&mut one, |b| b.extend_from_slice(b"deferred"));
        assert!(!w.append_deferred(&one, 64).unwrap());
        assert!(!w.append_deferred(&one, 64).unwrap());
        assert_eq!(records(&path), 0, "deferred bytes reached the file early");
        assert!(w.needs_sync());
        // A plain append writes the deferred records first, in order.
        let mut plain = Vec::new();
        frame_record(&mut plain, |b| b.extend_from_slice(b"plain"));
        w.append(&plain).unwrap();
        let r = replay_segment(&path, true).unwrap().records;
        assert_eq!(
            r,
            vec![
                Bytes::from("deferred"),
                Bytes::from("deferred"),
                Bytes::from("plain")
            ]
        );
        // The limit, then a sync, then drop each hand them over.
        let mut big = Vec::new();
        frame_record(&mut big, |b| b.extend_from_slice(&[7u8; 100]));
        assert!(w.append_deferred(&big, 64).unwrap());
        assert_eq!(records(&path), 4);
        assert!(!w.append_deferred(&one, 64).unwrap());
        w.sync().unwrap();
        assert_eq!(records(&path), 5);
        assert!(!w.append_deferred(&one, 64).unwrap());
        drop(w);
        assert_eq!(records(&path), 6);
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_segment(dir.path(), &[b"one", b"two", b"three"]);
        let r = replay_segment(&path, true).unwrap();
        assert_eq!(
            r.records,
            vec![Bytes::from("one"), Bytes::from("two"), Bytes::from("three")]
        );
        assert!(!r.torn);
        assert_eq!(r.epoch, 7);
        let full = std::fs::read(&path).unwrap();
        // Every cut inside the last record is a torn tail keeping the first two.
        for cut in (full.len() - 16)..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let r = replay_segment(&path, true).unwrap();
            assert_eq!(r.records.len(), 2, "cut at {cut}");
            assert!(r.torn);
            // In an older segment the same cut is corruption.
            assert!(replay_segment(&path, false).unwrap_err().is_corruption());
        }
    }

    #[test]
    fn damage_before_the_tail_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_segment(
            dir.path(),
            &[b"first record", b"second record", b"third record"],
        );
        let full = std::fs::read(&path).unwrap();
        // Flip every byte of the first record in turn (header and payload).
        for i in SEGMENT_HEADER_LEN..SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 12 {
            let mut bad = full.clone();
            bad[i] ^= 0x40;
            std::fs::write(&path, &bad).unwrap();
            let err = replay_segment(&path, true)
                .err()
                .unwrap_or_else(|| panic!("flip at {i} not detected"));
            assert!(err.is_corruption());
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
        }
    }

    #[test]
    fn trailing_zeroes_are_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_segment(dir.path(), &[b"a", b"b"]);
        let mut full = std::fs::read(&path).unwrap();
        full.extend_from_slice(&[0u8; 100]);
        std::fs::write(&path, &full).unwrap();
        let r = replay_segment(&path, true).unwrap();
        assert_eq!(r.records.len(), 2);
        assert!(r.torn);
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300), newest: bool) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("00000000000000000001.wal");
            let mut bytes = super::super::segment_header(1).to_vec();
            bytes.extend_from_slice(&data);
            std::fs::write(&path, &bytes).unwrap();
            let _ = replay_segment(&path, newest);
            std::fs::write(&path, &data).unwrap();
            let _ = replay_segment(&path, newest);
        }
    }
}
