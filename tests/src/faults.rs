//! A fault-injecting OpenDAL layer: makes an object store fail, slow down or
//! half-succeed the way real servers and networks do.
//!
//! [`FaultLayer`] sits between an OpenDAL service and the layers above it
//! (typically OpenDAL's `RetryLayer`, as on a real S3 store) and injects:
//!
//! * **errors** on reads, writes, lists, stats and deletes, each kind at its
//!   own rate ([`FaultConfig`]); injected errors are marked temporary, so a
//!   retry layer above retries them like a network error or an HTTP 503;
//! * **latency**: every request waits a pseudo-random time up to
//!   [`FaultConfig::max_latency`];
//! * **partial failures**: a write lands in the store but the call reports an
//!   error (a response lost on the way back). The retry that follows is a
//!   fresh request carrying the same condition, so a conditional create is
//!   then refused (`ConditionNotMatch`) although the object holds *our*
//!   bytes: exactly the ambiguity the engine must resolve (the manifest by
//!   its nonce, chunks by comparing bytes).
//!
//! Decisions are deterministic for a seed: the `n`-th request of one kind on
//! one object (one byte range of it, for reads) is faulty or not by a hash
//! of (seed, kind, object, n), however
//! the engine's background tasks interleave. [`FaultConfig::max_streak_reads`]
//! and [`FaultConfig::max_streak_writes`] cap how many requests in a row on
//! one object may fail, so a test can promise that reads always succeed after
//! a bounded number of retries while writes sometimes fail past every retry
//! of the store and reach the engine's own retry loop.
//!
//! [`FaultControl`] switches injection on and off at run time and reports
//! what was injected (so a test can check that faults really happened).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opendal::raw::*;
use opendal::{
    Buffer, BytesRange, Capability, Error, ErrorKind, Metadata, OperationContext, Result,
};

/// What [`FaultLayer`] injects. Rates are probabilities per request, 0.0..=1.0.
#[derive(Clone, Debug)]
pub struct FaultConfig {
    /// Seed of the pseudo-random decisions.
    pub seed: u64,
    /// Reads (GET, ranged GET) that fail.
    pub read_error_rate: f64,
    /// Writes (PUT, conditional PUT) that fail without landing.
    pub write_error_rate: f64,
    /// Writes that land but report an error anyway.
    pub partial_write_rate: f64,
    /// Listings that fail.
    pub list_error_rate: f64,
    /// Stats (HEAD) that fail.
    pub stat_error_rate: f64,
    /// Deletes that fail without deleting.
    pub delete_error_rate: f64,
    /// Longest added latency per request (uniform in `0..=max_latency`).
    pub max_latency: Duration,
    /// Most reads, lists or stats of one object that fail in a row.
    pub max_streak_reads: u32,
    /// Most writes or deletes of one object that fail (or half-fail) in a row.
    pub max_streak_writes: u32,
    /// Most faults of one kind injected on one object in all (after that,
    /// its requests of that kind pass): "the outage ends".
    pub max_faults_per_object: u32,
    /// Inject only on objects whose path starts with this (e.g. `"chunks/"`).
    pub only_under: Option<String>,
}

impl Default for FaultConfig {
    /// No faults at all (a pass-through layer until configured).
    fn default() -> Self {
        FaultConfig {
            seed: 0,
            read_error_rate: 0.0,
            write_error_rate: 0.0,
            partial_write_rate: 0.0,
            list_error_rate: 0.0,
            stat_error_rate: 0.0,
            delete_error_rate: 0.0,
            max_latency: Duration::ZERO,
            max_streak_reads: u32::MAX,
            max_streak_writes: u32::MAX,
            max_faults_per_object: u32::MAX,
            only_under: None,
        }
    }
}

impl FaultConfig {
    /// Every write under `prefix` fails, forever (an outage of uploads).
    pub fn failing_writes_under(prefix: &str) -> FaultConfig {
        FaultConfig {
            write_error_rate: 1.0,
            only_under: Some(prefix.to_string()),
            ..FaultConfig::default()
        }
    }
}

/// The kind of a request, for rates, streaks and statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Op {
    Read,
    Write,
    List,
    Stat,
    Delete,
}

