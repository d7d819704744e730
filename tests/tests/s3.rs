//! S3-specific tests, against the S3 server of the test run (moto on
//! 127.0.0.1 under `scripts/test.sh`, or your own MinIO/AWS bucket named by
//! `FIRN_TEST_S3_ENDPOINT`, `FIRN_TEST_S3_BUCKET` and the `AWS_*` variables).
//! Each test skips with a message when `FIRN_TEST_S3_ENDPOINT` is unset, and
//! fails then if `FIRN_REQUIRE_S3` is set. Some also run on a local store
//! (noted below), so their logic is checked in every plain `cargo test`.
//!
//! * Writer fencing with two writer **processes** (`s3_writer`, also on
//!   `file://`): the second open bumps the epoch; the first's next flush fails
//!   with `Error::Fenced` and so does every later write; everything the first
//!   flushed is visible to the second; the writes it had only in its local WAL
//!   are not dropped: reopening its local directory fails with
//!   `Error::FencedWrites` naming exactly their seq range, and
//!   `firn::read_local_wal` shows them.
//! * Racing flushes on one manifest version (also on `memory://`): a writer's
//!   flush races the open of the next writer, round after round; the flush
//!   either commits before the claim (and the new writer sees it) or is
//!   fenced (and nothing of it is visible); the manifest history stays
//!   consistent: contiguous versions, epochs never going back, every chunk
//!   added by a version carrying that version's epoch (so no chunk of a
//!   fenced writer is referenced after its fencing version), every referenced
//!   chunk present.
//! * Racing publishes at the manifest level: concurrent creators of one
//!   object — exactly one wins; concurrent publishers from one base version —
//!   each version is committed by exactly one, none is lost; a publisher
//!   racing a writer claim either commits before it or is fenced.
//! * The conditional-write self-check: a store that ignores `If-None-Match`
//!   (OpenDAL layer `IgnoreConditionalWritesLayer`, over the S3 operator and
//!   over a memory operator) is refused at open with an error saying so,
//!   unless the unfenced single-writer mode is chosen.
//! * Multipart upload of a chunk larger than the multipart threshold (the
//!   request counts show the parts) and ranged reads: a cold point read costs
//!   one GET of one block, not the object.
//! * Bad credentials: one clear error at open (only against a server that
//!   checks them: set `FIRN_TEST_S3_AUTHENTICATING=1`; moto accepts any key).
//!
//! Reopening with an empty local directory is part of the conformance suite
//! (`reopen.rs`, `case::s3`); the outage test lives in `s3_outage.rs`, a test
//! binary of its own, because it freezes the server every S3 test uses.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use firn::{ChunkId, ChunkMeta, Db, Error, Manifest};
use firn_manifest::{
    ManifestEdit, ManifestError, ManifestStore, ObjectStore, PutOutcome, StoreError, StoreOptions,
};
use firn_store::testing::IgnoreConditionalWritesLayer;
use firn_tests::writer_process::WriterProcess;
use firn_tests::{collect, s3_enabled, s3_operator, settle, store_options, StoreKind, TestDb};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Every manifest version of the database, oldest first.
async fn manifest_history(env: &TestDb) -> Vec<Manifest> {
    let mut out = Vec::new();
    for name in env.object_names("manifest/", "").await {
        let bytes = env.read_object(&name).await;
        let m = firn_manifest::decode(&bytes, &name)
            .unwrap_or_else(|e| panic!("manifest version {name} does not decode: {e}"));
        out.push(m);
    }
    out
}

fn chunk_ids(m: &Manifest) -> BTreeSet<ChunkId> {
    m.all_chunks().map(|c| c.id).collect()
}

