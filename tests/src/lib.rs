//! Shared utilities for Firn's integration suites (`tests/*.rs`).
//!
//! * [`StoreKind`] and [`TestDb`]: a database location for one test — a
//!   `file://` folder, a uniquely named `memory://` store or a unique prefix
//!   `s3://{bucket}/firn-tests/...` on the S3 server of the test run (or
//!   `azblob://{container}/firn-tests/...` on its Azurite) — plus a
//!   local directory, with [`Options`] for it and object-level access to the
//!   bucket (list, read, overwrite, flip a byte) that works on every store.
//! * [`on_every_store!`]: turns one `async fn case(kind: StoreKind)` into a
//!   test per store (`case::memory`, `case::file`, `case::s3`,
//!   `case::azblob`); the S3 and Azure variants follow the suite's convention
//!   (see [`s3_enabled`] and [`azblob_enabled`]). Together these cases are
//!   the conformance suite every store passes.
//! * [`Oracle`]: the reference model (a `BTreeMap`) the engine is compared to.
//! * [`crash_writers`]: the writer workload of the crash suite, shared by the
//!   `crash_writer` child process and the in-process variant.
//! * [`faults`]: an OpenDAL layer that injects errors, latency and partial
//!   failures; [`TestDb::layered_store`] puts it (or any layer) under a
//!   test's handles.
//! * [`settle`]: waits until a handle is idle, to count one operation's
//!   requests.
//! * Small utilities to collect scans, flip bytes in files and list folders.
//!
//! Everything here goes through the engine's public API only.
//!
//! # S3
//!
//! S3 variants run when `FIRN_TEST_S3_ENDPOINT` and `FIRN_TEST_S3_BUCKET`
//! name a server and bucket (credentials and region from the usual `AWS_*`
//! variables); `scripts/test.sh` starts a local server and sets them. Without
//! them S3 tests print a skip message and pass, unless `FIRN_REQUIRE_S3` is
//! set, which turns the skip into a failure.
//!
//! # Azure Blob
//!
//! Azure variants run when `FIRN_TEST_AZBLOB_CONTAINER` names a container
//! and `AZURE_STORAGE_CONNECTION_STRING` its account, endpoint and key;
//! `scripts/test.sh` starts Azurite (`scripts/azurite.sh`) and sets them.
//! Without them Azure tests print a skip message and pass, unless
//! `FIRN_REQUIRE_AZBLOB` is set.

pub mod child_test;
pub mod faults;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use firn::{BatchOp, Db, DbIterator, Durability, Options, WriteBatch, WriteOptions};
use firn_store::{ObjectInfo, ObjectStore, StoreOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tempfile::TempDir;

/// Which kind of object store a test database lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// `file://<tempdir>/objects`: a local folder acting as the bucket.
    File,
    /// `memory://<unique name>`: in-process, survives close and reopen.
    Memory,
    /// `s3://<bucket>/firn-tests/<unique prefix>` on the test run's S3 server.
    S3,
    /// `azblob://<container>/firn-tests/<unique prefix>` on the test run's
    /// Azure Blob service (Azurite).
    Azblob,
}

/// Every store kind, in the order the suites run them.
pub const ALL_STORES: [StoreKind; 4] = [
    StoreKind::Memory,
    StoreKind::File,
    StoreKind::S3,
    StoreKind::Azblob,
];

impl StoreKind {
    /// True for stores reached over the network (slower: tests keep their
    /// sizes modest there).
    pub fn is_remote(self) -> bool {
        matches!(self, StoreKind::S3 | StoreKind::Azblob)
    }

    /// Whether tests of this kind can run: always for local stores; for
    /// remote ones by [`s3_enabled`]'s or [`azblob_enabled`]'s convention
    /// (printing why a test is skipped, failing it when the server is
    /// required but not configured).
    pub fn enabled(self, test: &str) -> bool {
        match self {
            StoreKind::File | StoreKind::Memory => true,
            StoreKind::S3 => s3_enabled(test),
            StoreKind::Azblob => azblob_enabled(test),
        }
    }
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreKind::File => "file",
            StoreKind::Memory => "memory",
            StoreKind::S3 => "s3",
            StoreKind::Azblob => "azblob",
        })
    }
}

