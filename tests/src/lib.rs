//! Shared helpers for Firn's integration suites (`tests/*.rs`).
//!
//! * [`TestDb`]: a database location for one test — a `file://` folder or a
//!   uniquely named `memory://` store, plus a local directory — that builds
//!   [`Options`] and opens a [`Db`] as often as the test likes.
//! * [`Oracle`]: the reference model (a `BTreeMap`) the engine is compared to.
//! * Small utilities to collect scans, flip bytes in files and list folders.
//!
//! Everything here goes through the engine's public API only.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use firn::{BatchOp, Db, DbIterator, Options, WriteBatch};
use tempfile::TempDir;

/// Which kind of object store a test database lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// `file://<tempdir>/objects`: a local folder acting as the bucket.
    File,
    /// `memory://<unique name>`: in-process, survives close and reopen.
    Memory,
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreKind::File => "file",
            StoreKind::Memory => "memory",
        })
    }
}

/// A database location for one test: the object-store URL and a local
/// directory, both inside a temporary folder removed when this is dropped.
pub struct TestDb {
    /// The kind of store.
    pub kind: StoreKind,
    /// The temporary folder holding `objects/` (file stores) and `local/`.
    pub root: TempDir,
    /// The object-store URL.
    pub url: String,
    /// The local directory (WAL, lock, identity).
    pub local_dir: PathBuf,
}

impl TestDb {
    /// A fresh, empty location of the given kind; `tag` names memory stores.
    pub fn new(kind: StoreKind, tag: &str) -> TestDb {
        let root = tempfile::Builder::new()
            .prefix("firn-test-")
            .tempdir()
            .expect("create a temporary folder");
        let url = match kind {
            StoreKind::File => format!("file://{}", root.path().join("objects").display()),
            StoreKind::Memory => unique_memory_url(tag),
        };
        let local_dir = root.path().join("local");
        TestDb {
            kind,
            root,
            url,
            local_dir,
        }
    }

    /// A fresh `file://` location.
    pub fn file() -> TestDb {
        TestDb::new(StoreKind::File, "file")
    }

    /// Default options for this location.
    pub fn options(&self) -> Options {
        Options::new(self.url.clone(), self.local_dir.clone())
    }

    /// Options with a tiny memtable and tiny blocks, so flushes happen after a
    /// few dozen writes and chunks have many blocks.
    pub fn small_options(&self) -> Options {
        small(self.options())
    }

    /// The folder acting as the bucket (file stores only).
    pub fn objects_dir(&self) -> Option<PathBuf> {
        match self.kind {
            StoreKind::File => Some(self.root.path().join("objects")),
            StoreKind::Memory => None,
        }
    }

    /// The WAL folder inside the local directory.
    pub fn wal_dir(&self) -> PathBuf {
        self.local_dir.join("wal")
    }

    /// Opens the database with `opts`, panicking with the error on failure.
    pub async fn open(&self, opts: Options) -> Db {
        match Db::open(opts).await {
            Ok(db) => db,
            Err(e) => panic!("opening {} failed: {e}", self.url),
        }
    }
}

/// A `memory://` URL no other test in this process uses.
pub fn unique_memory_url(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("memory://firn-{tag}-{}-{n}", std::process::id())
}

/// `opts` with a 16 KiB memtable and 512-byte blocks.
pub fn small(mut opts: Options) -> Options {
    opts.memtable_size = 16 << 10;
    opts.block_size = 512;
    opts
}

/// Collects a scan into owned pairs.
pub async fn collect(mut it: DbIterator) -> firn::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    while let Some((k, v)) = it.next().await? {
        out.push((k.to_vec(), v.to_vec()));
    }
    Ok(out)
}

/// True when `key` lies within `(lo, hi)`.
pub fn in_bounds(key: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    let above = match lo {
        Bound::Included(l) => key >= l.as_slice(),
        Bound::Excluded(l) => key > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match hi {
        Bound::Included(h) => key <= h.as_slice(),
        Bound::Excluded(h) => key < h.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

/// The reference model: what the database must contain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Oracle {
    /// Current contents.
    pub map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Oracle {
    /// An empty model.
    pub fn new() -> Oracle {
        Oracle::default()
    }

    /// Records a put.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.map.insert(key.to_vec(), value.to_vec());
    }

    /// Records a delete.
    pub fn delete(&mut self, key: &[u8]) {
        self.map.remove(key);
    }

    /// Records a whole batch, ops in order.
    pub fn apply(&mut self, batch: &WriteBatch) {
        for op in batch.ops() {
            match op {
                BatchOp::Put { key, value } => self.put(key, value),
                BatchOp::Delete { key } => self.delete(key),
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.map.get(key).map(Vec::as_slice)
    }

    /// Pairs within `(lo, hi)` in key order (empty for inverted ranges).
    pub fn range(&self, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.map
            .iter()
            .filter(|(k, _)| in_bounds(k, lo, hi))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Pairs whose key starts with `prefix`, in key order.
    pub fn prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.map
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no key is live.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A short printable form of a key or value for failure messages.
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 48;
    let mut s: String = bytes.iter().take(MAX).flat_map(|b| std::ascii::escape_default(*b)).map(char::from).collect();
    if bytes.len() > MAX {
        s.push_str(&format!("...({} bytes)", bytes.len()));
    }
    format!("\"{s}\"")
}

/// Describes the first difference between two scan results, if any.
pub fn diff_scans(got: &[(Vec<u8>, Vec<u8>)], want: &[(Vec<u8>, Vec<u8>)]) -> Option<String> {
    for (i, pair) in got.iter().zip(want.iter()).enumerate() {
        let ((gk, gv), (wk, wv)) = pair;
        if gk != wk {
            return Some(format!("entry {i}: got key {}, want key {}", show(gk), show(wk)));
        }
        if gv != wv {
            return Some(format!("entry {i} (key {}): got value {}, want {}", show(gk), show(gv), show(wv)));
        }
    }
    if got.len() != want.len() {
        let extra = if got.len() > want.len() {
            format!("first extra key {}", show(&got[want.len()].0))
        } else {
            format!("first missing key {}", show(&want[got.len()].0))
        };
        return Some(format!("got {} entries, want {} ({extra})", got.len(), want.len()));
    }
    None
}

/// XORs the byte at `offset` of the file at `path` with `mask` (non-zero).
pub fn flip_byte(path: &Path, offset: u64, mask: u8) {
    assert_ne!(mask, 0, "a zero mask changes nothing");
    let mut data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let i = usize::try_from(offset).expect("offset fits usize");
    assert!(i < data.len(), "offset {offset} is past the end of {} ({} bytes)", path.display(), data.len());
    data[i] ^= mask;
    std::fs::write(path, &data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Every regular file under `dir` (recursively) with its contents, keyed by
/// the path relative to `dir`. Empty when `dir` does not exist.
pub fn folder_contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let entry = entry.expect("read a folder entry");
            let path = entry.path();
            let ty = entry.file_type().expect("file type");
            if ty.is_dir() {
                out.insert(path.strip_prefix(dir).expect("under dir").join(""), Vec::new());
                stack.push(path);
            } else {
                let data = std::fs::read(&path).unwrap_or_default();
                out.insert(path.strip_prefix(dir).expect("under dir").to_path_buf(), data);
            }
        }
    }
    out
}

/// The files directly inside `dir` whose names end with `suffix` (or all
/// files, for an empty suffix), sorted by name.
pub fn files_in(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)))
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}