/// What was injected so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Requests that went through the layer while it was enabled.
    pub requests: u64,
    /// Failed reads.
    pub read_errors: u64,
    /// Failed writes (nothing landed).
    pub write_errors: u64,
    /// Writes that landed but reported an error.
    pub partial_writes: u64,
    /// Failed listings.
    pub list_errors: u64,
    /// Failed stats.
    pub stat_errors: u64,
    /// Failed deletes.
    pub delete_errors: u64,
}

impl FaultStats {
    /// All injected failures.
    pub fn total_faults(&self) -> u64 {
        self.read_errors
            + self.write_errors
            + self.partial_writes
            + self.list_errors
            + self.stat_errors
            + self.delete_errors
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    read_errors: AtomicU64,
    write_errors: AtomicU64,
    partial_writes: AtomicU64,
    list_errors: AtomicU64,
    stat_errors: AtomicU64,
    delete_errors: AtomicU64,
}

/// Per (kind, object): requests seen and the current run of failures.
#[derive(Default, Clone, Copy)]
struct History {
    attempts: u64,
    streak: u32,
    faults: u32,
}

struct Shared {
    config: Mutex<FaultConfig>,
    enabled: AtomicBool,
    /// Every request seen, in order, while tracing (see [`FaultControl::start_trace`]).
    trace: Mutex<Option<Vec<String>>>,
    /// Writes under this prefix fail for good (see [`FaultControl::refuse_writes_under`]).
    refused: Mutex<Option<String>>,
    history: Mutex<HashMap<(Op, String), History>>,
    counters: Counters,
}

/// The verdict for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail,
    /// Writes only: let it land, then report an error.
    Partial,
}

impl Shared {
    fn config(&self) -> FaultConfig {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Decides the fate of a request of kind `op` on `path` and returns the
    /// latency to add first.
    fn decide(&self, op: Op, path: &str) -> (Verdict, Duration) {
        if let Some(trace) = self
            .trace
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            trace.push(format!("{op:?} {path}"));
        }
        if !self.enabled.load(Ordering::Acquire) {
            return (Verdict::Pass, Duration::ZERO);
        }
        let cfg = self.config();
        if cfg
            .only_under
            .as_deref()
            .is_some_and(|prefix| !path.starts_with(prefix))
        {
            return (Verdict::Pass, Duration::ZERO);
        }
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let h = history.entry((op, path.to_string())).or_default();
        let n = h.attempts;
        h.attempts += 1;
        let draw = |salt: u64| unit(mix(cfg.seed, op, path, n, salt));
        let latency = cfg.max_latency.mul_f64(draw(1));
        let (error_rate, partial_rate, max_streak) = match op {
            Op::Read => (cfg.read_error_rate, 0.0, cfg.max_streak_reads),
            Op::List => (cfg.list_error_rate, 0.0, cfg.max_streak_reads),
            Op::Stat => (cfg.stat_error_rate, 0.0, cfg.max_streak_reads),
            Op::Write => (
                cfg.write_error_rate,
                cfg.partial_write_rate,
                cfg.max_streak_writes,
            ),
            Op::Delete => (cfg.delete_error_rate, 0.0, cfg.max_streak_writes),
        };
        let verdict = if h.streak >= max_streak || h.faults >= cfg.max_faults_per_object {
            Verdict::Pass
        } else if draw(2) < error_rate {
            Verdict::Fail
        } else if draw(3) < partial_rate {
            Verdict::Partial
        } else {
            Verdict::Pass
        };
        if verdict == Verdict::Pass {
            h.streak = 0;
        } else {
            h.streak += 1;
            h.faults += 1;
            let c = &self.counters;
            let counter = match (op, verdict) {
                (Op::Write, Verdict::Partial) => &c.partial_writes,
                (Op::Read, _) => &c.read_errors,
                (Op::Write, _) => &c.write_errors,
                (Op::List, _) => &c.list_errors,
                (Op::Stat, _) => &c.stat_errors,
                (Op::Delete, _) => &c.delete_errors,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        (verdict, latency)
    }

    /// Waits the latency and returns the injected error, if any.
    async fn gate(&self, op: Op, path: &str) -> Result<Verdict> {
        let refused = self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_deref()
            .is_some_and(|prefix| path.starts_with(prefix));
        if refused && op == Op::Write {
            // A final answer, as a server refusing a permission gives it.
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "injected refusal: write of {path:?} is not permitted (firn_tests::faults)"
                ),
            ));
        }
        let (verdict, latency) = self.decide(op, path);
        if !latency.is_zero() {
            firn_store::clock::sleep(latency).await;
        }
        match verdict {
            Verdict::Fail => Err(injected(op, path, "failed")),
            other => Ok(other),
        }
    }
}

