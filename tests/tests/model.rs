//! Model-based test: the database behaves exactly like a `BTreeMap`.
//!
//! Thousands of seeded random operations — puts, deletes, mixed batches,
//! range deletes, point reads and `multi_get`s, range scans and prefix
//! scans, snapshots read long after they were taken, reads at the seq of an
//! older write (`snapshot_at`, `get_at`: exactly the logged writes through
//! it, or a clear refusal below the oldest readable seq, with and without
//! read history), flushes, GC passes with no grace period, clean
//! close + reopen, crash (drop without close) + reopen, takeover by a writer
//! on another local directory (after a crash or a clean close) and reopening
//! a fenced directory — run against the
//! engine and against an in-memory oracle, and every
//! read is compared with the oracle (a snapshot is compared with the oracle
//! state captured when it was taken). A 16 KiB memtable and 512-byte blocks
//! make flushes and multi-block chunks frequent, and a small key space makes
//! overwrites and deletes hit keys that live in memtables and in chunks;
//! every acknowledged write is logged with its sequence numbers and local
//! directory, so after a takeover the oracle is exactly the writes at or
//! below the new writer's watermark, and reopening the fenced directory must
//! name exactly the rest (`FencedWrites`), which are then re-applied through
//! the current writer (as `wal-export | load` does) or discarded, with no
//! bound on how many takeovers happen;
//! tiny memory and disk caches and read-ahead windows keep both cache tiers
//! evicting. Scans go backwards and seek at random; some puts expire (TTLs
//! from 40 ms to an hour) on a controlled clock — the real one plus a skew
//! that time-jump steps move forward by 40 ms to 5 s, expiring values in
//! bulk: the oracle knows each deadline to within the write call's
//! duration, and a read whose time window contains a deadline may see that
//! value or not, never another.
//!
//! It runs on `memory://` (a uniquely named in-process store, which survives
//! close and reopen), on `file://` (a temporary folder) and on the S3 server
//! of the test run (a unique prefix; fewer seeds and steps, as every flush and
//! reopen costs real requests). The S3 variant skips with a message when
//! `FIRN_TEST_S3_ENDPOINT` is unset, and fails then if `FIRN_REQUIRE_S3` is.
//!
//! A fourth variant runs over a memory store wrapped in the fault-injecting
//! layer ([`firn_tests::faults`]) under OpenDAL's retry layer, as a real S3
//! store's transport sits under its retries: seeded errors on reads, writes,
//! lists, stats and deletes, added latency, and partial failures (the write
//! lands, the call fails). Reads never fail more often in a row than the
//! retry layer retries, so no read error may reach the model; writes
//! sometimes fail past it, into the engine's own retries (and an open may
//! fail with a store error, which is retried). No divergence from the oracle
//! and no lost acknowledged write are allowed, and the run must show that
//! faults of every kind were injected and that the engine retried.
//!
//! On failure the message names the seed and the last operations; rerun one
//! seed with `FIRN_MODEL_SEED=<seed>` (and `FIRN_MODEL_STEPS=<n>` to change
//! the length of the run).

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use std::time::Duration;

use firn::{Db, Durability, Error, ObjectStore, Options, Snapshot, WriteBatch, WriteOptions};
use firn_tests::faults::{FaultConfig, FaultControl, FaultLayer, FaultStats};
use firn_tests::{collect, diff_scans, s3_enabled, show, Oracle, StoreKind, TestDb};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Distinct keys the run draws from (small, so overwrites and deletes hit).
const KEY_SPACE: u32 = 240;
/// Operations per seed unless `FIRN_MODEL_STEPS` says otherwise.
const DEFAULT_STEPS: usize = 2500;
/// Operations per seed on the S3 server (every flush and reopen is a few
/// real requests).
const S3_STEPS: usize = 1500;
/// Most snapshots alive at once.
const MAX_SNAPSHOTS: usize = 4;
/// Operations kept for the failure message.
const HISTORY: usize = 40;

type Check = Result<(), String>;

/// Key number `id`: a prefix from a small set (so prefix scans select
/// interesting subsets, including keys with 0x00 and 0xFF bytes), the id, and
/// padding of 0..22 bytes (300 bytes for every 40th key).
fn key_for(id: u32) -> Vec<u8> {
    const PREFIXES: [&[u8]; 6] = [b"a", b"ab", b"abc/", b"b", b"\x00", b"\xff"];
    let mut key = PREFIXES[(id % 6) as usize].to_vec();
    key.extend_from_slice(id.to_string().as_bytes());
    let pad = if id.is_multiple_of(40) {
        300
    } else {
        (id * 7 % 23) as usize
    };
    key.extend(std::iter::repeat_n(b'-', pad));
    key
}

/// Counters printed after a run (and checked for coverage).
#[derive(Debug, Default)]
struct Stats {
    writes: usize,
    reads: usize,
    scans: usize,
    /// Scans (plain, prefix, in snapshots) that ran backwards.
    reverse_scans: usize,
    /// Scans that seeked before reading.
    seeks: usize,
    snapshot_reads: usize,
    gc_passes: usize,
    flushes: usize,
    background_flushes: u64,
    reopens: usize,
    crashes: usize,
    /// Writers opened on another local directory (fencing the previous one).
    takeovers: usize,
    /// Fenced directories reopened (each reporting exactly its stranded writes).
    fenced_reopens: usize,
    /// Writers whose machine was lost (killed, local directory deleted).
    machine_losses: usize,
    /// Times the follower was brought up to date and compared with the oracle.
    follower_checks: usize,
    /// Point-in-time restores to an earlier seq compared with the log.
    restore_checks: usize,
    /// Bulk ingests published.
    ingests: usize,
    /// Puts with a TTL (alone or in batches).
    expiring_puts: usize,
    /// Range deletes (alone or in batches).
    range_deletes: usize,
    /// Times the clock jumped forward.
    time_jumps: usize,
    /// Reads at an older seq compared with the log replayed to it.
    seq_reads: usize,
    /// Reads at a seq older than the read history, refused as they must be.
    seq_refusals: usize,
    /// Values full checks found certainly expired (and so checked absent).
    expired_checked: usize,
    /// Writes acknowledged with `Durability::Remote` (in the bucket).
    remote_writes: usize,
    /// Writes that were stranded in a fenced directory's WAL.
    stranded_writes: usize,
    max_chunks: u64,
    /// Object-store operations the engine retried (all handles).
    upload_retries: u64,
    /// Opens that failed with a store error and were tried again (faulty
    /// store only).
    open_retries: usize,
}

struct Run {
    /// "memory", "file", "s3" or "faulty memory", for messages.
    label: String,
    seed: u64,
    rng: StdRng,
    env: TestDb,
    db: Option<Db>,
    oracle: Oracle,
    /// Live snapshots with the oracle state at the moment each was taken.
    snapshots: Vec<(Snapshot, Oracle)>,
    step: usize,
    history: VecDeque<String>,
    stats: Stats,
    /// The faulty store every handle of the run opens, with its control.
    faulty: Option<(ObjectStore, FaultControl)>,
    /// The local directory the current handle uses (0: the test's own).
    dir: usize,
    /// Local directories used so far.
    dirs: usize,
    /// Every acknowledged write that is in the database, in order.
    log: Vec<Logged>,
    /// Per fenced directory: its acknowledged writes that never reached the bucket.
    stranded: Vec<(usize, Vec<Logged>)>,
    /// A follower on its own local directory, opened at the first follower
    /// step and kept across every later flush, compaction, GC and takeover.
    follower: Option<Db>,
}

