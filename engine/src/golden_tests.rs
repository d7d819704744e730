//! Golden fixtures of the engine's own formats (`engine/tests/fixtures/`): a
//! WAL segment, a shipped WAL object (and a fence), a checkpoint object and
//! a disk cache entry, written by the
//! current format versions and checked in. Each is decoded to its known
//! contents and the encoder must still produce the same bytes, so a silent
//! layout change fails here even when encoder and decoder change together.
//!
//! The files are written only by `FIRN_BLESS_FIXTURES=1 cargo test -p
//! firn-engine --lib golden`, when a format version is added on purpose;
//! fixtures of older versions stay and must keep decoding.

use std::path::PathBuf;

use firn_chunk::BlockHandle;
use firn_manifest::ChunkId;

use crate::checkpoint::{self, Checkpoint, CHECKPOINT_FORMAT_VERSION};
use crate::read::disk_cache::{check_entry, write_entry};
use crate::write::batch::{BatchOp, WriteBatch};
use crate::write::wal::record::{decode_record, encode_timed, RecordLayout};
use crate::write::wal::shipped::{self, SHIPPED_FORMAT_VERSION};
use crate::write::wal::{frame_record, replay_segment, segment_header, WAL_FORMAT_VERSION};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The checked-in fixture `name`, written from `fresh` first when blessing.
fn golden(name: &str, fresh: &[u8]) -> Vec<u8> {
    let path = fixture(name);
    if std::env::var_os("FIRN_BLESS_FIXTURES").is_some() {
        std::fs::write(&path, fresh).unwrap();
    }
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "golden fixture {} is missing ({e}); write it with FIRN_BLESS_FIXTURES=1",
            path.display()
        )
    })
}

/// The known batches of the WAL fixture, with their first seqs.
fn wal_batches() -> Vec<(u64, WriteBatch)> {
    let mut a = WriteBatch::new();
    a.put("alpha", "one").put("beta", "");
    let mut b = WriteBatch::new();
    b.delete("alpha");
    let mut c = WriteBatch::new();
    c.put(&b"\x00\xff"[..], vec![7u8; 200]).delete("gamma");
    vec![(1, a), (3, b), (10, c)]
}

/// The commit times of the version 2 fixtures' records.
const WAL_TIMES: [u64; 3] = [1_764_547_200_000, 1_764_547_200_000, 1_764_547_201_500];

/// Checks that record payloads of `layout` decode to exactly
/// [`wal_batches`], with `times`.
fn assert_holds_wal_batches(
    records: &[bytes::Bytes],
    layout: RecordLayout,
    times: [Option<u64>; 3],
) {
    let decoded: Vec<(u64, Option<u64>, Vec<BatchOp>)> = records
        .iter()
        .map(|r| {
            let r = decode_record(r, layout).unwrap();
            (r.first, r.time_ms, r.batch.ops().to_vec())
        })
        .collect();
    let known: Vec<(u64, Option<u64>, Vec<BatchOp>)> = wal_batches()
        .into_iter()
        .zip(times)
        .map(|((first, b), time)| (first, time, b.ops().to_vec()))
        .collect();
    assert_eq!(decoded, known);
}

/// The records of the WAL fixture as this build writes them (timed).
fn timed_records() -> Vec<u8> {
    let mut out = Vec::new();
    for ((first, batch), time) in wal_batches().into_iter().zip(WAL_TIMES) {
        frame_record(&mut out, |buf| encode_timed(buf, time, first, &batch));
    }
    out
}

fn wal_segment() -> Vec<u8> {
    let mut out = segment_header(42).to_vec();
    out.extend_from_slice(&timed_records());
    out
}

fn replay_fixture(bytes: &[u8]) -> crate::write::wal::reader::SegmentReplay {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000001.wal");
    std::fs::write(&path, bytes).unwrap();
    replay_segment(&path, true).unwrap()
}

#[test]
fn golden_wal_segment_v1_still_reads() {
    let replay = replay_fixture(&golden_existing("v1.wal"));
    assert_eq!((replay.epoch, replay.layout), (42, RecordLayout::Plain));
    assert!(!replay.torn && !replay.headerless);
    assert_holds_wal_batches(&replay.records, replay.layout, [None; 3]);
}