fn injected(op: Op, path: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::Unexpected,
        format!("injected fault: {op:?} of {path:?} {what} (firn_tests::faults)"),
    )
    .set_temporary()
}

/// A 64-bit hash of one decision's inputs (FNV-1a over the bytes, then a
/// SplitMix64 finaliser).
fn mix(seed: u64, op: Op, path: &str, n: u64, salt: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(&[op as u8]);
    eat(path.as_bytes());
    eat(&n.to_le_bytes());
    eat(&salt.to_le_bytes());
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Maps a hash to `0.0..1.0`.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The OpenDAL layer. Cheap to clone; clones share configuration, switch and
/// statistics (see [`FaultLayer::control`]).
#[derive(Clone)]
pub struct FaultLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for FaultLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultLayer")
            .field("config", &self.shared.config())
            .finish()
    }
}

impl FaultLayer {
    /// A layer injecting what `config` says, enabled.
    pub fn new(config: FaultConfig) -> FaultLayer {
        FaultLayer {
            shared: Arc::new(Shared {
                config: Mutex::new(config),
                enabled: AtomicBool::new(true),
                trace: Mutex::new(None),
                refused: Mutex::new(None),
                history: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            }),
        }
    }

    /// The switch and statistics of this layer.
    pub fn control(&self) -> FaultControl {
        FaultControl {
            shared: self.shared.clone(),
        }
    }
}

/// Turns a [`FaultLayer`] on and off and reads what it injected.
#[derive(Clone)]
pub struct FaultControl {
    shared: Arc<Shared>,
}

impl FaultControl {
    /// Starts or stops injecting (while stopped, the layer passes everything
    /// through untouched and counts nothing).
    pub fn set_enabled(&self, on: bool) {
        self.shared.enabled.store(on, Ordering::Release);
    }

    /// Replaces the configuration.
    pub fn set_config(&self, config: FaultConfig) {
        *self.shared.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
    }

    /// Makes every write under `prefix` fail for good with a permission error
    /// (not a temporary one), as a server that refuses it does; `None` ends
    /// it.
    pub fn refuse_writes_under(&self, prefix: Option<&str>) {
        *self
            .shared
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = prefix.map(str::to_string);
    }

    /// Starts recording every request that reaches the layer (operation and
    /// object), in order.
    pub fn start_trace(&self) {
        *self.shared.trace.lock().unwrap_or_else(|p| p.into_inner()) = Some(Vec::new());
    }

    /// The requests recorded since [`FaultControl::start_trace`] (recording
    /// goes on).
    pub fn take_trace(&self) -> Vec<String> {
        self.shared
            .trace
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// What was injected so far.
    pub fn stats(&self) -> FaultStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FaultStats {
            requests: get(&c.requests),
            read_errors: get(&c.read_errors),
            write_errors: get(&c.write_errors),
            partial_writes: get(&c.partial_writes),
            list_errors: get(&c.list_errors),
            stat_errors: get(&c.stat_errors),
            delete_errors: get(&c.delete_errors),
        }
    }
}

impl Layer for FaultLayer {
    fn apply_service(&self, inner: Servicer) -> Servicer {
        Arc::new(FaultService {
            inner,
            shared: self.shared.clone(),
        })
    }
}

/// The service behind [`FaultLayer`].
pub struct FaultService {
    inner: Servicer,
    shared: Arc<Shared>,
}