/// One acknowledged write: the directory whose writer made it, its seqs.
struct Logged {
    dir: usize,
    first: u64,
    last: u64,
    batch: WriteBatch,
    /// Acknowledged with `Durability::Remote`: it must survive a machine loss.
    remote: bool,
    /// Wall-clock ms before and after the write call: its commit time lies
    /// between (its expiring puts' deadlines follow from it).
    commit: (u64, u64),
}

impl Run {
    fn new(kind: StoreKind, seed: u64) -> Run {
        clock();
        Run {
            label: kind.to_string(),
            seed,
            rng: StdRng::seed_from_u64(seed),
            env: TestDb::new(kind, &format!("model-{seed}")),
            faulty: None,
            db: None,
            oracle: Oracle::new(),
            snapshots: Vec::new(),
            step: 0,
            history: VecDeque::new(),
            stats: Stats::default(),
            dir: 0,
            dirs: 1,
            log: Vec::new(),
            stranded: Vec::new(),
            follower: None,
        }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("the database is open")
    }

    fn note(&mut self, what: String) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(format!("#{} {what}", self.step));
    }

    /// A run over a memory store behind the fault-injecting layer (under
    /// OpenDAL's retry layer, like a real S3 transport under its retries).
    fn faulty(seed: u64) -> Run {
        let mut run = Run::new(StoreKind::Memory, seed);
        run.label = "faulty memory".into();
        let layer = FaultLayer::new(FaultConfig {
            seed,
            read_error_rate: 0.05,
            write_error_rate: 0.25,
            partial_write_rate: 0.15,
            list_error_rate: 0.10,
            stat_error_rate: 0.10,
            delete_error_rate: 0.10,
            max_latency: Duration::from_micros(500),
            // The retry layer above makes 2 retries: reads always get
            // through it, writes sometimes fail past it.
            max_streak_reads: 2,
            max_streak_writes: 6,
            max_faults_per_object: u32::MAX,
            only_under: None,
        });
        let control = layer.control();
        let retry = opendal::layers::RetryLayer::new()
            .with_min_delay(Duration::from_millis(1))
            .with_max_delay(Duration::from_millis(8))
            .with_max_times(2);
        let store = run.env.layered_store(|op| op.layer(layer).layer(retry));
        run.faulty = Some((store, control));
        run
    }

    /// Options for local directory `dir` (0: the test's own).
    fn options_for(&self, dir: usize) -> Options {
        let mut opts = self.env.small_options();
        if dir > 0 {
            opts.local_dir = self.env.root.path().join(format!("local-{dir}"));
        }
        // Tiny caches and read-ahead windows (blocks are 512 bytes): both
        // cache tiers evict all the time and scans cross many windows.
        opts.block_cache_bytes = 32 << 10;
        opts.disk_cache_bytes = 64 << 10;
        opts.scan_readahead = 4 << 10;
        opts.cache_flushed_blocks = true;
        // Half the seeds keep an hour of read history (every seq since the
        // open readable), half none (seqs from the last flush on).
        if self.seed.is_multiple_of(2) {
            opts.read_history = Duration::from_secs(3600);
        }
        if let Some((store, _)) = &self.faulty {
            opts.object_store = Some(store.clone());
            opts.retry_delay = Duration::from_millis(2);
            opts.max_retry_delay = Duration::from_millis(20);
        }
        opts
    }

    fn fault_stats(&self) -> Option<FaultStats> {
        self.faulty.as_ref().map(|(_, control)| control.stats())
    }

    async fn open(&mut self) -> Check {
        let db = self
            .open_dir(self.dir)
            .await?
            .map_err(|e| format!("open: {e}"))?;
        self.db = Some(db);
        Ok(())
    }

    /// Opens local directory `dir` as writer. Over the faulty store an open
    /// may meet more failures in a row than the store retries: one clear
    /// error, and nothing changed that a second open cannot handle.
    async fn open_dir(&mut self, dir: usize) -> Result<Result<Db, Error>, String> {
        let mut attempt = 0;
        loop {
            match Db::open(self.options_for(dir)).await {
                Err(e @ Error::Store(_)) if self.faulty.is_some() && attempt < 20 => {
                    attempt += 1;
                    self.stats.open_retries += 1;
                    self.note(format!("open failed with a store error, again: {e}"));
                }
                other => return Ok(other),
            }
        }
    }

    /// Logs an acknowledged write of the current handle ending at `last`,
    /// made between wall-clock ms `started` and now.
    fn log_write(&mut self, batch: WriteBatch, last: u64, started: u64) {
        self.log_write_as(batch, last, false, started);
    }

    fn log_write_as(&mut self, batch: WriteBatch, last: u64, remote: bool, started: u64) {
        let first = last + 1 - batch.len() as u64;
        let commit = (started, now_ms());
        self.oracle.apply_at(&batch, Some(commit));
        self.log.push(Logged {
            dir: self.dir,
            first,
            last,
            batch,
            remote,
            commit,
        });
    }

    /// A TTL for an expiring put: most expire during the run, some not.
    fn ttl(&mut self) -> Duration {
        Duration::from_millis(match self.rng.random_range(0..5) {
            0 => 40,
            1 => 200,
            2 => 1_000,
            3 => 5_000,
            _ => 3_600_000,
        })
    }

    /// Ends the current handle's life: its counters go into the stats.
    fn account(&mut self) {
        let m = self.db().metrics();
        self.stats.background_flushes += m.flushes;
        self.stats.upload_retries += m.upload_retries;
    }

    /// A range to delete: from a picked key to a random key above it
    /// (mostly a few keys wide, sometimes a whole prefix or more).
    fn pick_range(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        let start = self.pick_key();
        let end = if self.rng.random_bool(0.8) {
            let mut end = start.clone();
            let last = end.len().saturating_sub(self.rng.random_range(1..4));
            end.truncate(last.max(1));
            if let Some(b) = end.last_mut() {
                *b = b.saturating_add(1);
            }
            end
        } else {
            self.random_id_key()
        };
        (start < end).then_some((start, end))
    }

    fn random_id_key(&mut self) -> Vec<u8> {
        key_for(self.rng.random_range(0..KEY_SPACE))
    }

    /// Mostly a live key (so reads and deletes hit), sometimes any key.
    fn pick_key(&mut self) -> Vec<u8> {
        if !self.oracle.is_empty() && self.rng.random_bool(0.7) {
            let i = self.rng.random_range(0..self.oracle.len());
            return self.oracle.map.keys().nth(i).cloned().unwrap_or_default();
        }
        self.random_id_key()
    }

    fn value(&mut self) -> Vec<u8> {
        let len = match self.rng.random_range(0..1000) {
            0..15 => self.rng.random_range(12_000..40_000),
            15..150 => self.rng.random_range(0..20),
            _ => self.rng.random_range(0..300),
        };
        let mut v = vec![0u8; len];
        self.rng.fill(&mut v[..]);
        v
    }

    /// A short byte string over a small alphabet (bounds and prefixes that
    /// fall between, before and after keys).
    fn short_bytes(&mut self, max_len: usize) -> Vec<u8> {
        const ALPHABET: &[u8] = b"\x00\xffab/123-";
        let len = self.rng.random_range(0..=max_len);
        (0..len)
            .map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())])
            .collect()
    }

    fn bound(&mut self) -> Bound<Vec<u8>> {
        if self.rng.random_bool(0.2) {
            return Bound::Unbounded;
        }
        let key = if self.rng.random_bool(0.6) {
            self.pick_key()
        } else {
            self.short_bytes(4)
        };
        if self.rng.random_bool(0.5) {
            Bound::Included(key)
        } else {
            Bound::Excluded(key)
        }
    }

    fn prefix(&mut self) -> Vec<u8> {
        match self.rng.random_range(0..10) {
            0 => Vec::new(),
            1..6 => {
                let key = self.pick_key();
                let len = self.rng.random_range(1..=key.len().min(8));
                key[..len].to_vec()
            }
            _ => {
                let len = self.rng.random_range(1..=3);
                let mut p = self.short_bytes(len);
                if p.is_empty() {
                    p.push(b'a');
                }
                p
            }
        }
    }

    fn write_options(&mut self) -> WriteOptions {
        let durability = match self.rng.random_range(0..20) {
            0 => Durability::Sync,
            1 => Durability::Remote,
            2..4 => Durability::Deferred,
            _ => Durability::Buffered,
        };
        WriteOptions {
            durability: Some(durability),
        }
    }

    async fn put(&mut self) -> Check {
        let (key, value) = (self.pick_key(), self.value());
        let ttl = self.rng.random_bool(0.2).then(|| self.ttl());
        self.note(format!(
            "put {} ({} bytes{})",
            show(&key),
            value.len(),
            ttl.map(|t| format!(", ttl {t:?}")).unwrap_or_default()
        ));
        let started = now_ms();
        let put = match ttl {
            Some(ttl) => {
                self.db()
                    .put_with_ttl(key.clone(), value.clone(), ttl)
                    .await
            }
            None => self.db().put(key.clone(), value.clone()).await,
        };
        put.map_err(|e| format!("put {}: {e}", show(&key)))?;
        let seq = self.db().metrics().visible_seq;
        let mut batch = WriteBatch::new();
        match ttl {
            Some(ttl) => {
                batch.put_with_ttl(key, value, ttl);
                self.stats.expiring_puts += 1;
            }
            None => {
                batch.put(key, value);
            }
        }
        self.log_write(batch, seq, started);
        self.stats.writes += 1;
        Ok(())
    }

    async fn delete(&mut self) -> Check {
        let key = self.pick_key();
        self.note(format!("delete {}", show(&key)));
        let started = now_ms();
        self.db()
            .delete(key.clone())
            .await
            .map_err(|e| format!("delete {}: {e}", show(&key)))?;
        let seq = self.db().metrics().visible_seq;
        let mut batch = WriteBatch::new();
        batch.delete(key);
        self.log_write(batch, seq, started);
        self.stats.writes += 1;
        Ok(())
    }

    /// Moves the clock forward by about a TTL's length: the values whose
    /// deadline it passes expire at once.
    fn time_jump(&mut self) {
        let ms = [40, 200, 1_000, 5_000][self.rng.random_range(0..4)];
        clock().skew_ms.fetch_add(ms, Ordering::SeqCst);
        self.note(format!("the clock jumps {ms} ms forward"));
        self.stats.time_jumps += 1;
    }

    async fn delete_range(&mut self) -> Check {
        let Some((start, end)) = self.pick_range() else {
            return Ok(());
        };
        self.note(format!("delete_range {} .. {}", show(&start), show(&end)));
        let started = now_ms();
        self.db()
            .delete_range(start.clone(), end.clone())
            .await
            .map_err(|e| format!("delete_range {} .. {}: {e}", show(&start), show(&end)))?;
        let seq = self.db().metrics().visible_seq;
        let mut batch = WriteBatch::new();
        batch.delete_range(start, end);
        self.log_write(batch, seq, started);
        self.stats.writes += 1;
        self.stats.range_deletes += 1;
        Ok(())
    }

    /// Reads at the seq of a logged write: exactly the log replayed through
    /// it, when the seq is still readable; a clear refusal when not.
    async fn read_at_seq(&mut self) -> Check {
        if self.log.is_empty() {
            return Ok(());
        }
        let oldest = self.db().oldest_readable_seq();
        let readable: Vec<u64> = self
            .log
            .iter()
            .map(|w| w.last)
            .filter(|&s| s >= oldest)
            .collect();
        let refused = self
            .log
            .iter()
            .rev()
            .map(|w| w.last)
            .find(|&s| s < oldest && !self.snapshots.iter().any(|(snap, _)| snap.seq() == s));
        if let Some(seq) = refused.filter(|_| self.rng.random_bool(0.2)) {
            self.note(format!("read at seq {seq}, older than {oldest}: refused"));
            let key = self.pick_key();
            return match self.db().get_at(key, seq).await {
                Err(Error::SeqOutOfRange {
                    seq: s, oldest: o, ..
                }) if s == seq && o >= oldest => {
                    self.stats.seq_refusals += 1;
                    Ok(())
                }
                other => Err(format!(
                    "read at seq {seq} below the oldest readable {oldest}: {:?}",
                    other.map(|v| v.map(|v| show(&v)))
                )),
            };
        }
        let Some(&seq) = readable.get(self.rng.random_range(0..readable.len().max(1))) else {
            return Ok(());
        };
        let mut then = Oracle::new();
        for w in self.log.iter().filter(|w| w.last <= seq) {
            then.apply_at(&w.batch, Some(w.commit));
        }
        let keys: Vec<Vec<u8>> = (0..4).map(|_| self.pick_key()).collect();
        let shape = self.scan_shape();
        let (lo, hi) = (self.bound(), self.bound());
        self.note(format!(
            "read at seq {seq} (oldest readable {oldest}): scan {} .. {}{}",
            show_bound(&lo),
            show_bound(&hi),
            shape.show()
        ));
        let started = now_ms();
        let snap = match self.db().snapshot_at(seq) {
            Ok(snap) => snap,
            // A background flush or compaction may raise the floor past
            // `seq` at any moment (at once without read history): refused,
            // naming the new floor, is right then.
            Err(Error::SeqOutOfRange { oldest: now, .. }) if now > seq => {
                self.note(format!("the floor rose to {now} meanwhile: refused"));
                self.stats.seq_refusals += 1;
                return Ok(());
            }
            Err(e) => return Err(format!("snapshot_at({seq}), oldest readable {oldest}: {e}")),
        };
        let it = snap
            .scan::<Vec<u8>, _>((lo.clone(), hi.clone()))
            .map_err(|e| format!("scan at seq {seq}: {e}"))?;
        let got = collect(shape.apply(it))
            .await
            .map_err(|e| format!("scan at seq {seq}: {e}"))?;
        let seen = Seen::new(&then, started);
        let want = shape.expect(seen.view.range(&lo, &hi), usize::MAX);
        let ctx = format!(
            "scan {} .. {}{} at seq {seq}",
            show_bound(&lo),
            show_bound(&hi),
            shape.show()
        );
        seen.scan(&got, &want, usize::MAX, &ctx)?;
        for key in keys {
            let got = self
                .db()
                .get_at(&key, seq)
                .await
                .map_err(|e| format!("get_at({}, {seq}): {e}", show(&key)))?;
            seen.get(&key, got.as_deref(), &format!(" at seq {seq}"))?;
        }
        self.stats.seq_reads += 1;
        Ok(())
    }

    async fn batch(&mut self) -> Check {
        let mut batch = WriteBatch::new();
        let n = self.rng.random_range(1..=12);
        for _ in 0..n {
            let key = self.pick_key();
            let range = if self.rng.random_bool(0.04) {
                self.pick_range()
            } else {
                None
            };
            if let Some((start, end)) = range {
                batch.delete_range(start, end);
                self.stats.range_deletes += 1;
            } else if self.rng.random_bool(0.25) {
                batch.delete(key);
            } else if self.rng.random_bool(0.15) {
                let (value, ttl) = (self.value(), self.ttl());
                batch.put_with_ttl(key, value, ttl);
                self.stats.expiring_puts += 1;
            } else {
                let value = self.value();
                batch.put(key, value);
            }
        }
        let opts = self.write_options();
        self.note(format!("batch of {n} ops ({:?})", opts.durability));
        let started = now_ms();
        let last = self
            .db()
            .write_with(batch.clone(), opts)
            .await
            .map_err(|e| format!("batch of {n} ops: {e}"))?;
        let visible = self.db().metrics().visible_seq;
        if visible < last {
            return Err(format!(
                "batch acknowledged with seq {last} but visible seq is {visible}"
            ));
        }
        let remote = opts.durability == Some(Durability::Remote);
        if remote {
            let durable = self.db().durability_status().bucket_durable_seq;
            if durable < last {
                return Err(format!(
                    "Remote batch acknowledged with seq {last} but the bucket holds only \
                     through {durable}"
                ));
            }
            self.stats.remote_writes += 1;
        }
        self.log_write_as(batch, last, remote, started);
        self.stats.writes += 1;
        Ok(())
    }

    /// A bulk ingest of a few sorted puts and deletes, over live keys and new
    /// ones: published at one seq, in the bucket once acknowledged (it must
    /// survive takeovers and machine losses), seen by followers and restores
    /// like any write, and hidden from the snapshots taken before it.
    async fn ingest(&mut self) -> Check {
        if self.faulty.is_some() {
            // An ingest that fails under faults may or may not have been
            // published (a lost answer): the model could not tell which.
            return Ok(());
        }
        let n = self.rng.random_range(1..=40);
        let mut entries = std::collections::BTreeMap::new();
        for _ in 0..n {
            let key = self.pick_key();
            let value = (!self.rng.random_bool(0.2)).then(|| self.value());
            entries.insert(key, value);
        }
        self.note(format!("bulk ingest of {} entries", entries.len()));
        let db = self.db();
        let mut ingest = db.bulk_ingest().map_err(|e| format!("bulk_ingest: {e}"))?;
        let mut batch = WriteBatch::new();
        for (key, value) in entries {
            let added = match &value {
                Some(v) => ingest.put(key.clone(), v.clone()).await,
                None => ingest.delete(key.clone()).await,
            };
            added.map_err(|e| format!("bulk ingest of {}: {e}", show(&key)))?;
            match value {
                Some(v) => batch.put(key, v),
                None => batch.delete(key),
            };
        }
        let report = ingest
            .finish()
            .await
            .map_err(|e| format!("bulk ingest: {e}"))?;
        let m = self.db().metrics();
        if m.visible_seq < report.seq || self.db().manifest().wal_watermark < report.seq {
            return Err(format!(
                "ingest acknowledged at seq {} but visible seq is {} and the watermark {}",
                report.seq,
                m.visible_seq,
                self.db().manifest().wal_watermark
            ));
        }
        self.note(format!(
            "ingested at seq {} into {:?} ({} chunks)",
            report.seq, report.placement, report.chunks
        ));
        self.oracle.apply(&batch);
        let now = now_ms();
        self.log.push(Logged {
            dir: self.dir,
            first: report.seq,
            last: report.seq,
            batch,
            remote: true,
            commit: (now, now),
        });
        self.stats.ingests += 1;
        Ok(())
    }

    async fn get(&mut self) -> Check {
        let key = if self.rng.random_bool(0.8) {
            self.pick_key()
        } else {
            self.short_bytes(3)
        };
        if key.is_empty() {
            return Ok(());
        }
        if self.rng.random_bool(0.25) {
            return self.multi_get(key).await;
        }
        self.note(format!("get {}", show(&key)));
        let started = now_ms();
        let got = self
            .db()
            .get(&key)
            .await
            .map_err(|e| format!("get {}: {e}", show(&key)))?;
        Seen::new(&self.oracle, started).get(&key, got.as_deref(), "")?;
        self.stats.reads += 1;
        Ok(())
    }

    /// `multi_get` of `first` and a few more keys (some repeated, some
    /// never written), each compared with the oracle.
    async fn multi_get(&mut self, first: Vec<u8>) -> Check {
        let mut keys = vec![first];
        for _ in 0..self.rng.random_range(0..12) {
            let key = match self.rng.random_range(0..10) {
                0 => keys[0].clone(),
                1 => self.short_bytes(3),
                _ => self.pick_key(),
            };
            if !key.is_empty() {
                keys.push(key);
            }
        }
        self.note(format!("multi_get of {} keys", keys.len()));
        let started = now_ms();
        let got = self
            .db()
            .multi_get(&keys)
            .await
            .map_err(|e| format!("multi_get {}: {e}", show(&keys[0])))?;
        let seen = Seen::new(&self.oracle, started);
        for (key, value) in keys.iter().zip(&got) {
            seen.get(key, value.as_deref(), " (multi_get)")?;
        }
        self.stats.reads += keys.len();
        Ok(())
    }

    /// How many entries of a scan to read: all of it, or sometimes only the
    /// first few (dropping the iterator early).
    fn scan_limit(&mut self) -> usize {
        if self.rng.random_bool(0.2) {
            self.rng.random_range(0..8)
        } else {
            usize::MAX
        }
    }

    /// How a scan is read: forwards or backwards, and whether it seeks to a
    /// key first.
    fn scan_shape(&mut self) -> ScanShape {
        let reverse = self.rng.random_bool(0.4);
        let seek = self.rng.random_bool(0.3).then(|| self.pick_key());
        self.stats.reverse_scans += usize::from(reverse);
        self.stats.seeks += usize::from(seek.is_some());
        ScanShape { reverse, seek }
    }

    async fn scan(&mut self) -> Check {
        let (lo, hi, limit) = (self.bound(), self.bound(), self.scan_limit());
        let shape = self.scan_shape();
        self.note(format!(
            "scan {} .. {} (limit {limit}{})",
            show_bound(&lo),
            show_bound(&hi),
            shape.show()
        ));
        let started = now_ms();
        let it = self
            .db()
            .scan::<Vec<u8>, _>((lo.clone(), hi.clone()))
            .map_err(|e| format!("scan: {e}"))?;
        let got = take(shape.apply(it), limit)
            .await
            .map_err(|e| format!("scan: {e}"))?;
        let seen = Seen::new(&self.oracle, started);
        let want = shape.expect(seen.view.range(&lo, &hi), usize::MAX);
        seen.scan(&got, &want, limit, &format!("scan{}", shape.show()))?;
        self.stats.scans += 1;
        Ok(())
    }

    async fn scan_prefix(&mut self) -> Check {
        let (prefix, limit) = (self.prefix(), self.scan_limit());
        let shape = self.scan_shape();
        self.note(format!(
            "scan_prefix {} (limit {limit}{})",
            show(&prefix),
            shape.show()
        ));
        let started = now_ms();
        let it = self
            .db()
            .scan_prefix(&prefix)
            .map_err(|e| format!("scan_prefix: {e}"))?;
        let got = take(shape.apply(it), limit)
            .await
            .map_err(|e| format!("scan_prefix: {e}"))?;
        let seen = Seen::new(&self.oracle, started);
        let want = shape.expect(seen.view.prefix(&prefix), usize::MAX);
        seen.scan(&got, &want, limit, &format!("scan_prefix{}", shape.show()))?;
        self.stats.scans += 1;
        Ok(())
    }

    fn take_snapshot(&mut self) {
        if self.snapshots.len() >= MAX_SNAPSHOTS {
            let i = self.rng.random_range(0..self.snapshots.len());
            self.snapshots.swap_remove(i);
        }
        let snap = self.db().snapshot();
        self.note(format!("snapshot at seq {}", snap.seq()));
        self.snapshots.push((snap, self.oracle.clone()));
    }

    async fn read_snapshot(&mut self) -> Check {
        if self.snapshots.is_empty() {
            return Ok(());
        }
        let i = self.rng.random_range(0..self.snapshots.len());
        let what = self.rng.random_range(0..3);
        let key = self.pick_key();
        let (lo, hi, prefix) = (self.bound(), self.bound(), self.prefix());
        let shape = self.scan_shape();
        let (snap, then) = &self.snapshots[i];
        let seq = snap.seq();
        // Expiry is judged when a snapshot is read, not when it was taken.
        let started = now_ms();
        let result = match what {
            0 => {
                let got = snap
                    .get(&key)
                    .await
                    .map_err(|e| format!("snapshot get: {e}"))?;
                Seen::new(then, started).get(
                    &key,
                    got.as_deref(),
                    &format!(" in snapshot at seq {seq}"),
                )
            }
            1 => {
                let it = snap
                    .scan::<Vec<u8>, _>((lo.clone(), hi.clone()))
                    .map_err(|e| format!("snapshot scan: {e}"))?;
                let got = collect(shape.apply(it))
                    .await
                    .map_err(|e| format!("snapshot scan: {e}"))?;
                let ctx = format!(
                    "scan {} .. {}{} in snapshot at seq {seq}",
                    show_bound(&lo),
                    show_bound(&hi),
                    shape.show()
                );
                let seen = Seen::new(then, started);
                let want = shape.expect(seen.view.range(&lo, &hi), usize::MAX);
                seen.scan(&got, &want, usize::MAX, &ctx)
            }
            _ => {
                let it = snap
                    .scan_prefix(&prefix)
                    .map_err(|e| format!("snapshot scan_prefix: {e}"))?;
                let got = collect(shape.apply(it))
                    .await
                    .map_err(|e| format!("snapshot scan_prefix: {e}"))?;
                let ctx = format!(
                    "scan_prefix {}{} in snapshot at seq {seq}",
                    show(&prefix),
                    shape.show()
                );
                let seen = Seen::new(then, started);
                let want = shape.expect(seen.view.prefix(&prefix), usize::MAX);
                seen.scan(&got, &want, usize::MAX, &ctx)
            }
        };
        self.note(format!("snapshot read #{what} at seq {seq}"));
        self.stats.snapshot_reads += 1;
        result
    }

    /// A GC pass with no grace period: everything that left the database
    /// goes at once, while snapshots, iterators and the oracle must not
    /// notice. Under injected faults a failed pass is allowed (GC is best
    /// effort and retried by the next pass).
    async fn gc(&mut self) -> Check {
        self.note("gc, no grace".into());
        match self.db().gc(Duration::ZERO).await {
            Ok(_) => {}
            Err(Error::Store(e)) if self.faulty.is_some() => {
                self.note(format!("gc failed under faults: {e}"));
            }
            Err(e) => return Err(format!("gc: {e}")),
        }
        self.stats.gc_passes += 1;
        Ok(())
    }

    async fn flush(&mut self) -> Check {
        self.note("flush".into());
        self.db().flush().await.map_err(|e| format!("flush: {e}"))?;
        let m = self.db().metrics();
        if m.frozen_memtables != 0 || m.memtable_bytes != 0 {
            return Err(format!(
                "after flush: {} frozen memtables, {} memtable bytes (want 0 and 0)",
                m.frozen_memtables, m.memtable_bytes
            ));
        }
        self.stats.max_chunks = self.stats.max_chunks.max(m.l0_chunks + m.run_chunks);
        self.stats.flushes += 1;
        Ok(())
    }

    async fn reopen(&mut self, crash: bool) -> Check {
        // Snapshots end with the handle they were taken from.
        self.snapshots.clear();
        self.account();
        let db = self.db.take().expect("open");
        if crash {
            self.note("crash (drop without close) + reopen".into());
            drop(db);
            self.stats.crashes += 1;
        } else {
            self.note("close + reopen".into());
            db.close().await.map_err(|e| format!("close: {e}"))?;
            self.stats.reopens += 1;
        }
        self.open().await?;
        self.full_check("after reopen").await
    }

    /// A writer on another local directory (a fresh one or one with no
    /// stranded writes) takes over after the current one crashed or closed.
    /// The database then holds exactly the writes that were in the bucket
    /// (flushed, or shipped); the old directory's writes above them are
    /// stranded in its WAL.
    async fn takeover(&mut self, crash: bool) -> Check {
        self.snapshots.clear();
        self.account();
        let db = self.db.take().expect("open");
        if crash {
            drop(db);
        } else {
            db.close().await.map_err(|e| format!("close: {e}"))?;
        }
        let old = self.dir;
        let candidates: Vec<usize> = (0..self.dirs)
            .filter(|d| *d != old && !self.stranded.iter().any(|(s, _)| s == d))
            .collect();
        self.dir = if candidates.is_empty() || self.rng.random_bool(0.5) {
            self.dirs += 1;
            self.dirs - 1
        } else {
            candidates[self.rng.random_range(0..candidates.len())]
        };
        self.note(format!(
            "takeover: directory {} after {} of directory {old}",
            self.dir,
            if crash { "a crash" } else { "a clean close" }
        ));
        self.open().await?;
        self.stats.takeovers += 1;
        let (watermark, lost) = self.keep_what_is_in_the_bucket(old);
        if !lost.is_empty() {
            if !crash {
                return Err(format!(
                    "{} writes above watermark {watermark} after a clean close",
                    lost.len()
                ));
            }
            self.note(format!(
                "{} writes of directory {old} stranded above watermark {watermark}",
                lost.len()
            ));
            self.stats.stranded_writes += lost.len();
            self.stranded.push((old, lost));
        }
        self.full_check("after a takeover").await
    }

    /// After a writer took over from directory `old`: the database holds
    /// every write that was in the bucket when it fenced the old writer —
    /// flushed (the watermark) or shipped (the shipped WAL continues the
    /// watermark up to `bucket_durable_seq`). Keeps those in the log and the
    /// oracle; returns that bound and the old directory's writes above it.
    fn keep_what_is_in_the_bucket(&mut self, old: usize) -> (u64, Vec<Logged>) {
        let in_bucket = self
            .db()
            .manifest()
            .wal_watermark
            .max(self.db().durability_status().bucket_durable_seq);
        let (kept, lost): (Vec<Logged>, Vec<Logged>) = std::mem::take(&mut self.log)
            .into_iter()
            .partition(|w| w.dir != old || w.last <= in_bucket);
        self.log = kept;
        self.oracle = Oracle::new();
        for w in &self.log {
            self.oracle.apply_at(&w.batch, Some(w.commit));
        }
        (in_bucket, lost)
    }

    /// The writer's machine is lost: the handle dies without closing and its
    /// local directory is deleted. A writer on a fresh machine holds exactly
    /// the writes that were in the bucket (flushed or shipped); every write
    /// acknowledged as `Remote` is among them.
    async fn machine_loss(&mut self) -> Check {
        self.snapshots.clear();
        self.account();
        let db = self.db.take().expect("open");
        drop(db);
        let old = self.dir;
        let local = self.options_for(old).local_dir;
        delete_lost_dir(&local).await?;
        self.dirs += 1;
        self.dir = self.dirs - 1;
        self.note(format!(
            "machine loss: directory {old} deleted, directory {} takes over",
            self.dir
        ));
        self.open().await?;
        self.stats.machine_losses += 1;
        let (in_bucket, lost) = self.keep_what_is_in_the_bucket(old);
        if let Some(w) = lost.iter().find(|w| w.remote) {
            return Err(format!(
                "a Remote write (seqs {}..={}) was lost with the machine; the bucket holds \
                 through {in_bucket}",
                w.first, w.last
            ));
        }
        self.note(format!(
            "{} unshipped writes lost with the machine (above {in_bucket})",
            lost.len()
        ));
        self.full_check("after a machine loss").await
    }

    /// Opens a fenced directory as writer: it must refuse with exactly the
    /// seq range of its stranded writes, without fencing the current writer.
    /// Then the stranded writes are re-applied through the current writer
    /// (as `wal-export --from-seq | load` does) or discarded, and the
    /// directory's WAL is deleted.
    async fn reopen_fenced(&mut self) -> Check {
        if self.stranded.is_empty() {
            return Ok(());
        }
        let i = self.rng.random_range(0..self.stranded.len());
        let (dir, lost) = self.stranded.swap_remove(i);
        let want = (lost[0].first, lost[lost.len() - 1].last);
        self.note(format!("reopen fenced directory {dir}, expecting {want:?}"));
        match self.open_dir(dir).await? {
            Ok(_) => return Err(format!("fenced directory {dir} opened")),
            Err(Error::FencedWrites {
                first_seq,
                last_seq,
                exact: true,
                ..
            }) if (first_seq, last_seq) == want => {}
            Err(e) => return Err(format!("reopening fenced directory {dir}: {e}")),
        }
        self.stats.fenced_reopens += 1;
        let local = self.options_for(dir).local_dir;
        if self.rng.random_bool(0.6) {
            let wal = firn::read_local_wal(&local).map_err(|e| format!("read_local_wal: {e}"))?;
            let exported: Vec<_> = wal.into_iter().filter(|b| b.first_seq >= want.0).collect();
            if exported.len() != lost.len() {
                return Err(format!(
                    "the fenced WAL holds {} batches from seq {}, the model {}",
                    exported.len(),
                    want.0,
                    lost.len()
                ));
            }
            self.note(format!("re-apply {} stranded batches", exported.len()));
            for b in exported {
                let started = now_ms();
                let last = self
                    .db()
                    .write(b.batch.clone())
                    .await
                    .map_err(|e| format!("re-applying a stranded batch: {e}"))?;
                self.log_write(b.batch, last, started);
            }
        }
        std::fs::remove_dir_all(local.join("wal")).map_err(|e| format!("delete wal: {e}"))?;
        self.full_check("after a fenced directory was dealt with")
            .await
    }

    /// Every key of the key space by point read, and one full scan.
    /// The follower (opened at the first such step, then kept) is brought
    /// up to date once everything the writer acknowledged is in the bucket:
    /// it must hold exactly the oracle's state.
    async fn follow_check(&mut self) -> Check {
        let seq = self.db().durability_status().visible_seq;
        self.db()
            .wait_durable(seq)
            .await
            .map_err(|e| format!("wait_durable({seq}) before a follower check: {e}"))?;
        if self.follower.is_none() {
            let mut opts = self.options_for(0);
            opts.local_dir = self.env.root.path().join("follower");
            opts.follow = true;
            opts.follow_interval = Duration::from_millis(100);
            opts.refresh_interval = Duration::from_millis(500);
            let mut attempt = 0;
            let follower = loop {
                match Db::open(opts.clone()).await {
                    Err(Error::Store(e)) if self.faulty.is_some() && attempt < 20 => {
                        attempt += 1;
                        self.note(format!(
                            "follower open failed with a store error, again: {e}"
                        ));
                    }
                    other => break other.map_err(|e| format!("open a follower: {e}"))?,
                }
            };
            self.note("open a follower".into());
            self.follower = Some(follower);
        }
        let follower = self.follower.clone().expect("opened above");
        let mut attempt = 0;
        loop {
            match follower.refresh().await {
                Ok(()) => break,
                Err(e) if self.faulty.is_some() && attempt < 20 => {
                    attempt += 1;
                    self.note(format!("follower refresh failed under faults, again: {e}"));
                }
                Err(e) => return Err(format!("follower refresh: {e}")),
            }
        }
        let status = follower.follow_status().expect("a follower");
        if status.applied_seq < seq {
            return Err(format!(
                "the follower reached seq {} after a refresh; the bucket holds {seq}: {status:?}",
                status.applied_seq
            ));
        }
        self.note(format!("follower check at seq {}", status.applied_seq));
        self.check_handle(&follower, "on the follower").await?;
        self.stats.follower_checks += 1;
        Ok(())
    }

    /// Restores the database, into a fresh location, to the last seq of a
    /// random acknowledged write that is in the bucket (the database keeps
    /// an hour of history), and compares the restored database with the
    /// log's writes through that seq — across every flush, compaction,
    /// zero-grace GC and takeover so far.
    async fn restore_check(&mut self) -> Check {
        if self.faulty.is_some() || self.log.is_empty() {
            return Ok(());
        }
        let seq = self.db().durability_status().visible_seq;
        self.db()
            .wait_durable(seq)
            .await
            .map_err(|e| format!("wait_durable({seq}) before a restore check: {e}"))?;
        let at = self.log[self.rng.random_range(0..self.log.len())].last;
        self.note(format!("restore to seq {at}"));
        let dest = TestDb::new(self.env.kind, &format!("model-restore-{}", self.seed));
        let report = firn::restore_database(
            &self.env.objects(),
            &dest.objects(),
            firn::RestorePoint::Seq(at),
        )
        .await
        .map_err(|e| format!("restore to seq {at}: {e}"))?;
        if report.seq != at {
            return Err(format!(
                "restore to seq {at} restored through {}",
                report.seq
            ));
        }
        let mut want = Oracle::new();
        for w in self.log.iter().filter(|w| w.last <= at) {
            want.apply_at(&w.batch, Some(w.commit));
        }
        let started = now_ms();
        let mut opts = dest.options_with_local("restored");
        opts.read_only = true;
        let restored = Db::open(opts)
            .await
            .map_err(|e| format!("open the database restored to seq {at}: {e}"))?;
        let got = collect(
            restored
                .scan::<&[u8], _>(..)
                .map_err(|e| format!("scan the restored database: {e}"))?,
        )
        .await
        .map_err(|e| format!("scan the restored database: {e}"))?;
        let seen = Seen::new(&want, started);
        let wanted = seen.view.range(&Bound::Unbounded, &Bound::Unbounded);
        seen.scan(
            &got,
            &wanted,
            usize::MAX,
            &format!("database restored to seq {at}"),
        )?;
        restored
            .close()
            .await
            .map_err(|e| format!("close the restored database: {e}"))?;
        self.stats.restore_checks += 1;
        Ok(())
    }

    async fn full_check(&mut self, when: &str) -> Check {
        let db = self.db().clone();
        self.check_handle(&db, when).await
    }

    /// Every key and a full scan of `db` against the oracle.
    async fn check_handle(&mut self, db: &Db, when: &str) -> Check {
        let started = now_ms();
        let mut gets = Vec::with_capacity(KEY_SPACE as usize);
        for id in 0..KEY_SPACE {
            let key = key_for(id);
            let got = db
                .get(&key)
                .await
                .map_err(|e| format!("{when}: get {}: {e}", show(&key)))?;
            gets.push((key, got));
        }
        let all = db
            .scan::<&[u8], _>(..)
            .map_err(|e| format!("{when}: full scan: {e}"))?;
        let got = collect(all)
            .await
            .map_err(|e| format!("{when}: full scan: {e}"))?;
        // Every read above was made between `started` and now.
        let seen = Seen::new(&self.oracle, started);
        for (key, value) in &gets {
            seen.get(key, value.as_deref(), &format!(" ({when})"))?;
        }
        let want = seen.view.range(&Bound::Unbounded, &Bound::Unbounded);
        seen.scan(&got, &want, usize::MAX, &format!("full scan {when}"))?;
        self.stats.expired_checked += self.oracle.expired_by(started);
        let m = db.metrics();
        self.stats.max_chunks = self.stats.max_chunks.max(m.l0_chunks + m.run_chunks);
        Ok(())
    }

    async fn step_once(&mut self) -> Check {
        match self.rng.random_range(0..1047) {
            0..300 => self.put().await,
            300..400 => self.delete().await,
            400..520 => self.batch().await,
            520..700 => self.get().await,
            700..800 => self.scan().await,
            800..850 => self.scan_prefix().await,
            850..885 => {
                self.take_snapshot();
                Ok(())
            }
            885..950 => self.read_snapshot().await,
            950..965 => {
                if !self.snapshots.is_empty() {
                    let i = self.rng.random_range(0..self.snapshots.len());
                    self.snapshots.swap_remove(i);
                    self.note("drop a snapshot".into());
                }
                Ok(())
            }
            965..980 => self.flush().await,
            980..986 => self.reopen(false).await,
            986..992 => self.reopen(true).await,
            992..994 => self.gc().await,
            994..998 => {
                let crash = self.rng.random_bool(0.7);
                self.takeover(crash).await
            }
            998..999 => self.reopen_fenced().await,
            999..1001 => self.machine_loss().await,
            1001..1009 => self.follow_check().await,
            1009..1012 => self.restore_check().await,
            1012..1020 => self.ingest().await,
            1020..1030 => self.delete_range().await,
            1030..1040 => self.read_at_seq().await,
            1040..1046 => {
                self.time_jump();
                Ok(())
            }
            _ => self.full_check("at a random step").await,
        }
    }

    async fn execute(&mut self, steps: usize) -> Check {
        self.open().await?;
        if self.faulty.is_none() {
            // History for the restore checks, kept through zero-grace GC.
            self.db()
                .set_history_retention(Duration::from_secs(3600))
                .await
                .map_err(|e| format!("set the retention window: {e}"))?;
        }
        for step in 0..steps {
            self.step = step;
            self.step_once().await?;
        }
        self.step = steps;
        self.full_check("at the end").await?;
        self.reopen(false).await?;
        self.snapshots.clear();
        self.account();
        let db = self.db.take().expect("open");
        db.close().await.map_err(|e| format!("final close: {e}"))
    }

    fn failure(&self, msg: &str) -> String {
        let history: Vec<&str> = self.history.iter().map(String::as_str).collect();
        format!(
            "model test on {} failed with seed {} at step {}: {msg}\n\
             rerun with FIRN_MODEL_SEED={} cargo test -p firn-tests --test model\n\
             faults injected: {:?}\n\
             last operations:\n  {}",
            self.label,
            self.seed,
            self.step,
            self.seed,
            self.fault_stats(),
            history.join("\n  ")
        )
    }
}

