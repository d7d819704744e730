//! Corruption tests: damaged bytes give a clear error naming the object,
//! never a panic and never silently wrong data.
//!
//! * A flipped byte inside a chunk's data block: point reads and scans that
//!   touch the block fail with a corruption error naming the chunk object;
//!   reads elsewhere in the chunk still return the right values; no read
//!   returns a wrong value. A flipped byte in the chunk's footer fails the
//!   open, naming the chunk.
//! * A flipped byte in the WAL before its tail (in the first of several
//!   synced records): reopening fails with a corruption error naming the WAL
//!   file, and the file is left untouched.
//! * A torn WAL tail (the file cut inside its last record): reopening
//!   succeeds and loses exactly the torn batch.
//! * A flipped byte in the newest manifest version: opening fails with a
//!   corruption error naming the manifest object.
//!
//! Every case runs on `memory://`, `file://` and the S3 server of the test
//! run (`case::memory`, `case::file`, `case::s3`; the S3 variant skips with
//! a message when `FIRN_TEST_S3_ENDPOINT` is unset, and fails then if
//! `FIRN_REQUIRE_S3` is set). Objects are damaged through the store itself:
//! a GET, a flipped byte, a PUT over the original.

use std::path::PathBuf;

use firn::{Db, Durability, Error, WriteBatch};
use firn_chunk::ChunkReader;
use firn_tests::{collect, flip_byte, StoreKind, TestDb};

firn_tests::on_every_store!(
    flipped_byte_in_a_chunk_block_is_a_corruption_error_naming_the_chunk,
    flipped_byte_in_a_chunk_footer_fails_the_read_naming_the_chunk,
    flipped_byte_in_the_wal_before_its_tail_fails_the_open_naming_the_file,
    torn_wal_tail_loses_only_the_torn_batch,
    flipped_byte_in_the_newest_manifest_fails_the_open_naming_it,
);

fn key(i: usize) -> String {
    format!("key-{i:05}")
}

fn value(i: usize) -> String {
    format!("value-{i:05}-{}", "v".repeat(80 + i % 40))
}

/// Writes `n` keys and closes (so they end up in one chunk); returns the
/// chunk's object name.
async fn one_chunk(env: &TestDb, n: usize) -> String {
    let mut opts = env.options();
    opts.block_size = 512;
    let db = env.open(opts).await;
    for i in 0..n {
        db.put(key(i), value(i)).await.expect("put");
    }
    db.close().await.expect("close");
    let chunks = env.object_names("chunks/", ".chunk").await;
    assert_eq!(
        chunks.len(),
        1,
        "expected one chunk after close, found {chunks:?}"
    );
    chunks[0].clone()
}

fn assert_corruption_naming(err: &Error, name: &str, what: &str) {
    let msg = err.to_string();
    assert!(
        err.is_corruption(),
        "{what}: expected a corruption error, got {err:?} ({msg})"
    );
    assert!(
        msg.contains(name),
        "{what}: the error does not name {name}: {msg}"
    );
}

async fn flipped_byte_in_a_chunk_block_is_a_corruption_error_naming_the_chunk(kind: StoreKind) {
    let env = TestDb::new(kind, "corrupt-block");
    let n = 300;
    let name = one_chunk(&env, n).await;

    // Locate data block 0 and the keys it holds through the chunk reader.
    let reader = ChunkReader::open(env.read_object(&name).await).expect("open chunk");
    let blocks = reader.index().block_count();
    assert!(
        blocks >= 3,
        "512-byte blocks should give several blocks, got {blocks}"
    );
    let handle = reader.index().block_handle(0);
    let in_block = |i: usize| {
        reader
            .index()
            .seek_block(key(i).as_bytes(), firn_chunk::MAX_SEQ)
            == Some(0)
    };
    let damaged: Vec<usize> = (0..n).filter(|&i| in_block(i)).collect();
    assert!(
        !damaged.is_empty() && damaged.len() < n,
        "block 0 holds keys {damaged:?}"
    );
    drop(reader);
    env.flip_object_byte(&name, handle.offset + handle.len / 2, 0x5A)
        .await;

    let db = env.open(env.options()).await;
    // Every key: an error for keys in the damaged block, the right value elsewhere.
    for i in 0..n {
        match db.get(key(i)).await {
            Ok(got) => {
                assert!(
                    !damaged.contains(&i),
                    "key {i} in the damaged block was read without error"
                );
                assert_eq!(
                    got.as_deref(),
                    Some(value(i).as_bytes()),
                    "key {i} read wrong data"
                );
            }
            Err(e) => {
                assert!(
                    damaged.contains(&i),
                    "key {i} outside the damaged block failed: {e}"
                );
                assert_corruption_naming(&e, &name, &format!("get of key {i}"));
            }
        }
    }
    // The damage is reported again, not cached away.
    let again = db.get(key(damaged[0])).await.expect_err("still damaged");
    assert_corruption_naming(&again, &name, "second get");
    // A scan over the damaged block fails (and yields nothing wrong before).
    let mut it = db.scan::<&[u8], _>(..).expect("scan");
    let err = loop {
        match it.next().await {
            Ok(Some((k, v))) => {
                let i: usize = std::str::from_utf8(&k).expect("utf8")[4..]
                    .parse()
                    .expect("key number");
                assert_eq!(
                    v,
                    value(i).as_bytes(),
                    "scan returned wrong data for key {i}"
                );
            }
            Ok(None) => panic!("a scan over the damaged block finished without error"),
            Err(e) => break e,
        }
    };
    assert_corruption_naming(&err, &name, "full scan");
    // A scan that starts after the damaged block is unaffected.
    let after = key(damaged.last().expect("non-empty") + 1);
    let rest = collect(db.scan(after.as_bytes()..).expect("scan"))
        .await
        .expect("scan past the damage");
    assert_eq!(rest.len(), n - damaged.len());
    db.close().await.expect("close");
}