impl fmt::Debug for FaultService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultService")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Service for FaultService {
    type Reader = FaultReader;
    type Writer = FaultWriter;
    type Lister = FaultLister;
    type Deleter = FaultDeleter;
    type Copier = oio::Copier;
    type Composer = oio::Composer;

    fn info(&self) -> ServiceInfo {
        self.inner.info()
    }

    fn capability(&self) -> Capability {
        self.inner.capability()
    }

    async fn create_dir(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpCreateDir,
    ) -> Result<RpCreateDir> {
        self.inner.create_dir(ctx, path, args).await
    }

    async fn stat(&self, ctx: &OperationContext, path: &str, args: OpStat) -> Result<RpStat> {
        self.shared.gate(Op::Stat, path).await?;
        self.inner.stat(ctx, path, args).await
    }

    fn read(&self, ctx: &OperationContext, path: &str, args: OpRead) -> Result<Self::Reader> {
        Ok(FaultReader {
            inner: self.inner.read(ctx, path, args)?,
            path: path.to_string(),
            shared: self.shared.clone(),
        })
    }

    fn write(&self, ctx: &OperationContext, path: &str, args: OpWrite) -> Result<Self::Writer> {
        Ok(FaultWriter {
            service: self.inner.clone(),
            ctx: ctx.clone(),
            path: path.to_string(),
            args,
            parts: Vec::new(),
            shared: self.shared.clone(),
        })
    }

    fn delete(&self, ctx: &OperationContext) -> Result<Self::Deleter> {
        Ok(FaultDeleter {
            inner: self.inner.delete(ctx)?,
            shared: self.shared.clone(),
        })
    }

    fn list(&self, ctx: &OperationContext, path: &str, args: OpList) -> Result<Self::Lister> {
        Ok(FaultLister {
            inner: self.inner.list(ctx, path, args)?,
            path: path.to_string(),
            started: false,
            shared: self.shared.clone(),
        })
    }

    fn copy(
        &self,
        ctx: &OperationContext,
        from: &str,
        to: &str,
        args: OpCopy,
    ) -> Result<Self::Copier> {
        self.inner.copy(ctx, from, to, args)
    }

    fn compose(&self, ctx: &OperationContext, to: &str, args: OpCompose) -> Result<Self::Composer> {
        self.inner.compose(ctx, to, args)
    }

    async fn rename(
        &self,
        ctx: &OperationContext,
        from: &str,
        to: &str,
        args: OpRename,
    ) -> Result<RpRename> {
        self.inner.rename(ctx, from, to, args).await
    }

    async fn restore(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpRestore,
    ) -> Result<RpRestore> {
        self.inner.restore(ctx, path, args).await
    }

    async fn presign(
        &self,
        ctx: &OperationContext,
        path: &str,
        args: OpPresign,
    ) -> Result<RpPresign> {
        self.inner.presign(ctx, path, args).await
    }
}

/// What read decisions and streaks are keyed by: the object and the byte
/// range. Concurrent reads of one object (a scan's read-ahead beside point
/// reads) then keep separate streaks, so none of them can fail more often in
/// a row than `max_streak_reads` because the others failed in between.
fn read_key(path: &str, range: &BytesRange) -> String {
    format!("{path} {range:?}")
}

/// Reads through [`FaultLayer`]: each read request may be delayed or fail.
pub struct FaultReader {
    inner: oio::Reader,
    path: String,
    shared: Arc<Shared>,
}

impl oio::Read for FaultReader {
    async fn open(&self, range: BytesRange) -> Result<(RpRead, Box<dyn oio::ReadStreamDyn>)> {
        self.shared
            .gate(Op::Read, &read_key(&self.path, &range))
            .await?;
        self.inner.open(range).await
    }

    async fn read(&self, range: BytesRange) -> Result<(RpRead, Buffer)> {
        self.shared
            .gate(Op::Read, &read_key(&self.path, &range))
            .await?;
        self.inner.read(range).await
    }
}

/// Writes through [`FaultLayer`]. The bytes are buffered here and sent as one
/// fresh request of the service at `close`, so a retried `close` (after an
/// injected error) is a complete new request, as a retried PUT would be.
pub struct FaultWriter {
    service: Servicer,
    ctx: OperationContext,
    path: String,
    args: OpWrite,
    parts: Vec<Buffer>,
    shared: Arc<Shared>,
}

impl oio::Write for FaultWriter {
    async fn write(&mut self, bs: Buffer) -> Result<()> {
        self.parts.push(bs);
        Ok(())
    }