/// Prints the seed if the run panics (an engine panic, not a failed check).
struct SeedGuard {
    label: String,
    seed: u64,
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "model test on {} panicked with seed {} (rerun with FIRN_MODEL_SEED={})",
                self.label, self.seed, self.seed
            );
        }
    }
}

fn compare_get(key: &[u8], got: Option<&[u8]>, want: Option<&[u8]>, ctx: &str) -> Check {
    if got == want {
        return Ok(());
    }
    let fmt = |v: Option<&[u8]>| v.map(show).unwrap_or_else(|| "none".into());
    Err(format!(
        "get {}{ctx}: got {}, want {}",
        show(key),
        fmt(got),
        fmt(want)
    ))
}

/// A scan's direction and seek, applied to the engine's iterator and to the
/// oracle's answer alike.
struct ScanShape {
    reverse: bool,
    seek: Option<Vec<u8>>,
}

impl ScanShape {
    fn apply(&self, it: firn::DbIterator) -> firn::DbIterator {
        let mut it = if self.reverse { it.rev() } else { it };
        if let Some(key) = &self.seek {
            it.seek(key);
        }
        it
    }

    /// The oracle's forward answer, turned and cut as the scan reads it.
    fn expect(&self, mut want: Vec<(Vec<u8>, Vec<u8>)>, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        if let Some(key) = &self.seek {
            want.retain(|(k, _)| if self.reverse { k <= key } else { k >= key });
        }
        if self.reverse {
            want.reverse();
        }
        want.truncate(limit);
        want
    }

