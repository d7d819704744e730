//! Zero-copy clones and dropping a database (`firn clone`, `firn drop`):
//!
//! * a clone references the source's chunks in place: its creation writes a
//!   few KiB (measured: every object it added, in the clone and the pins);
//! * source and clone diverge: each sees only its own later writes;
//! * the source compacts and collects with zero grace: the clone still
//!   reads everything (its pin keeps the chunks it uses);
//! * dropping the clone releases the pin: the source's next collection
//!   frees what only the clone kept; a source with clones refuses a drop;
//! * a clone of a clone reads from both; once its own compaction rewrote
//!   every chunk, its collector releases both pins and it owns everything;
//! * a clone of a checkpoint holds the checkpoint's state.
//!
//! On `memory://` and, against the S3 server, on `s3://` prefixes.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use firn::{clone_database, drop_database, Db};
use firn_tests::{collect, s3_enabled, StoreKind, TestDb};

type State = BTreeMap<Vec<u8>, Vec<u8>>;

async fn everything(db: &Db) -> State {
    collect(db.scan::<&[u8], _>(..).unwrap())
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// Writes `n` keys with `tag` in their values, then flushes.
async fn fill(db: &Db, state: &mut State, tag: &str, n: u32) {
    for i in 0..n {
        let (k, v) = (format!("key{i:04}"), format!("{tag}-{i}"));
        db.put(k.clone(), v.clone()).await.unwrap();
        state.insert(k.into_bytes(), v.into_bytes());
    }
    db.flush().await.unwrap();
}

async fn pins(env: &TestDb) -> Vec<String> {
    env.list_objects("checkpoints/clone-")
        .await
        .into_iter()
        .map(|o| o.path)
        .collect()
}

/// Every byte under `env`'s prefix.
async fn stored_bytes(env: &TestDb) -> u64 {
    env.list_objects("").await.iter().map(|o| o.size).sum()
}

fn location(kind: StoreKind, tag: &str) -> TestDb {
    TestDb::new(kind, tag)
}

async fn clones_diverge_and_outlive_the_sources_collection(kind: StoreKind) {
    let src = location(kind, "clone-src");
    let db = Db::open(src.small_options()).await.unwrap();
    let mut source_state = State::new();
    fill(&db, &mut source_state, "v1", 400).await;
    let src_bytes_before = stored_bytes(&src).await;
    let dest = location(kind, "clone-dest");

    let report = clone_database(&src.objects(), &dest.objects(), None)
        .await
        .unwrap();
    assert!(report.chunks >= 2, "{report:?}");
    assert_eq!(report.wal_objects, 0, "{report:?}");
    // What the creation wrote: the clone's objects and the pin in the source.
    let written = stored_bytes(&dest).await + (stored_bytes(&src).await - src_bytes_before);
    assert_eq!(written, report.bytes_written, "{report:?}");
    assert!(
        written <= 4096 && written * 10 < report.chunk_bytes,
        "creating the clone wrote {written} bytes for {} bytes of chunks",
        report.chunk_bytes
    );
    assert!(
        dest.list_objects("chunks/").await.is_empty(),
        "a clone copied chunks"
    );
    assert_eq!(pins(&src).await.len(), 1);

    let clone = Db::open(dest.small_options()).await.unwrap();
    assert!(
        clone.epoch() > db.epoch(),
        "the clone's epochs start above the source's"
    );
    assert_eq!(everything(&clone).await, source_state);
    let mut clone_state = source_state.clone();
    // Diverge: overwrite half in each, differently, and add a key to each.
    for i in (0..400u32).step_by(2) {
        let k = format!("key{i:04}");
        db.put(k.clone(), "src-late").await.unwrap();
        source_state.insert(k.clone().into_bytes(), b"src-late".to_vec());
        clone.put(k.clone(), "clone-late").await.unwrap();
        clone_state.insert(k.into_bytes(), b"clone-late".to_vec());
    }
    db.put("only-src", "s").await.unwrap();
    source_state.insert(b"only-src".to_vec(), b"s".to_vec());
    clone.put("only-clone", "c").await.unwrap();
    clone_state.insert(b"only-clone".to_vec(), b"c".to_vec());
    clone.flush().await.unwrap();
    assert_eq!(everything(&db).await, source_state);
    assert_eq!(everything(&clone).await, clone_state);

    // The source rewrites and collects everything it can, at once.
    db.compact().await.unwrap();
    db.gc(Duration::ZERO).await.unwrap();
    assert_eq!(everything(&db).await, source_state);
    // The clone, reopened on a fresh local directory (no cached blocks),
    // still reads every chunk it references in the source.
    clone.close().await.unwrap();
    let clone = Db::open(dest.options_with_local("fresh")).await.unwrap();
    assert_eq!(everything(&clone).await, clone_state);
    for i in [1u32, 3, 397, 399] {
        let k = format!("key{i:04}");
        assert_eq!(
            clone.get(&k).await.unwrap(),
            Some(Bytes::from(format!("v1-{i}"))),
            "{k}"
        );
    }
    // A source with a clone cannot be dropped without breaking it.
    let err = drop_database(&src.objects(), false).await.unwrap_err();
    assert!(err.to_string().contains("has clones"), "{err}");
    clone.close().await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_diverge_and_outlive_the_sources_collection_on_memory() {
    clones_diverge_and_outlive_the_sources_collection(StoreKind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_diverge_and_outlive_the_sources_collection_on_s3() {
    if s3_enabled("clones_diverge_and_outlive_the_sources_collection_on_s3") {
        clones_diverge_and_outlive_the_sources_collection(StoreKind::S3).await;
    }
}

async fn dropping_a_clone_frees_what_only_it_kept(kind: StoreKind) {
    let src = location(kind, "drop-src");
    let db = Db::open(src.small_options()).await.unwrap();
    let mut state = State::new();
    fill(&db, &mut state, "old", 300).await;
    let dest = location(kind, "drop-clone");
    clone_database(&src.objects(), &dest.objects(), None)
        .await
        .unwrap();
    let pinned: Vec<String> = src
        .list_objects("chunks/")
        .await
        .into_iter()
        .map(|o| o.path)
        .collect();
    // The source replaces every chunk; the clone's pin keeps the old ones.
    fill(&db, &mut state, "new", 300).await;
    db.compact().await.unwrap();
    db.gc(Duration::ZERO).await.unwrap();
    let kept = src.list_objects("chunks/").await;
    for name in &pinned {
        assert!(
            kept.iter().any(|o| &o.path == name),
            "{name} was collected under the clone's pin"
        );
    }

    let report = drop_database(&dest.objects(), false).await.unwrap();
    assert_eq!(report.pins_released, 1, "{report:?}");
    assert!(report.objects_deleted >= 3, "{report:?}");
    assert!(
        dest.list_objects("").await.is_empty(),
        "the drop left objects"
    );
    assert!(pins(&src).await.is_empty());
    let err = drop_database(&dest.objects(), false).await.unwrap_err();
    assert!(err.to_string().contains("no Firn database"), "{err}");

    db.gc(Duration::ZERO).await.unwrap();
    let after = src.list_objects("chunks/").await;
    for name in &pinned {
        assert!(
            !after.iter().any(|o| &o.path == name),
            "{name}, kept only by the dropped clone, was not collected"
        );
    }
    assert_eq!(everything(&db).await, state);
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_clone_frees_what_only_it_kept_on_memory() {
    dropping_a_clone_frees_what_only_it_kept(StoreKind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_clone_frees_what_only_it_kept_on_s3() {
    if s3_enabled("dropping_a_clone_frees_what_only_it_kept_on_s3") {
        dropping_a_clone_frees_what_only_it_kept(StoreKind::S3).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_of_a_clone_reads_both_and_releases_both_pins_once_compacted() {
    let s = location(StoreKind::Memory, "chain-s");
    let db = Db::open(s.small_options()).await.unwrap();
    let mut state = State::new();
    fill(&db, &mut state, "s", 200).await;
    let c1 = location(StoreKind::Memory, "chain-c1");
    clone_database(&s.objects(), &c1.objects(), None)
        .await
        .unwrap();
    let first = Db::open(c1.small_options()).await.unwrap();
    for i in 0..50u32 {
        let (k, v) = (format!("c1-{i:03}"), format!("c1-{i}"));
        first.put(k.clone(), v.clone()).await.unwrap();
        state.insert(k.into_bytes(), v.into_bytes());
    }
    first.flush().await.unwrap();
    let c2 = location(StoreKind::Memory, "chain-c2");
    let report = clone_database(&c1.objects(), &c2.objects(), None)
        .await
        .unwrap();
    assert_eq!(report.sources, vec![s.url.clone(), c1.url.clone()]);
    assert_eq!((pins(&s).await.len(), pins(&c1).await.len()), (2, 1));

    let second = Db::open(c2.small_options()).await.unwrap();
    assert_eq!(everything(&second).await, state);
    // The first clone's source compacts and collects: both clones read on.
    db.put("key0000", "moved-on").await.unwrap();
    db.compact().await.unwrap();
    db.gc(Duration::ZERO).await.unwrap();
    first.compact().await.unwrap();
    first.gc(Duration::ZERO).await.unwrap();
    assert_eq!(everything(&second).await, state);

    // Once its compaction rewrote everything into its own chunks (and the
    // versions that referenced the sources are collected), the second clone
    // lets go of both pins.
    second.compact().await.unwrap();
    second.gc(Duration::ZERO).await.unwrap();
    assert!(
        second.manifest().sources.is_empty(),
        "{:?}",
        second.manifest().sources
    );
    assert_eq!(
        pins(&s).await.len(),
        1,
        "the second clone's pin in S stayed"
    );
    assert!(
        pins(&c1).await.is_empty(),
        "the second clone's pin in C1 stayed"
    );
    second.close().await.unwrap();
    let second = Db::open(c2.options_with_local("fresh")).await.unwrap();
    assert_eq!(everything(&second).await, state);
    second.close().await.unwrap();
    first.close().await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_of_a_checkpoint_holds_its_state_and_a_bad_destination_is_refused() {
    let src = location(StoreKind::File, "ckpt-src");
    let db = Db::open(src.small_options()).await.unwrap();
    let mut state = State::new();
    fill(&db, &mut state, "before", 100).await;
    db.checkpoint("nightly").await.unwrap();
    let mut later = State::new();
    fill(&db, &mut later, "after", 100).await;
    let dest = location(StoreKind::File, "ckpt-dest");
    clone_database(&src.objects(), &dest.objects(), Some("nightly"))
        .await
        .unwrap();
    let clone = Db::open(dest.small_options()).await.unwrap();
    assert_eq!(everything(&clone).await, state);
    clone.close().await.unwrap();

    // Into a location that holds something, or inside the source: refused,
    // and nothing is written.
    let pins_before = pins(&src).await;
    let err = clone_database(&src.objects(), &dest.objects(), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    let inside = firn::ObjectStore::from_url(&format!("{}/inner", src.url)).unwrap();
    let err = clone_database(&src.objects(), &inside, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("overlaps"), "{err}");
    assert_eq!(pins(&src).await, pins_before);
    db.close().await.unwrap();
}