    async fn close(&mut self) -> Result<Metadata> {
        let verdict = self.shared.gate(Op::Write, &self.path).await?;
        let mut writer = self
            .service
            .write(&self.ctx, &self.path, self.args.clone())?;
        for part in &self.parts {
            if let Err(e) = writer.write(part.clone()).await {
                let _ = writer.abort().await;
                return Err(e);
            }
        }
        let meta = writer.close().await?;
        if verdict == Verdict::Partial {
            return Err(injected(
                Op::Write,
                &self.path,
                "landed, but the answer was lost",
            ));
        }
        Ok(meta)
    }

    async fn abort(&mut self) -> Result<()> {
        self.parts.clear();
        Ok(())
    }
}

/// Lists through [`FaultLayer`]: the first page may be delayed or fail.
pub struct FaultLister {
    inner: oio::Lister,
    path: String,
    started: bool,
    shared: Arc<Shared>,
}

impl oio::List for FaultLister {
    async fn next(&mut self) -> Result<Option<oio::Entry>> {
        if !self.started {
            self.shared.gate(Op::List, &self.path).await?;
            self.started = true;
        }
        self.inner.next().await
    }
}

/// Deletes through [`FaultLayer`]: each delete may be delayed or fail.
pub struct FaultDeleter {
    inner: oio::Deleter,
    shared: Arc<Shared>,
}

impl oio::Delete for FaultDeleter {
    async fn delete(&mut self, path: &str, args: OpDelete) -> Result<()> {
        self.shared.gate(Op::Delete, path).await?;
        self.inner.delete(path, args).await
    }

    async fn close(&mut self) -> Result<()> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(config: FaultConfig) -> (opendal::Operator, FaultControl) {
        let layer = FaultLayer::new(config);
        let control = layer.control();
        let op = opendal::Operator::new(opendal::services::Memory::default())
            .expect("memory operator")
            .layer(layer);
        (op, control)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_partial_write_lands_and_reports_an_error() {
        rt().block_on(async {
            let (op, control) = store(FaultConfig {
                partial_write_rate: 1.0,
                max_streak_writes: 1,
                ..FaultConfig::default()
            });
            let err = op
                .write_with("a", "one")
                .if_not_exists(true)
                .await
                .expect_err("the first write reports an error");
            assert!(err.is_temporary(), "{err}");
            assert_eq!(op.read("a").await.expect("landed").to_vec(), b"one");
            // The streak is over: the retry is a real, conditional request.
            let err = op
                .write_with("a", "one")
                .if_not_exists(true)
                .await
                .expect_err("the retry is refused");
            assert_eq!(err.kind(), ErrorKind::ConditionNotMatch, "{err}");
            assert_eq!(control.stats().partial_writes, 1);
        });
    }

    #[test]
    fn failures_are_capped_per_object_and_deterministic() {
        rt().block_on(async {
            let run = |seed| async move {
                let (op, control) = store(FaultConfig {
                    seed,
                    read_error_rate: 0.5,
                    max_streak_reads: 2,
                    ..FaultConfig::default()
                });
                control.set_enabled(false);
                op.write("x", "data").await.expect("write");
                control.set_enabled(true);
                let mut outcomes = Vec::new();
                let mut streak = 0;
                for _ in 0..200 {
                    let ok = op.read("x").await.is_ok();
                    streak = if ok { 0 } else { streak + 1 };
                    assert!(streak <= 2, "more than two failures in a row");
                    outcomes.push(ok);
                }
                (outcomes, control.stats())
            };
            let (a, stats) = run(7).await;
            let (b, _) = run(7).await;
            let (c, _) = run(8).await;
            assert_eq!(a, b, "same seed, same faults");
            assert_ne!(a, c, "another seed, other faults");
            assert!(stats.read_errors > 30, "{stats:?}");
            assert_eq!(stats.requests, 200);
        });
    }

    #[test]
    fn only_under_limits_the_faults_to_a_prefix() {
        rt().block_on(async {
            let (op, control) = store(FaultConfig::failing_writes_under("chunks/"));
            op.write("manifest/1", "m")
                .await
                .expect("outside the prefix");
            assert!(op.write("chunks/1", "c").await.is_err());
            assert!(
                op.stat("chunks/1").await.is_err(),
                "the failed write landed"
            );
            control.set_enabled(false);
            op.write("chunks/1", "c").await.expect("disabled");
            assert_eq!(control.stats().write_errors, 1);
        });
    }
}