    fn show(&self) -> String {
        let mut out = String::new();
        if self.reverse {
            out.push_str(", reverse");
        }
        if let Some(key) = &self.seek {
            out.push_str(&format!(", seek {}", show(key)));
        }
        out
    }
}

/// Wall-clock milliseconds (the clock expiry is judged by).
fn now_ms() -> u64 {
    clock();
    firn_store::clock::now_ms()
}

/// The model's clock: the real clock plus a skew that time-jump steps move
/// forward, so values expire in bulk at moments the run chooses. Installed
/// once for the whole binary (the model variants running at once all see
/// every jump, which only moves time forward: the deadline windows hold).
struct SkewedClock {
    skew_ms: AtomicU64,
}

impl firn_store::clock::Source for SkewedClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the model's clock is the real one plus a skew"
    )]
    fn now_ms(&self) -> u64 {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        real + self.skew_ms.load(Ordering::SeqCst)
    }

    fn random_u64(&self) -> u64 {
        // Not a simulation: real randomness (ids must stay unique).
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0);
        h.finish()
    }
}

fn clock() -> &'static SkewedClock {
    static CLOCK: OnceLock<Arc<SkewedClock>> = OnceLock::new();
    CLOCK.get_or_init(|| {
        let clock = Arc::new(SkewedClock {
            skew_ms: AtomicU64::new(0),
        });
        std::mem::forget(firn_store::clock::install(clock.clone()));
        clock
    })
}