async fn flipped_byte_in_a_chunk_footer_fails_the_read_naming_the_chunk(kind: StoreKind) {
    let env = TestDb::new(kind, "corrupt-footer");
    let name = one_chunk(&env, 100).await;
    let size = env.read_object(&name).await.len() as u64;
    // The chunk's index is also kept in the local directory; without it the
    // index region must come from the damaged object.
    let drop_local_index = || {
        let _ = std::fs::remove_dir_all(env.local_dir.join("index"));
    };
    for offset in [size - 1, size - 20] {
        env.flip_object_byte(&name, offset, 0x01).await;
        drop_local_index();
        // Indexes load lazily: the open succeeds, the first read fails.
        let db = env.open(env.options()).await;
        let err = db
            .get(key(7))
            .await
            .expect_err("a read through a damaged footer must fail");
        assert_corruption_naming(
            &err,
            &name,
            &format!("get with byte {offset} of {size} flipped"),
        );
        db.close().await.expect("close");
        // Preloading indexes reports it at open.
        let mut opts = env.options();
        opts.preload_indexes = true;
        let err = Db::open(opts)
            .await
            .err()
            .expect("a preloading open with a damaged footer must fail");
        assert_corruption_naming(
            &err,
            &name,
            &format!("open with byte {offset} of {size} flipped"),
        );
        env.flip_object_byte(&name, offset, 0x01).await;
    }
    // Restored, it opens and reads again.
    let db = env.open(env.options()).await;
    assert_eq!(
        db.get(key(7)).await.expect("get").as_deref(),
        Some(value(7).as_bytes())
    );
    db.close().await.expect("close");
}

/// Writes `batches` synced batches of three keys each into the WAL only and
/// drops the handle without closing. Returns the WAL segment, the length of
/// its header (where the first record starts) and the end offset of each
/// batch's record.
async fn wal_only(env: &TestDb, batches: usize) -> (PathBuf, u64, Vec<u64>) {
    let db = env.open(env.options().durability(Durability::Sync)).await;
    let (_, header_len) = db.wal_synced_position().expect("writer has a WAL");
    let mut ends = Vec::new();
    let mut segment = None;
    for b in 0..batches {
        let mut batch = WriteBatch::new();
        for j in 0..3 {
            batch.put(key(b * 3 + j), value(b * 3 + j));
        }
        db.write(batch).await.expect("write");
        let (seg, synced) = db.wal_synced_position().expect("writer has a WAL");
        assert!(
            segment.is_none_or(|s| s == seg),
            "the WAL rotated with a 64 MiB memtable"
        );
        segment = Some(seg);
        ends.push(synced);
    }
    drop(db);
    let path = env
        .wal_dir()
        .join(format!("{:020}.wal", segment.expect("written")));
    assert!(path.exists(), "WAL segment {} is missing", path.display());
    assert_eq!(
        std::fs::metadata(&path).expect("stat").len(),
        *ends.last().expect("batches")
    );
    (path, header_len, ends)
}