/// The S3 server and bucket of the test run.
#[derive(Clone, Debug)]
pub struct S3Settings {
    /// `FIRN_TEST_S3_ENDPOINT`, e.g. `http://127.0.0.1:9000`.
    pub endpoint: String,
    /// `FIRN_TEST_S3_BUCKET`.
    pub bucket: String,
}

/// The S3 server of the test run, if `FIRN_TEST_S3_ENDPOINT` and
/// `FIRN_TEST_S3_BUCKET` are set.
pub fn s3_settings() -> Option<S3Settings> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    Some(S3Settings {
        endpoint: var("FIRN_TEST_S3_ENDPOINT")?,
        bucket: var("FIRN_TEST_S3_BUCKET")?,
    })
}

/// The skip/require convention of the S3 tests: true when the S3 server is
/// configured; otherwise prints that `test` is skipped and returns false —
/// or fails the test if `FIRN_REQUIRE_S3` is set (as `scripts/test.sh` does).
pub fn s3_enabled(test: &str) -> bool {
    if s3_settings().is_some() {
        return true;
    }
    assert!(
        std::env::var_os("FIRN_REQUIRE_S3").is_none(),
        "{test}: FIRN_REQUIRE_S3 is set but FIRN_TEST_S3_ENDPOINT/FIRN_TEST_S3_BUCKET are not"
    );
    eprintln!(
        "skipped {test}: FIRN_TEST_S3_ENDPOINT is not set (run scripts/test.sh, or point \
         FIRN_TEST_S3_ENDPOINT, FIRN_TEST_S3_BUCKET and AWS_* at an S3 server)"
    );
    false
}

/// The Azure Blob container of the test run, if `FIRN_TEST_AZBLOB_CONTAINER`
/// and `AZURE_STORAGE_CONNECTION_STRING` (its account, endpoint and key) are
/// set.
pub fn azblob_container() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    var("AZURE_STORAGE_CONNECTION_STRING")?;
    var("FIRN_TEST_AZBLOB_CONTAINER")
}

/// The skip/require convention of the Azure tests, as [`s3_enabled`]'s:
/// true when the container is configured; otherwise prints that `test` is
/// skipped and returns false — or fails the test if `FIRN_REQUIRE_AZBLOB`
/// is set (as `scripts/test.sh` does).
pub fn azblob_enabled(test: &str) -> bool {
    if azblob_container().is_some() {
        return true;
    }
    assert!(
        std::env::var_os("FIRN_REQUIRE_AZBLOB").is_none(),
        "{test}: FIRN_REQUIRE_AZBLOB is set but FIRN_TEST_AZBLOB_CONTAINER/\
         AZURE_STORAGE_CONNECTION_STRING are not"
    );
    eprintln!(
        "skipped {test}: FIRN_TEST_AZBLOB_CONTAINER is not set (run scripts/test.sh, or \
         eval \"$(scripts/azurite.sh start)\", or point FIRN_TEST_AZBLOB_CONTAINER and \
         AZURE_STORAGE_CONNECTION_STRING at an Azure container)"
    );
    false
}

/// Options for the database at `url` with local state in `local_dir`, with
/// the test run's S3 endpoint filled in for `s3://` URLs (so a developer's
/// `FIRN_TEST_S3_ENDPOINT` wins over a stray `AWS_ENDPOINT_URL`). The child
/// processes of the suites build their options with this too.
pub fn test_options(url: &str, local_dir: impl Into<PathBuf>) -> Options {
    let mut opts = Options::new(url.to_string(), local_dir.into());
    opts.store = store_options(url);
    opts
}

/// [`StoreOptions`] for `url` in tests: the test S3 endpoint for `s3://`.
pub fn store_options(url: &str) -> StoreOptions {
    let mut store = StoreOptions::default();
    if url.starts_with("s3://") {
        if let Some(s3) = s3_settings() {
            store.s3_endpoint = Some(s3.endpoint);
        }
    }
    store
}