#[test]
fn golden_wal_segment_v2() {
    assert_eq!(
        WAL_FORMAT_VERSION, 2,
        "a new WAL format version needs its own fixture"
    );
    let bytes = golden("v2.wal", &wal_segment());
    assert_eq!(bytes, wal_segment(), "the WAL segment encoding changed");
    let replay = replay_fixture(&bytes);
    assert_eq!((replay.epoch, replay.layout), (42, RecordLayout::Timed));
    assert!(!replay.torn && !replay.headerless);
    assert_holds_wal_batches(&replay.records, replay.layout, WAL_TIMES.map(Some));
}

/// A version 2 segment whose record holds an expiring put (op kind 2, an
/// addition to version 2 batches: see `wal/FORMAT.md`).
fn expiring_segment() -> (Vec<u8>, WriteBatch) {
    let mut batch = WriteBatch::new();
    batch
        .put("plain", "p")
        .put_with_ttl("ttl", "t", std::time::Duration::from_millis(90_500))
        .delete("gone");
    let mut out = segment_header(42).to_vec();
    frame_record(&mut out, |buf| encode_timed(buf, WAL_TIMES[2], 20, &batch));
    (out, batch)
}

#[test]
fn golden_wal_segment_v2_with_an_expiring_put() {
    let (fresh, batch) = expiring_segment();
    let bytes = golden("v2-expiring.wal", &fresh);
    assert_eq!(bytes, fresh, "the encoding of expiring puts changed");
    let replay = replay_fixture(&bytes);
    let r = decode_record(&replay.records[0], replay.layout).unwrap();
    assert_eq!((r.first, r.last, r.time_ms), (20, 22, Some(WAL_TIMES[2])));
    assert_eq!(r.batch.ops(), batch.ops());
    // Applied, the value expires at the commit time plus its TTL.
    let mem = crate::memtable::Memtable::new(1, 4096);
    mem.apply(&r.batch, r.first, r.time_ms);
    match mem.get(b"ttl", u64::MAX) {
        Some((21, crate::memtable::MemValue::Put(v, meta))) => {
            assert_eq!(v.as_ref(), b"t");
            assert_eq!(
                (meta.write_ms, meta.expires_ms),
                (WAL_TIMES[2], WAL_TIMES[2] + 90_500)
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A version 2 segment whose record holds a range delete (op kind 3, an
/// addition to version 2 batches: see `wal/FORMAT.md`).
fn range_delete_segment() -> (Vec<u8>, WriteBatch) {
    let mut batch = WriteBatch::new();
    batch
        .put("apple", "a")
        .delete_range("b", "m")
        .put("cherry", "c");
    let mut out = segment_header(42).to_vec();
    frame_record(&mut out, |buf| encode_timed(buf, WAL_TIMES[2], 30, &batch));
    (out, batch)
}

#[test]
fn golden_wal_segment_v2_with_a_range_delete() {
    let (fresh, batch) = range_delete_segment();
    let bytes = golden("v2-range-delete.wal", &fresh);
    assert_eq!(bytes, fresh, "the encoding of range deletes changed");
    let replay = replay_fixture(&bytes);
    let r = decode_record(&replay.records[0], replay.layout).unwrap();
    assert_eq!((r.first, r.last, r.time_ms), (30, 32, Some(WAL_TIMES[2])));
    assert_eq!(r.batch.ops(), batch.ops());
    // The op as FORMAT.md gives it: kind 3, start, end.
    let op: &[u8] = &[3, 1, b'b', 1, b'm'];
    assert!(bytes.windows(op.len()).any(|w| w == op), "kind 3 op bytes");
    // Applied, it deletes with its own seq (31): the put after it stays.
    let mem = crate::memtable::Memtable::new(1, 4096);
    mem.apply(&r.batch, r.first, r.time_ms);
    assert_eq!(mem.range_cover(b"cherry", u64::MAX), Some(31));
    assert_eq!(mem.range_cover(b"cherry", 30), None);
    assert_eq!(mem.range_cover(b"m", u64::MAX), None);
    assert!(matches!(mem.get(b"cherry", u64::MAX), Some((32, _))));
}

/// A fixture of an older format version: never rewritten, only read.
fn golden_existing(name: &str) -> Vec<u8> {
    let path = fixture(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("golden fixture {}: {e}", path.display()))
}

fn known_checkpoint() -> Checkpoint {
    Checkpoint {
        name: "nightly-2026.12.01".into(),
        db_id: [0x3C; 16],
        manifest_version: 1234,
        created_at_ms: 1_764_547_200_000,
    }
}

#[test]
fn golden_checkpoint_v1() {
    assert_eq!(
        CHECKPOINT_FORMAT_VERSION, 1,
        "a new checkpoint format needs its own fixture"
    );
    let bytes = golden(
        "v1.checkpoint",
        &checkpoint::encode(&known_checkpoint()).unwrap(),
    );
    assert_eq!(
        checkpoint::encode(&known_checkpoint()).unwrap(),
        bytes,
        "the checkpoint encoding changed"
    );
    let c = checkpoint::decode(&bytes, "checkpoints/nightly").unwrap();
    assert_eq!(
        (
            c.name.as_str(),
            c.db_id,
            c.manifest_version,
            c.created_at_ms
        ),
        ("nightly-2026.12.01", [0x3C; 16], 1234, 1_764_547_200_000)
    );
}

#[test]
fn golden_disk_cache_entry_v1() {
    let key = (ChunkId { epoch: 5, id: 77 }, 3u32);
    let raw: Vec<u8> = (0..100u8).collect();
    let handle = BlockHandle {
        offset: 9000,
        len: raw.len() as u64,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entry.blk");
    write_entry(&path, &key, handle, &raw).unwrap();
    let fresh = std::fs::read(&path).unwrap();
    let bytes = golden("v1.blk", &fresh);
    assert_eq!(bytes, fresh, "the disk cache entry encoding changed");
    check_entry(&bytes, &key, handle).unwrap();
    assert_eq!(
        &bytes[48..148],
        &raw[..],
        "the raw block follows the 48-byte header"
    );
    // The entry names its block: another one is refused.
    let other = (ChunkId { epoch: 5, id: 78 }, 3u32);
    assert!(check_entry(&bytes, &other, handle).is_err());
}

#[test]
fn golden_shipped_wal_object_v1_still_reads() {
    let object = shipped::decode(
        &golden_existing("v1.shipped"),
        "wal/00000000000000000007.wal",
    )
    .unwrap();
    assert_eq!(
        (
            object.epoch,
            object.first_seq,
            object.last_seq,
            object.layout
        ),
        (42, 1, 11, RecordLayout::Plain)
    );
    assert_holds_wal_batches(&object.records, object.layout, [None; 3]);
    let fence =
        shipped::decode(&golden_existing("v1.fence"), "wal/00000000000000000008.wal").unwrap();
    assert!(fence.is_fence());
    assert_eq!(fence.epoch, 43);
}

#[test]
fn golden_shipped_wal_object_v2() {
    assert_eq!(
        SHIPPED_FORMAT_VERSION, 2,
        "a new shipped WAL format version needs its own fixture"
    );
    let body = timed_records();
    let run = shipped::scan_records(&bytes::Bytes::from(body.clone()), RecordLayout::Timed)
        .unwrap()
        .unwrap();
    let fresh = shipped::encode(42, &body, Some(run), RecordLayout::Timed).unwrap();
    let bytes = golden("v2.shipped", &fresh);
    assert_eq!(bytes, fresh, "the shipped WAL encoding changed");
    let object = shipped::decode(&bytes, "wal/00000000000000000007.wal").unwrap();
    assert_eq!(
        (
            object.epoch,
            object.first_seq,
            object.last_seq,
            object.layout
        ),
        (42, 1, 11, RecordLayout::Timed)
    );
    assert_holds_wal_batches(&object.records, object.layout, WAL_TIMES.map(Some));

    let fence = golden(
        "v2.fence",
        &shipped::encode(43, &[], None, RecordLayout::Timed).unwrap(),
    );
    let object = shipped::decode(&fence, "wal/00000000000000000008.wal").unwrap();
    assert!(object.is_fence());
    assert_eq!(object.epoch, 43);
}