async fn assert_keys(db: &Db, range: std::ops::Range<usize>, present: bool, ctx: &str) {
    for i in range {
        let got = db
            .get(key(i))
            .await
            .unwrap_or_else(|e| panic!("{ctx}: get {i}: {e}"));
        let want = present.then(|| value(i));
        assert_eq!(
            got.as_deref(),
            want.as_ref().map(|v| v.as_bytes()),
            "{ctx}: key {i}"
        );
    }
}

async fn flipped_byte_in_the_wal_before_its_tail_fails_the_open_naming_the_file(kind: StoreKind) {
    let env = TestDb::new(kind, "corrupt-wal");
    let (path, first, ends) = wal_only(&env, 5).await;
    let original = std::fs::read(&path).expect("read WAL");
    let name = path.display().to_string();
    // The first record starts right after the segment header: flip its
    // length, its payload checksum and payload bytes in turn.
    assert!(ends[0] > first + 12 + 8);
    for offset in [first, first + 5, first + 12 + 8, ends[0] - 1] {
        flip_byte(&path, offset, 0x10);
        let damaged = std::fs::read(&path).expect("read WAL");
        let err = Db::open(env.options())
            .await
            .err()
            .expect("open over a damaged WAL must fail");
        assert_corruption_naming(&err, &name, &format!("open with WAL byte {offset} flipped"));
        let ro = Db::open(env.options().read_only(true))
            .await
            .err()
            .expect("read-only open must fail too");
        assert_corruption_naming(
            &ro,
            &name,
            &format!("read-only open with WAL byte {offset} flipped"),
        );
        assert_eq!(
            std::fs::read(&path).expect("read WAL"),
            damaged,
            "a failed open changed the WAL"
        );
        std::fs::write(&path, &original).expect("restore WAL");
    }
    // Undamaged, every batch is there.
    let db = env.open(env.options()).await;
    assert_keys(&db, 0..15, true, "after restoring the WAL").await;
    db.close().await.expect("close");
}

async fn torn_wal_tail_loses_only_the_torn_batch(kind: StoreKind) {
    let env = TestDb::new(kind, "torn-wal");
    let (path, _, ends) = wal_only(&env, 5).await;
    // Cut inside the last record's payload.
    let cut = ends[4] - 7;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(cut))
        .expect("truncate WAL");

    // A read-only open sees the four whole batches and changes nothing.
    let ro = env.open(env.options().read_only(true)).await;
    assert_keys(&ro, 0..12, true, "read-only open after a torn tail").await;
    assert_keys(&ro, 12..15, false, "read-only open after a torn tail").await;
    drop(ro);
    assert_eq!(
        std::fs::metadata(&path).expect("stat").len(),
        cut,
        "a read-only open changed the WAL"
    );

    let db = env.open(env.options()).await;
    assert_keys(&db, 0..12, true, "after a torn tail").await;
    assert_keys(&db, 12..15, false, "after a torn tail").await;
    // The database keeps working, and the next reopen agrees.
    db.put(key(99), value(99))
        .await
        .expect("put after recovery");
    drop(db);
    let db = env.open(env.options()).await;
    assert_keys(&db, 0..12, true, "second reopen").await;
    assert_keys(&db, 12..15, false, "second reopen").await;
    assert_keys(&db, 99..100, true, "second reopen").await;
    db.close().await.expect("close");
}

async fn flipped_byte_in_the_newest_manifest_fails_the_open_naming_it(kind: StoreKind) {
    let env = TestDb::new(kind, "corrupt-manifest");
    one_chunk(&env, 50).await;
    let manifests = env.object_names("manifest/", "").await;
    let name = manifests.last().expect("a manifest version").clone();
    let size = env.read_object(&name).await.len() as u64;
    for offset in [0, size / 2, size - 1] {
        env.flip_object_byte(&name, offset, 0x08).await;
        let err = Db::open(env.options())
            .await
            .err()
            .expect("open with a damaged manifest must fail");
        assert_corruption_naming(
            &err,
            &name,
            &format!("open with manifest byte {offset} flipped"),
        );
        let ro = Db::open(env.options().read_only(true))
            .await
            .err()
            .expect("read-only open must fail too");
        assert_corruption_naming(
            &ro,
            &name,
            &format!("read-only open with manifest byte {offset} flipped"),
        );
        env.flip_object_byte(&name, offset, 0x08).await;
    }
    let db = env.open(env.options()).await;
    assert_keys(&db, 0..50, true, "after restoring the manifest").await;
    db.close().await.expect("close");
}