/// Declares, for each `async fn name(kind: StoreKind)` given, a module
/// `name` with one test per store: `name::memory`, `name::file` and
/// `name::s3` and `name::azblob` (which skip or fail by [`s3_enabled`]'s
/// and [`azblob_enabled`]'s conventions).
#[macro_export]
macro_rules! on_every_store {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$name($crate::StoreKind::Memory).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn file() {
                super::$name($crate::StoreKind::File).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn s3() {
                if $crate::s3_enabled(concat!(module_path!(), "::s3")) {
                    super::$name($crate::StoreKind::S3).await
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn azblob() {
                if $crate::azblob_enabled(concat!(module_path!(), "::azblob")) {
                    super::$name($crate::StoreKind::Azblob).await
                }
            }
        }
    )+};
}

/// A database location for one test: the object-store URL and a local
/// directory inside a temporary folder removed when this is dropped. An S3
/// or Azure prefix is emptied on drop too (unless the test failed, so its objects can
/// be inspected, or `FIRN_TEST_KEEP_OBJECTS` is set).
pub struct TestDb {
    /// The kind of store.
    pub kind: StoreKind,
    /// The temporary folder holding `objects/` (file stores) and `local/`.
    pub root: TempDir,
    /// The object-store URL.
    pub url: String,
    /// The local directory (WAL, lock, identity).
    pub local_dir: PathBuf,
    /// A private in-memory OpenDAL operator for [`TestDb::layered_store`] on
    /// memory stores (the `memory://` registry's operator is not reachable).
    memory_op: Option<opendal::Operator>,
}

impl TestDb {
    /// A fresh, empty location of the given kind; `tag` names memory stores
    /// and S3 prefixes. Panics for [`StoreKind::S3`] if no S3 server is
    /// configured (check [`s3_enabled`] first), and for [`StoreKind::Azblob`]
    /// if no container is (check [`azblob_enabled`] first).
    pub fn new(kind: StoreKind, tag: &str) -> TestDb {
        let root = tempfile::Builder::new()
            .prefix("firn-test-")
            .tempdir()
            .expect("create a temporary folder");
        let url = match kind {
            StoreKind::File => format!("file://{}", root.path().join("objects").display()),
            StoreKind::Memory => unique_memory_url(tag),
            StoreKind::S3 => {
                let s3 = s3_settings()
                    .expect("an S3 test needs FIRN_TEST_S3_ENDPOINT and FIRN_TEST_S3_BUCKET");
                format!("s3://{}/{}", s3.bucket, unique_prefix(tag))
            }
            StoreKind::Azblob => {
                let container = azblob_container().expect(
                    "an Azure test needs FIRN_TEST_AZBLOB_CONTAINER and \
                     AZURE_STORAGE_CONNECTION_STRING",
                );
                format!("azblob://{container}/{}", unique_prefix(tag))
            }
        };
        let local_dir = root.path().join("local");
        TestDb {
            kind,
            root,
            url,
            local_dir,
            memory_op: None,
        }
    }

    /// A fresh `file://` location.
    pub fn file() -> TestDb {
        TestDb::new(StoreKind::File, "file")
    }

    /// Default options for this location.
    pub fn options(&self) -> Options {
        test_options(&self.url, self.local_dir.clone())
    }

    /// Options with a tiny memtable and tiny blocks, so flushes happen after a
    /// few dozen writes and chunks have many blocks.
    pub fn small_options(&self) -> Options {
        small(self.options())
    }

    /// [`TestDb::options`] with another local directory (under the test's
    /// temporary folder, not created yet): "a fresh machine".
    pub fn options_with_local(&self, name: &str) -> Options {
        let mut opts = self.options();
        opts.local_dir = self.root.path().join(name);
        opts
    }

    /// The folder acting as the bucket (file stores only).
    pub fn objects_dir(&self) -> Option<PathBuf> {
        match self.kind {
            StoreKind::File => Some(self.root.path().join("objects")),
            StoreKind::Memory | StoreKind::S3 | StoreKind::Azblob => None,
        }
    }

    /// The WAL folder inside the local directory.
    pub fn wal_dir(&self) -> PathBuf {
        self.local_dir.join("wal")
    }

    /// A handle on the database's objects, independent of any open `Db`
    /// (on memory stores after [`TestDb::layered_store`]: the private
    /// operator's objects, which that test's handles use).
    pub fn objects(&self) -> ObjectStore {
        if let Some(op) = &self.memory_op {
            return ObjectStore::from_operator(op.clone(), self.url.clone());
        }
        ObjectStore::from_url_with(&self.url, &store_options(&self.url))
            .unwrap_or_else(|e| panic!("open the object store {}: {e}", self.url))
    }