/// What a read made from `started` until now must have seen of an oracle:
/// its contents without the values certainly expired (`view`), and the
/// values whose deadline fell inside the read (`undecided`: a read may
/// return them or not, but never another value).
struct Seen {
    view: Oracle,
    undecided: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Seen {
    fn new(oracle: &Oracle, started: u64) -> Seen {
        let (view, keys) = oracle.seen_between(started, now_ms());
        let undecided = keys
            .into_iter()
            .filter_map(|k| oracle.map.get(&k).cloned().map(|v| (k, v)))
            .collect();
        Seen { view, undecided }
    }

    fn get(&self, key: &[u8], got: Option<&[u8]>, ctx: &str) -> Check {
        match (self.undecided.get(key), got) {
            (Some(_), None) => Ok(()),
            (Some(v), Some(g)) if g == v.as_slice() => Ok(()),
            (Some(v), Some(g)) => Err(format!(
                "get {}{ctx}: got {}, want {} or nothing (expiring)",
                show(key),
                show(g),
                show(v)
            )),
            (None, got) => compare_get(key, got, self.view.get(key), ctx),
        }
    }

    /// `got`, read with `limit`, against the whole answer `want` (in the
    /// scan's order) of the undecided-free view.
    fn scan(
        &self,
        got: &[(Vec<u8>, Vec<u8>)],
        want: &[(Vec<u8>, Vec<u8>)],
        limit: usize,
        ctx: &str,
    ) -> Check {
        for (k, v) in got {
            if let Some(w) = self.undecided.get(k) {
                if w != v {
                    return Err(format!(
                        "{ctx}: {} has {}, want {} or nothing (expiring)",
                        show(k),
                        show(v),
                        show(w)
                    ));
                }
            }
        }
        let decided: Vec<_> = got
            .iter()
            .filter(|(k, _)| !self.undecided.contains_key(k))
            .cloned()
            .collect();
        let cut = if got.len() < limit {
            want.len()
        } else if self.undecided.is_empty() {
            limit.min(want.len())
        } else {
            decided.len().min(want.len())
        };
        check_scan(&decided, &want[..cut], ctx)
    }
}

fn check_scan(got: &[(Vec<u8>, Vec<u8>)], want: &[(Vec<u8>, Vec<u8>)], ctx: &str) -> Check {
    match diff_scans(got, want) {
        None => Ok(()),
        Some(diff) => Err(format!("{ctx}: {diff}")),
    }
}

fn show_bound(b: &Bound<Vec<u8>>) -> String {
    match b {
        Bound::Included(k) => format!("[{}", show(k)),
        Bound::Excluded(k) => format!("({}", show(k)),
        Bound::Unbounded => "*".into(),
    }
}

async fn take(mut it: firn::DbIterator, limit: usize) -> firn::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    while out.len() < limit {
        match it.next().await? {
            Some((k, v)) => out.push((k.to_vec(), v.to_vec())),
            None => break,
        }
    }
    Ok(out)
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    match text.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={text:?} is not a number"),
    }
}