/// Checks the invariants of a manifest history and returns it: versions
/// contiguous and numbered as named, one database, epochs never going back,
/// every chunk a version adds carrying that version's epoch (a fenced
/// writer's chunks can never appear after the claim that fenced it), and
/// every chunk of the newest version present in the store.
async fn check_history(env: &TestDb) -> Vec<Manifest> {
    let history = manifest_history(env).await;
    assert!(!history.is_empty(), "no manifest version at all");
    for pair in history.windows(2) {
        let (prev, next) = (&pair[0], &pair[1]);
        assert_eq!(
            next.version,
            prev.version + 1,
            "manifest versions are not contiguous"
        );
        assert_eq!(
            next.db_id, prev.db_id,
            "version {} changed db",
            next.version
        );
        assert!(
            next.epoch >= prev.epoch,
            "version {} went back from epoch {} to {}",
            next.version,
            prev.epoch,
            next.epoch
        );
        let before = chunk_ids(prev);
        for id in chunk_ids(next).difference(&before) {
            assert_eq!(
                id.epoch, next.epoch,
                "version {} (epoch {}) added chunk {id} of epoch {}: a fenced writer's chunk",
                next.version, next.epoch, id.epoch
            );
        }
    }
    let newest = history.last().expect("non-empty");
    let present: BTreeSet<String> = env
        .object_names("chunks/", ".chunk")
        .await
        .into_iter()
        .collect();
    for id in chunk_ids(newest) {
        assert!(
            present.contains(&id.object_name()),
            "version {} references missing chunk {}",
            newest.version,
            id.object_name()
        );
    }
    history
}