    /// The objects whose names start with `prefix` (e.g. `"chunks/"`), sorted.
    pub async fn list_objects(&self, prefix: &str) -> Vec<ObjectInfo> {
        self.objects()
            .list(prefix)
            .await
            .unwrap_or_else(|e| panic!("list {prefix:?} in {}: {e}", self.url))
    }

    /// The names of the objects under `prefix` whose names end with `suffix`.
    pub async fn object_names(&self, prefix: &str, suffix: &str) -> Vec<String> {
        self.list_objects(prefix)
            .await
            .into_iter()
            .map(|o| o.path)
            .filter(|p| p.ends_with(suffix))
            .collect()
    }

    /// Every object of the database (outside the conditional-write probe
    /// folder) with its contents, by name.
    pub async fn object_contents(&self) -> BTreeMap<String, Bytes> {
        let mut out = BTreeMap::new();
        for info in self.list_objects("").await {
            if info.path.starts_with(firn_store::PROBE_DIR) {
                continue;
            }
            let data = self.read_object(&info.path).await;
            out.insert(info.path, data);
        }
        out
    }

    /// The whole object `name`.
    pub async fn read_object(&self, name: &str) -> Bytes {
        self.objects()
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("read {name} from {}: {e}", self.url))
    }

    /// Replaces the object `name` (tests only: the engine never overwrites).
    pub async fn write_object(&self, name: &str, data: Bytes) {
        self.objects()
            .put(name, data)
            .await
            .unwrap_or_else(|e| panic!("write {name} to {}: {e}", self.url))
    }

    /// XORs byte `offset` of the object `name` with `mask` (non-zero): one
    /// GET and one PUT, on every kind of store.
    pub async fn flip_object_byte(&self, name: &str, offset: u64, mask: u8) {
        assert_ne!(mask, 0, "a zero mask changes nothing");
        let mut data = self.read_object(name).await.to_vec();
        let i = usize::try_from(offset).expect("offset fits usize");
        assert!(
            i < data.len(),
            "offset {offset} is past the end of {name} ({} bytes)",
            data.len()
        );
        data[i] ^= mask;
        self.write_object(name, Bytes::from(data)).await;
    }

    /// An object store for this location whose OpenDAL operator is `wrap`ped
    /// (e.g. `|op| op.layer(fault_layer)`), for [`Options::object_store`]. S3 and Azure: the
    /// test server's operator under this prefix. Memory: a private in-memory operator of
    /// this `TestDb` (not the `memory://` URL's objects, so a test must open
    /// every handle through layered stores). File: an OpenDAL fs operator on
    /// the objects folder (without the `file://` store's crash-safe writes).
    pub fn layered_store(
        &mut self,
        wrap: impl FnOnce(opendal::Operator) -> opendal::Operator,
    ) -> ObjectStore {
        let op = match self.kind {
            StoreKind::S3 => s3_operator(&self.url),
            StoreKind::Azblob => azblob_operator(&self.url),
            StoreKind::Memory => self
                .memory_op
                .get_or_insert_with(|| {
                    opendal::Operator::new(opendal::services::Memory::default())
                        .expect("memory operator")
                })
                .clone(),
            StoreKind::File => {
                let dir = self.root.path().join("objects");
                std::fs::create_dir_all(&dir).expect("create objects/");
                opendal::Operator::new(
                    opendal::services::Fs::default().root(dir.to_str().expect("UTF-8 path")),
                )
                .expect("fs operator")
            }
        };
        ObjectStore::from_operator_with(wrap(op), self.url.clone(), &StoreOptions::default())
            .expect("layered store")
    }

    /// Opens the database with `opts`, panicking with the error on failure.
    pub async fn open(&self, opts: Options) -> Db {
        match Db::open(opts).await {
            Ok(db) => db,
            Err(e) => panic!("opening {} failed: {e}", self.url),
        }
    }

    /// Simulates an object-store outage for chunk uploads (file stores
    /// only): `objects/chunks` becomes a plain file, so every chunk upload
    /// fails with an I/O error until [`TestDb::unblock_chunk_uploads`].
    /// Existing chunks are removed, so only use this before the first flush.
    pub fn block_chunk_uploads(&self) {
        let chunks = self.objects_dir().expect("a file store").join("chunks");
        if chunks.is_dir() {
            std::fs::remove_dir_all(&chunks).expect("remove chunks/");
        }
        std::fs::write(&chunks, b"not a folder").expect("block chunks/");
    }

    /// Ends the outage of [`TestDb::block_chunk_uploads`].
    pub fn unblock_chunk_uploads(&self) {
        let chunks = self.objects_dir().expect("a file store").join("chunks");
        std::fs::remove_file(&chunks).expect("unblock chunks/");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !self.kind.is_remote() {
            return;
        }
        if std::thread::panicking() || std::env::var_os("FIRN_TEST_KEEP_OBJECTS").is_some() {
            eprintln!("kept the objects of {}", self.url);
            return;
        }
        // Best effort, on a thread of its own: drop may run inside a runtime.
        let store = self.objects();
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(objects) = store.list("").await else {
                    return;
                };
                for o in objects {
                    let _ = store.delete(&o.path).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// An OpenDAL S3 operator rooted at the prefix of the `s3://bucket/prefix`
/// URL on the test run's server, with credentials and region from the usual
/// `AWS_*` variables. No retry or timeout layers: add what the test needs.
pub fn s3_operator(url: &str) -> opendal::Operator {
    let s3 = s3_settings().expect("FIRN_TEST_S3_ENDPOINT and FIRN_TEST_S3_BUCKET");
    let rest = url.strip_prefix("s3://").expect("an s3:// URL");
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    opendal::install_default();
    let mut builder = opendal::services::S3::default()
        .bucket(bucket)
        .root(&format!("/{}/", prefix.trim_matches('/')))
        .endpoint(&s3.endpoint)
        .region(&env("AWS_REGION").unwrap_or_else(|| "us-east-1".into()))
        .disable_config_load()
        .disable_ec2_metadata();
    if let (Some(key), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        builder = builder.access_key_id(&key).secret_access_key(&secret);
    }
    if let Some(token) = env("AWS_SESSION_TOKEN") {
        builder = builder.session_token(&token);
    }
    opendal::Operator::new(builder).expect("S3 operator")
}

/// An OpenDAL Azure Blob operator rooted at the prefix of the
/// `azblob://container/prefix` URL, with account, endpoint and key from
/// `AZURE_STORAGE_CONNECTION_STRING`. No retry or timeout layers: add what the
/// test needs.
pub fn azblob_operator(url: &str) -> opendal::Operator {
    let conn = std::env::var("AZURE_STORAGE_CONNECTION_STRING")
        .expect("AZURE_STORAGE_CONNECTION_STRING for an azblob:// test");
    let rest = url.strip_prefix("azblob://").expect("an azblob:// URL");
    let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    opendal::install_default();
    let builder = opendal::services::Azblob::from_connection_string(&conn)
        .expect("a valid AZURE_STORAGE_CONNECTION_STRING")
        .container(container)
        .root(&format!("/{}/", prefix.trim_matches('/')));
    opendal::Operator::new(builder).expect("Azure Blob operator")
}

/// A `memory://` URL no other test in this process uses.
pub fn unique_memory_url(tag: &str) -> String {
    format!("memory://firn-{}", unique_name(tag))
}

/// An S3 or Azure prefix no other test (in this or another run) uses.
fn unique_prefix(tag: &str) -> String {
    let nanos = firn_store::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("firn-tests/{}-{nanos}", unique_name(tag))
}

fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{tag}-{}-{n}", std::process::id())
}

/// `opts` with a 16 KiB memtable and 512-byte blocks.
pub fn small(mut opts: Options) -> Options {
    opts.memtable_size = 16 << 10;
    opts.block_size = 512;
    opts
}

/// Waits until `db` makes no object-store request for 300 ms (at most 20 s),
/// e.g. after the background work an open triggers (a GC pass), so a test
/// can count the requests of one operation.
pub async fn settle(db: &Db) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = db.metrics().requests;
    loop {
        firn_store::clock::sleep(Duration::from_millis(300)).await;
        let now = db.metrics().requests;
        if now == last {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the database never became idle: {}",
            now.since(&last)
        );
        last = now;
    }
}

mod files;
mod oracle;
mod workload;
pub mod writer_process;

pub use files::*;
pub use oracle::*;
pub use workload::*;