/// Runs the model for each seed (or `FIRN_MODEL_SEED`) with `steps`
/// operations (or `FIRN_MODEL_STEPS`); `make` builds the run for a seed.
async fn run_model(default_seeds: &[u64], steps: usize, make: impl Fn(u64) -> Run) {
    let seeds = match env_number("FIRN_MODEL_SEED") {
        Some(seed) => vec![seed],
        None => default_seeds.to_vec(),
    };
    let steps = env_number("FIRN_MODEL_STEPS").map_or(steps, |n| n as usize);
    // Coverage floors, scaled to the length of the run.
    let need = |at_default: usize| (at_default * steps).div_ceil(DEFAULT_STEPS).max(1);
    for seed in seeds {
        let mut run = make(seed);
        let _guard = SeedGuard {
            label: run.label.clone(),
            seed,
        };
        let started = std::time::Instant::now();
        if let Err(msg) = run.execute(steps).await {
            panic!("{}", run.failure(&msg));
        }
        let label = &run.label;
        eprintln!(
            "model on {label}, seed {seed}: {steps} steps in {:.1?}: {:?}, faults {:?}",
            started.elapsed(),
            run.stats,
            run.fault_stats()
        );
        // Coverage: the run must really have exercised the interesting paths.
        let s = &run.stats;
        assert!(
            s.background_flushes >= need(20) as u64,
            "too few flushes on {label} for seed {seed}: {s:?}"
        );
        assert!(
            s.max_chunks >= need(5) as u64,
            "too few chunks on {label} for seed {seed}: {s:?}"
        );
        assert!(
            s.reopens + s.crashes >= need(5),
            "too few reopens on {label} for seed {seed}: {s:?}"
        );
        assert!(
            s.takeovers >= need(3),
            "too few takeovers on {label} for seed {seed}: {s:?}"
        );
        assert!(
            s.snapshot_reads >= need(20),
            "too few snapshot reads on {label} for seed {seed}: {s:?}"
        );
        assert!(
            s.expiring_puts >= need(20) && s.expired_checked >= need(3),
            "too few expiring puts or expired values checked on {label} for seed {seed}: {s:?}"
        );
        assert!(
            s.reverse_scans >= need(10) && s.seeks >= need(10),
            "too few reverse scans or seeks on {label} for seed {seed}: {s:?}"
        );
        assert!(
            s.time_jumps >= need(4),
            "too few clock jumps on {label} for seed {seed}: {s:?}"
        );
        assert!(
            s.range_deletes >= need(10) && s.seq_reads >= need(5),
            "too few range deletes or reads at an older seq on {label} for seed {seed}: {s:?}"
        );
        assert!(
            s.follower_checks >= need(3),
            "too few follower checks on {label} for seed {seed}: {s:?}"
        );
        if run.faulty.is_none() {
            assert!(
                s.ingests >= need(5),
                "too few bulk ingests on {label} for seed {seed}: {s:?}"
            );
            assert!(
                s.restore_checks >= need(1),
                "too few restore checks on {label} for seed {seed}: {s:?}"
            );
        }
        if let Some(f) = run.fault_stats() {
            // The layer really misbehaved, in every way, and the engine's own
            // retries (past the store's) were exercised.
            assert!(
                f.read_errors > 0
                    && f.write_errors > 0
                    && f.partial_writes > 0
                    && f.list_errors > 0
                    && f.stat_errors + f.delete_errors > 0,
                "seed {seed}: some kind of fault was never injected: {f:?}"
            );
            assert!(
                s.upload_retries > 0,
                "seed {seed}: no failure reached the engine's retries: {s:?}, faults {f:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_on_file_store() {
    let seeds = [0x5EED_F001, 0x5EED_F002, 0x5EED_F003];
    run_model(&seeds, DEFAULT_STEPS, |seed| {
        Run::new(StoreKind::File, seed)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_on_memory_store() {
    let seeds = [0x5EED_A001, 0x5EED_A002, 0x5EED_A003];
    run_model(&seeds, DEFAULT_STEPS, |seed| {
        Run::new(StoreKind::Memory, seed)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_on_s3_store() {
    if !s3_enabled("model_on_s3_store") {
        return;
    }
    run_model(&[0x5EED_5301, 0x5EED_5302], S3_STEPS, |seed| {
        Run::new(StoreKind::S3, seed)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_on_a_faulty_memory_store() {
    let seeds = [0x5EED_FA01, 0x5EED_FA02];
    run_model(&seeds, DEFAULT_STEPS, Run::faulty).await;
}

/// Deletes a lost machine's local directory. A dropped handle's background
/// work stops asynchronously (a blocking write already under way finishes),
/// so a file may still appear while the directory is being deleted: retry
/// until it is gone, as an operator wiping the disk would.
async fn delete_lost_dir(local: &std::path::Path) -> Check {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match std::fs::remove_dir_all(local) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if std::time::Instant::now() >= deadline => {
                return Err(format!(
                    "deleting the lost machine's {}: {e}",
                    local.display()
                ))
            }
            Err(_) => firn_store::clock::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
}