fn epoch_of(open_line: &str, who: &str) -> u64 {
    open_line
        .strip_prefix("OPEN ")
        .and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("{who} failed to open: {open_line}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------------------
// Fencing with two writer processes
// ---------------------------------------------------------------------------

#[test]
fn two_writer_processes_fence_the_first_and_keep_its_unflushed_writes_on_s3() {
    if s3_enabled("two_writer_processes_fence_the_first_and_keep_its_unflushed_writes_on_s3") {
        two_writer_processes(StoreKind::S3);
    }
}

#[test]
fn two_writer_processes_fence_the_first_and_keep_its_unflushed_writes_on_file() {
    two_writer_processes(StoreKind::File);
}

fn two_writer_processes(kind: StoreKind) {
    let env = TestDb::new(kind, "fencing");
    let dir_a = env.root.path().join("local-a");
    let dir_b = env.root.path().join("local-b");

    // A writes; part of it reaches the bucket, the rest only its WAL.
    let (mut a, line) =
        WriterProcess::spawn(env!("CARGO_BIN_EXE_s3_writer"), "A", &env.url, &dir_a);
    let epoch_a = epoch_of(&line, "A");
    for i in 0..20 {
        a.ok_number(&format!("put flushed{i:02} by-a-{i}"));
    }
    assert!(a.ok_number("flush") >= 1, "A's flush published no chunk");
    let mut wal_only = Vec::new();
    for i in 0..5 {
        wal_only.push(a.ok_number(&format!("put walonly{i} by-a-{i}")));
    }

    // B opens the same database: a new epoch, A's flushed writes, not the rest.
    let (mut b, line) =
        WriterProcess::spawn(env!("CARGO_BIN_EXE_s3_writer"), "B", &env.url, &dir_b);
    let epoch_b = epoch_of(&line, "B");
    assert!(
        epoch_b > epoch_a,
        "B's epoch {epoch_b} is not above A's {epoch_a}"
    );
    for i in 0..20 {
        assert_eq!(
            b.cmd(&format!("get flushed{i:02}")),
            format!("VAL by-a-{i}"),
            "B does not see A's flushed write {i}"
        );
    }
    assert_eq!(b.cmd("get walonly0"), "NONE");
    b.ok_number("put by-b 1");
    assert!(b.ok_number("flush") >= 1);

    // A's next publish is refused, and from then on it writes nothing.
    let answer = a.cmd("flush");
    assert!(
        answer.starts_with("ERR Fenced ") && answer.contains("fenced"),
        "A's flush after B's open: {answer}"
    );
    for attempt in ["put more z", "put walonly0 overwritten"] {
        let answer = a.cmd(attempt);
        assert!(
            answer.starts_with("ERR Fenced ") && answer.contains("another writer took over"),
            "A's {attempt:?} after being fenced: {answer}"
        );
    }
    let answer = a.cmd("close");
    assert!(answer.starts_with("ERR Fenced "), "A's close: {answer}");
    a.wait();

    // B is undisturbed by all of that.
    assert_eq!(b.cmd("get by-b"), "VAL 1");
    assert_eq!(b.cmd("get more"), "NONE");
    b.ok_number("put by-b-2 2");
    assert!(b.ok_number("flush") >= 1);
    assert_eq!(b.cmd("close"), "OK");
    b.wait();

    let history = runtime().block_on(check_history(&env));
    // After B's claim no version carries A's epoch.
    let claim = history
        .iter()
        .position(|m| m.epoch == epoch_b)
        .expect("B's claim is in the history");
    assert!(history[claim..].iter().all(|m| m.epoch >= epoch_b));

    runtime().block_on(async {
        // A's local directory keeps the writes that never reached the bucket.
        let err = match Db::open(firn_tests::test_options(&env.url, &dir_a)).await {
            Ok(_) => panic!("reopening the fenced writer's local directory must fail"),
            Err(e) => e,
        };
        match &err {
            Error::FencedWrites {
                epoch,
                their_epoch,
                first_seq,
                last_seq,
                ..
            } => {
                assert_eq!(*epoch, epoch_a, "{err}");
                assert!(*their_epoch >= epoch_b, "{err}");
                assert_eq!(
                    (*first_seq, *last_seq),
                    (wal_only[0], wal_only[4]),
                    "FencedWrites names the wrong seq range: {err}"
                );
            }
            other => panic!("expected FencedWrites, got {other}"),
        }
        assert!(err.is_fenced());
        let msg = err.to_string();
        assert!(
            msg.contains("never reached the bucket")
                && msg.contains(&format!("{}..={}", wal_only[0], wal_only[4])),
            "{msg}"
        );
        let orphans = firn::read_local_wal(&dir_a).expect("read A's WAL");
        let keys: BTreeSet<String> = orphans
            .iter()
            .filter(|b| b.first_seq >= wal_only[0])
            .flat_map(|b| b.batch.ops().iter().map(|op| op.key().clone()))
            .map(|k| String::from_utf8_lossy(&k).into_owned())
            .collect();
        let want: BTreeSet<String> = (0..5).map(|i| format!("walonly{i}")).collect();
        assert_eq!(
            keys, want,
            "the WAL of A does not hold its unflushed writes"
        );
        assert!(orphans.iter().all(|b| b.epoch == epoch_a));

        // The bucket, from a fresh directory: A's flushed writes and B's, none
        // of A's WAL-only ones.
        let db = Db::open(env.options_with_local("fresh"))
            .await
            .expect("open from the bucket");
        for i in 0..20 {
            assert_eq!(
                db.get(format!("flushed{i:02}")).await.expect("get"),
                Some(Bytes::from(format!("by-a-{i}")))
            );
        }
        assert_eq!(
            db.get("by-b-2").await.expect("get").as_deref(),
            Some(&b"2"[..])
        );
        for i in 0..5 {
            assert_eq!(db.get(format!("walonly{i}")).await.expect("get"), None);
        }
        assert_eq!(db.get("more").await.expect("get"), None);
        db.close().await.expect("close");
    });
}

// ---------------------------------------------------------------------------
// Racing flushes on one manifest version (engine level)
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_flush_and_takeover_commit_exactly_once_on_s3() {
    if s3_enabled("racing_flush_and_takeover_commit_exactly_once_on_s3") {
        racing_flush_and_takeover(StoreKind::S3, 8).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_flush_and_takeover_commit_exactly_once_on_memory() {
    racing_flush_and_takeover(StoreKind::Memory, 12).await;
}

/// Round after round, the current writer's flush races the open (claim) of
/// the next writer on another local directory.
async fn racing_flush_and_takeover(kind: StoreKind, rounds: usize) {
    let env = TestDb::new(kind, "race");
    let mut rng = StdRng::seed_from_u64(0x0ACE_0001);
    let opts = |n: usize| {
        let mut o = env.options_with_local(&format!("local-{n}"));
        o.durability = firn::Durability::Sync;
        o.retry_delay = Duration::from_millis(5);
        o.max_retry_delay = Duration::from_millis(50);
        o
    };
    let mut current = env.open(opts(0)).await;
    let mut visible: BTreeMap<String, String> = BTreeMap::new();
    let (mut committed, mut fenced) = (0, 0);
    let mut open_takes = Duration::ZERO;
    for round in 1..=rounds {
        let keys: Vec<String> = (0..30).map(|i| format!("r{round:02}-k{i:02}")).collect();
        for k in &keys {
            current.put(k.clone(), format!("v-{k}")).await.expect("put");
        }
        // Round 1 flushes first, round 2 opens first (and times the open),
        // the others race: the flush starts after a seeded delay within the
        // time an open takes.
        let (flushed, next) = match round {
            1 => {
                let f = current.flush().await;
                (f, env.open(opts(round)).await)
            }
            2 => {
                let started = Instant::now();
                let next = env.open(opts(round)).await;
                open_takes = started.elapsed();
                (current.flush().await, next)
            }
            _ => {
                let max = open_takes.as_micros() as u64;
                let delay = Duration::from_micros(rng.random_range(0..=max));
                let writer = current.clone();
                let flush = tokio::spawn(async move {
                    firn_store::clock::sleep(delay).await;
                    writer.flush().await
                });
                let next = env.open(opts(round)).await;
                (flush.await.expect("flush task"), next)
            }
        };
        assert!(next.epoch() > current.epoch());
        let won = match flushed {
            Ok(_) => {
                committed += 1;
                true
            }
            Err(Error::Fenced { .. }) => {
                fenced += 1;
                false
            }
            Err(e) => panic!("round {round}: the racing flush failed with {e}"),
        };
        if won {
            for k in &keys {
                visible.insert(k.clone(), format!("v-{k}"));
            }
        }
        // The new writer sees the flush exactly when it committed.
        for k in &keys {
            let got = next.get(k).await.expect("get");
            let want = won.then(|| Bytes::from(format!("v-{k}")));
            assert_eq!(got, want, "round {round} (flush won: {won}): key {k}");
        }
        // The old writer is fenced now whatever happened: its next publish
        // fails and then every write does.
        let late = current.put(format!("late-{round}"), "x").await;
        let flush_again = current.flush().await;
        assert!(
            matches!(flush_again, Err(Error::Fenced { .. })),
            "round {round}: the old writer published after the takeover: {flush_again:?} \
             (its put: {late:?})"
        );
        assert!(matches!(
            current.put("after", "fenced").await,
            Err(Error::Fenced { .. })
        ));
        let old_epoch = current.epoch();
        assert!(current.close().await.unwrap_err().is_fenced());
        // Its local directory keeps what never reached the bucket: the
        // round's keys if the flush lost, the late write if it was accepted.
        // (The old writer may have learnt of the takeover from a compaction
        // publish before the late write; then nothing is orphaned.)
        let old_dir = env.root.path().join(format!("local-{}", round - 1));
        if !won || late.is_ok() {
            match Db::open(opts(round - 1)).await {
                Err(Error::FencedWrites { epoch, .. }) => assert_eq!(epoch, old_epoch),
                Err(e) => panic!("round {round}: reopening the fenced directory: {e}"),
                Ok(_) => panic!(
                    "round {round}: reopening the fenced directory succeeded (flush won: \
                     {won}, late put: {late:?})"
                ),
            }
        } else {
            let watermark = next.manifest().wal_watermark;
            let wal = firn::read_local_wal(&old_dir).expect("read the old WAL");
            assert!(
                wal.iter()
                    .all(|b| b.first_seq + b.batch.len() as u64 - 1 <= watermark),
                "round {round}: acknowledged writes of the old writer are missing from the \
                 bucket although its flush committed and its late write was refused"
            );
        }
        next.put(format!("by-next-{round}"), "y")
            .await
            .expect("put");
        visible.insert(format!("by-next-{round}"), "y".into());
        next.flush().await.expect("flush");
        check_history(&env).await;
        current = next;
    }
    current.close().await.expect("close");
    eprintln!("racing flushes on {kind}: {committed} committed, {fenced} fenced");
    assert!(committed >= 1 && fenced >= 1, "both outcomes must occur");

    // Exactly the committed writes are in the bucket.
    let db = env.open(env.options_with_local("fresh")).await;
    let all: BTreeMap<String, String> = collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan")
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    assert_eq!(all, visible);
    db.close().await.expect("close");
}

// ---------------------------------------------------------------------------
// Racing publishes (manifest level)
// ---------------------------------------------------------------------------

/// Rounds of racing conditional creates of one name.
const CREATE_RACE_ROUNDS: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_publishes_commit_each_manifest_version_exactly_once_on_s3() {
    if !s3_enabled("racing_publishes_commit_each_manifest_version_exactly_once_on_s3") {
        return;
    }
    let env = TestDb::new(StoreKind::S3, "publish-race");
    // Separate stores (clients) per racer, as separate processes would have.
    let store = || ObjectStore::from_url_with(&env.url, &store_options(&env.url)).expect("store");

    // Raw conditional creates: exactly one of 8 wins, and its bytes stay;
    // round after round, since a server that checks the condition and then
    // stores in two steps lets two racers win only now and then.
    let stores: Vec<ObjectStore> = (0..8).map(|_| store()).collect();
    for round in 0..CREATE_RACE_ROUNDS {
        let name = format!("race/one-{round:02}");
        let mut racers = Vec::new();
        for (i, s) in stores.iter().enumerate() {
            let (s, name) = (s.clone(), name.clone());
            let byte = u8::try_from(i).expect("8 racers");
            racers.push(tokio::spawn(async move {
                (
                    byte,
                    s.put_if_absent(&name, Bytes::from(vec![byte; 1000])).await,
                )
            }));
        }
        let mut winners = Vec::new();
        for r in racers {
            let (i, outcome) = r.await.expect("racer");
            match outcome.expect("conditional create") {
                PutOutcome::Created => winners.push(i),
                PutOutcome::AlreadyExists => {}
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: winners of one conditional create of {name}: {winners:?} \
             (the server does not decide If-None-Match atomically)"
        );
        assert_eq!(
            env.read_object(&name).await,
            Bytes::from(vec![winners[0]; 1000]),
            "round {round}: the winner's bytes of {name} were replaced"
        );
    }

    // Publishers from one base version, one epoch: every publish commits
    // exactly one version of its own; none is lost.
    let manifests = ManifestStore::new(store());
    let created = manifests.create([7; 16]).await.expect("create");
    let base = manifests.claim_writer(&created).await.expect("claim");
    const PUBLISHERS: u64 = 8;
    let mut racers = Vec::new();
    for i in 0..PUBLISHERS {
        let ms = ManifestStore::new(store());
        let (base, edit) = (base.clone(), edit_adding(base.epoch, 100 + i));
        racers.push(tokio::spawn(async move {
            ms.publish(&base, &edit, base.epoch).await
        }));
    }
    let mut versions = BTreeSet::new();
    for r in racers {
        let m = r.await.expect("publisher").expect("publish");
        assert!(
            versions.insert(m.version),
            "version {} committed twice",
            m.version
        );
    }
    let want: BTreeSet<u64> = (base.version + 1..=base.version + PUBLISHERS).collect();
    assert_eq!(versions, want);
    let latest = manifests
        .load_latest()
        .await
        .expect("load")
        .expect("latest");
    assert_eq!(latest.version, base.version + PUBLISHERS);
    let ids: BTreeSet<u64> = latest.all_chunks().map(|c| c.id.id).collect();
    assert_eq!(ids, (100..100 + PUBLISHERS).collect(), "an edit was lost");

    // Publishers at the old epoch racing a writer claim: each commits before
    // the claim or is fenced; none after it.
    let claimer = ManifestStore::new(store());
    let claim_base = latest.clone();
    let claim = tokio::spawn(async move { claimer.claim_writer(&claim_base).await });
    let mut racers = Vec::new();
    for i in 0..4 {
        let ms = ManifestStore::new(store());
        let (base, edit) = (latest.clone(), edit_adding(latest.epoch, 200 + i));
        racers.push(tokio::spawn(async move {
            ms.publish(&base, &edit, base.epoch).await
        }));
    }
    let claimed = claim.await.expect("claimer").expect("claim");
    assert_eq!(claimed.epoch, latest.epoch + 1);
    for r in racers {
        match r.await.expect("publisher") {
            Ok(m) => assert!(
                m.version < claimed.version && m.epoch == latest.epoch,
                "a publish of epoch {} committed version {} after the claim at {}",
                m.epoch,
                m.version,
                claimed.version
            ),
            Err(ManifestError::Fenced { their_epoch, .. }) => {
                assert_eq!(their_epoch, claimed.epoch)
            }
            Err(e) => panic!("a racing publish failed: {e}"),
        }
    }
    // Every version decodes, one per number, epochs never going back.
    let history = manifest_history(&env).await;
    for pair in history.windows(2) {
        assert_eq!(pair[1].version, pair[0].version + 1);
        assert!(pair[1].epoch >= pair[0].epoch);
    }
}

/// An edit adding one (fake) level-0 chunk with id `id`.
fn edit_adding(epoch: u64, id: u64) -> ManifestEdit {
    ManifestEdit {
        add_l0: vec![ChunkMeta {
            id: ChunkId { epoch, id },
            size: 100,
            meta_offset: 50,
            meta_len: 50,
            entries: 1,
            tombstones: 0,
            min_key: format!("k{id}").into_bytes(),
            max_key: format!("k{id}").into_bytes(),
            min_seq: id,
            max_seq: id,
        }],
        ..ManifestEdit::default()
    }
}

// ---------------------------------------------------------------------------
// Conditional-write self-check
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_ignoring_conditional_writes_is_refused_on_s3() {
    if s3_enabled("a_store_ignoring_conditional_writes_is_refused_on_s3") {
        let env = TestDb::new(StoreKind::S3, "ignores-conditions");
        let op = s3_operator(&env.url);
        // The same operator without the layer is fine: the server honours
        // If-None-Match, so the refusal below is the layer's doing.
        let honest =
            ObjectStore::from_operator_with(op.clone(), env.url.clone(), &StoreOptions::default())
                .expect("store");
        let mut opts = env.options_with_local("honest");
        opts.object_store = Some(honest);
        env.open(opts).await.close().await.expect("close");
        ignoring_conditional_writes_is_refused(&env, op).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_ignoring_conditional_writes_is_refused_on_memory() {
    let env = TestDb::new(StoreKind::Memory, "ignores-conditions");
    let op = opendal::Operator::new(opendal::services::Memory::default()).expect("memory");
    ignoring_conditional_writes_is_refused(&env, op).await;
}

async fn ignoring_conditional_writes_is_refused(env: &TestDb, op: opendal::Operator) {
    let store = ObjectStore::from_operator_with(
        op.layer(IgnoreConditionalWritesLayer),
        env.url.clone(),
        &StoreOptions::default(),
    )
    .expect("store");
    let manifests_before = store.list("manifest/").await.expect("list").len();
    let mut opts = env.options_with_local("refused");
    opts.object_store = Some(store.clone());
    let err = match Db::open(opts.clone()).await {
        Ok(_) => panic!("a store that ignores conditional creates was accepted"),
        Err(e) => e,
    };
    assert!(
        matches!(
            err,
            Error::Store(StoreError::UnsafeConditionalWrites { .. })
        ),
        "expected UnsafeConditionalWrites, got {err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("ignores the condition") && msg.contains("If-None-Match"),
        "the error does not say the store ignores conditional writes: {msg}"
    );
    assert!(
        msg.contains("allow_unconditional_writes"),
        "the error does not name the opt-in: {msg}"
    );
    assert_eq!(
        store.list("manifest/").await.expect("list").len(),
        manifests_before,
        "the refused open published a manifest version"
    );
    assert!(
        !opts.local_dir.exists(),
        "the refused open created the local directory"
    );

    // The unfenced single-writer mode: the user promises that no two writers
    // ever open this database at once, so fencing (which relies on
    // conditional creates) is not needed. Firn then opens and works.
    opts.store.allow_unconditional_writes = true;
    let db = env.open(opts.clone()).await;
    db.put("k", "v").await.expect("put");
    db.flush().await.expect("flush");
    db.close().await.expect("close");
    let db = env.open(opts).await;
    assert_eq!(db.get("k").await.expect("get").as_deref(), Some(&b"v"[..]));
    db.close().await.expect("close");
}

// ---------------------------------------------------------------------------
// Multipart upload and ranged reads
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_chunk_is_uploaded_in_parts_and_read_by_ranges_on_s3() {
    if !s3_enabled("a_large_chunk_is_uploaded_in_parts_and_read_by_ranges_on_s3") {
        return;
    }
    let env = TestDb::new(StoreKind::S3, "multipart");
    const VALUE: usize = 64 << 10;
    const KEYS: usize = 290; // ~18 MiB of incompressible values
    let value = |i: usize| -> Vec<u8> {
        let mut rng = StdRng::seed_from_u64(i as u64);
        (0..VALUE).map(|_| rng.random()).collect()
    };
    let mut opts = env.options();
    opts.memtable_size = 64 << 20;
    // Below the ~18 MiB chunk, so it goes up in parts (the default threshold
    // is above every chunk the engine writes by default).
    opts.store.multipart_threshold = 16 << 20;
    opts.store.multipart_part_size = 8 << 20;
    let threshold = opts.store.multipart_threshold;
    let part = opts.store.multipart_part_size as u64;
    let db = env.open(opts).await;
    for i in 0..KEYS {
        db.put(format!("mp{i:04}"), value(i)).await.expect("put");
    }
    let before = db.metrics().requests;
    let ids = db.flush().await.expect("flush");
    let during = db.metrics().requests.since(&before);
    assert_eq!(ids.len(), 1, "one memtable, one chunk: {ids:?}");
    let chunk = env
        .list_objects("chunks/")
        .await
        .into_iter()
        .find(|o| o.path == ids[0].object_name())
        .expect("the chunk object");
    assert!(
        chunk.size > threshold as u64,
        "the chunk ({} bytes) is not above the multipart threshold ({threshold})",
        chunk.size
    );
    // Start + one request per part + complete, and the manifest publish.
    let parts = chunk.size.div_ceil(part);
    assert!(
        during.put >= parts + 3,
        "a {} byte chunk in {parts} parts took only {} PUT/POST requests: {during}",
        chunk.size,
        during.put
    );
    assert!(during.bytes_written >= chunk.size, "{during}");
    db.close().await.expect("close");

    // A fresh local directory: nothing cached; the chunk's index comes at
    // open (preloaded; lazily it would cost one more GET on the first read).
    let mut cold = env.options_with_local("cold");
    cold.block_cache_bytes = 64 << 20;
    cold.preload_indexes = true;
    let db = env.open(cold).await;
    // Background work after open (the GC pass an open triggers) makes its
    // own requests: measure once the handle is idle.
    settle(&db).await;
    let mut gets = Vec::new();
    for i in [123, 7, 289] {
        let before = db.metrics().requests;
        let got = db.get(format!("mp{i:04}")).await.expect("get");
        let cost = db.metrics().requests.since(&before);
        assert_eq!(got.as_deref(), Some(&value(i)[..]), "key {i}");
        assert_eq!(
            cost.total_requests(),
            1,
            "a cold point read must cost one GET: {cost}"
        );
        assert_eq!(cost.get, 1, "{cost}");
        // One block (this value and its neighbours), not the object.
        assert!(
            cost.bytes_read >= VALUE as u64 && cost.bytes_read < 4 * VALUE as u64,
            "a point read fetched {} bytes of a {} byte chunk",
            cost.bytes_read,
            chunk.size
        );
        gets.push(cost);
    }
    // Cached now: no request at all.
    let before = db.metrics().requests;
    assert!(db.get("mp0123").await.expect("get").is_some());
    assert_eq!(db.metrics().requests.since(&before).total_requests(), 0);
    // Everything round-trips.
    let all = collect(db.scan::<&[u8], _>(..).expect("scan"))
        .await
        .expect("scan");
    assert_eq!(all.len(), KEYS);
    for (i, (k, v)) in all.iter().enumerate() {
        assert_eq!(k, format!("mp{i:04}").as_bytes());
        assert!(v == &value(i), "value {i} differs after the round trip");
    }
    db.close().await.expect("close");
    eprintln!(
        "multipart: {} byte chunk, flush cost {during}; cold gets {gets:?}",
        chunk.size
    );
}

// ---------------------------------------------------------------------------
// Bad credentials
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_one_clear_error_at_open_on_s3() {
    if !s3_enabled("bad_credentials_are_one_clear_error_at_open_on_s3") {
        return;
    }
    if std::env::var("FIRN_TEST_S3_AUTHENTICATING").as_deref() != Ok("1") {
        eprintln!(
            "skipped bad_credentials_are_one_clear_error_at_open_on_s3: the local test server \
             (moto) accepts any access key, so a wrong secret cannot fail there. Set \
             FIRN_TEST_S3_AUTHENTICATING=1 when FIRN_TEST_S3_ENDPOINT points at a server that \
             checks credentials (MinIO, AWS)"
        );
        return;
    }
    let env = TestDb::new(StoreKind::S3, "bad-credentials");
    let mut opts = env.options();
    opts.store.s3_access_key_id =
        Some(std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "firn-test-key".into()));
    opts.store.s3_secret_access_key = Some("firn-test-definitely-wrong-secret".into());
    opts.store.max_retries = 1;
    opts.store.request_timeout = Duration::from_secs(5);
    opts.store.io_timeout = Duration::from_secs(5);
    let started = Instant::now();
    let err = match Db::open(opts.clone()).await {
        Ok(_) => panic!("a wrong secret was accepted by {}", env.url),
        Err(e) => e,
    };
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, Error::Store(StoreError::Access { .. })),
        "expected one access error, got {err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("access denied") && msg.contains(&env.url),
        "the error does not say access was denied to {}: {msg}",
        env.url
    );
    assert!(
        !opts.local_dir.exists(),
        "the failed open created the local directory"
    );
}
