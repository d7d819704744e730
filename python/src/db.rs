//! The database handle, its snapshots, scans and write batches.
//!
//! Each open database owns a small tokio runtime; every call that can do
//! I/O runs on it with the GIL released (`Python::detach`), so other Python
//! threads run meanwhile — including other reads and writes on the same
//! database, which the engine serves concurrently.

use std::ops::Bound as Edge;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::convert::{py_bytes, py_values, to_bytes, to_keys, to_opt_bytes, to_py_data};
use crate::errors::{check, invalid, ClosedError};
use crate::options;

/// What a database handle and everything made from it share.
pub(crate) struct Shared {
    /// `None` once closed. Dropped before the runtime (field order).
    db: RwLock<Option<firn::Db>>,
    rt: tokio::runtime::Runtime,
    url: String,
}

impl Shared {
    /// A handle on the open database, or the closed error.
    fn db(&self) -> firn::Result<firn::Db> {
        read(&self.db).clone().ok_or(firn::Error::Closed(None))
    }

    fn is_open(&self) -> bool {
        read(&self.db).is_some()
    }

    /// Runs `f` on the runtime with the GIL released.
    fn run<T: Send>(&self, py: Python<'_>, f: impl std::future::Future<Output = T> + Send) -> T {
        py.detach(|| self.rt.block_on(f))
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Opens the database named by `opts`, with the GIL released.
pub(crate) fn open(
    py: Python<'_>,
    mut opts: firn::Options,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Db> {
    options::apply(&mut opts, kwargs)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("firn")
        .enable_all()
        .build()
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("tokio runtime: {e}")))?;
    let url = opts.url.clone();
    let opened = py.detach(|| rt.block_on(firn::Db::open(opts)));
    let db = check(py, opened)?;
    Ok(Db {
        shared: Arc::new(Shared {
            db: RwLock::new(Some(db)),
            rt,
            url,
        }),
    })
}

/// The write options for an optional durability name.
fn write_options(durability: Option<&Bound<'_, PyAny>>) -> PyResult<firn::WriteOptions> {
    let durability = match durability {
        Some(d) if !d.is_none() => Some(options::durability("durability", d)?),
        _ => None,
    };
    Ok(firn::WriteOptions { durability })
}

/// A TTL in seconds, as the engine's duration.
fn ttl(v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<std::time::Duration>> {
    match v {
        Some(v) if !v.is_none() => options::seconds("ttl", v).map(Some),
        _ => Ok(None),
    }
}

/// The scan's range: `[start, end)` or every key with `prefix`.
struct Range {
    start: Option<Bytes>,
    end: Option<Bytes>,
    prefix: Option<Bytes>,
    reverse: bool,
}

impl Range {
    fn new(
        start: Option<&Bound<'_, PyAny>>,
        end: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<Range> {
        let r = Range {
            start: to_opt_bytes("start", start)?,
            end: to_opt_bytes("end", end)?,
            prefix: to_opt_bytes("prefix", prefix)?,
            reverse,
        };
        if r.prefix.is_some() && (r.start.is_some() || r.end.is_some()) {
            return Err(invalid(
                "scan takes either a prefix or start/end bounds, not both",
            ));
        }
        Ok(r)
    }

    fn bounds(&self) -> (Edge<Bytes>, Edge<Bytes>) {
        (
            self.start.clone().map_or(Edge::Unbounded, Edge::Included),
            self.end.clone().map_or(Edge::Unbounded, Edge::Excluded),
        )
    }

    fn finish(&self, it: firn::DbIterator) -> firn::DbIterator {
        if self.reverse {
            it.rev()
        } else {
            it
        }
    }
}

/// An open Firn database (made by `firn.open` or `firn.open_embedded`).
///
/// Keys and values are `bytes` (`bytearray` and `str`, as UTF-8, are
/// accepted too); reads return `bytes`, and `None` for a key that is absent.
/// Use it as a context manager, or call `close()`: a database dropped
/// without `close()` is treated as a crash (its WAL replays at the next
/// open, nothing acknowledged is lost).
#[pyclass(module = "firn", name = "Db", frozen)]
pub(crate) struct Db {
    shared: Arc<Shared>,
}

#[pymethods]
impl Db {
    /// The value of `key`, or `None` when it is absent.
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let key = to_bytes("key", key)?;
        let db = check(py, self.shared.db())?;
        let got = self.shared.run(py, async move { db.get(key).await });
        Ok(check(py, got)?.map(|v| py_bytes(py, &v)))
    }

    /// The values of `keys` (an iterable), all read at one sequence number:
    /// a list of `bytes` or `None`, in the order of `keys`.
    fn multi_get<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let keys = to_keys(keys)?;
        let db = check(py, self.shared.db())?;
        let got = self
            .shared
            .run(py, async move { db.multi_get(&keys).await });
        py_values(py, &check(py, got)?)
    }

    /// Sets `key` to `value`; with `ttl` (seconds) the value expires that
    /// long after the write. `durability` ("buffered", "sync", "remote" or
    /// "deferred") overrides the database's default for this write.
    #[pyo3(signature = (key, value, *, ttl = None, durability = None))]
    fn put(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Option<&Bound<'_, PyAny>>,
        durability: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let mut batch = firn::WriteBatch::new();
        let (key, value) = (to_bytes("key", key)?, to_bytes("value", value)?);
        match self::ttl(ttl)? {
            Some(ttl) => batch.put_with_ttl(key, value, ttl),
            None => batch.put(key, value),
        };
        self.write_inner(py, batch, write_options(durability)?)
            .map(|_| ())
    }

    /// Removes `key` (nothing happens if it is absent).
    #[pyo3(signature = (key, *, durability = None))]
    fn delete(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        durability: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let mut batch = firn::WriteBatch::new();
        batch.delete(to_bytes("key", key)?);
        self.write_inner(py, batch, write_options(durability)?)
            .map(|_| ())
    }

    /// Removes every key from `start` (included) to `end` (excluded) in one
    /// write, however many keys the range holds.
    #[pyo3(signature = (start, end, *, durability = None))]
    fn delete_range(
        &self,
        py: Python<'_>,
        start: &Bound<'_, PyAny>,
        end: &Bound<'_, PyAny>,
        durability: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let mut batch = firn::WriteBatch::new();
        batch.delete_range(to_bytes("start", start)?, to_bytes("end", end)?);
        self.write_inner(py, batch, write_options(durability)?)
            .map(|_| ())
    }

    /// Applies a `WriteBatch` atomically: readers see all of it or none of
    /// it. Returns the sequence number of its last operation. The batch is
    /// left as it was (`clear()` empties it).
    #[pyo3(signature = (batch, *, durability = None))]
    fn write(
        &self,
        py: Python<'_>,
        batch: &Bound<'_, WriteBatch>,
        durability: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let ops = lock(&batch.get().ops).clone();
        self.write_inner(py, ops, write_options(durability)?)
    }

    /// A `WriteBatch` bound to this database, for a `with` block: it is
    /// written (atomically) when the block ends without an exception, and
    /// discarded when it raises.
    #[pyo3(signature = (*, durability = None))]
    fn write_batch(&self, durability: Option<&Bound<'_, PyAny>>) -> PyResult<WriteBatch> {
        Ok(WriteBatch {
            ops: Mutex::new(firn::WriteBatch::new()),
            bound: Some((self.shared.clone(), write_options(durability)?)),
        })
    }

    /// An iterator of `(key, value)` tuples in key order: keys from `start`
    /// (included) to `end` (excluded), or every key starting with `prefix`;
    /// `reverse=True` visits the same keys backwards. It reads at the
    /// moment it was made (a consistent view, never half a batch).
    #[pyo3(signature = (start = None, end = None, prefix = None, reverse = false))]
    fn scan(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        end: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<ScanIterator> {
        let range = Range::new(start, end, prefix, reverse)?;
        let db = check(py, self.shared.db())?;
        let it = match &range.prefix {
            Some(p) => db.scan_prefix(p),
            None => db.scan(range.bounds()),
        };
        Ok(ScanIterator::new(
            self.shared.clone(),
            range.finish(check(py, it)?),
        ))
    }

    /// A consistent read-only view at the current sequence number, with
    /// `get`, `multi_get` and `scan`. Release it with `close()` or use it as
    /// a context manager; it ends when the database closes.
    fn snapshot(&self, py: Python<'_>) -> PyResult<Snapshot> {
        let db = check(py, self.shared.db())?;
        Ok(Snapshot {
            shared: self.shared.clone(),
            snap: RwLock::new(Some(Arc::new(db.snapshot()))),
        })
    }

    /// A snapshot at an older sequence number `seq`, from
    /// `oldest_readable_seq()` to the last write (see `read_history`);
    /// an older one raises `InvalidArgumentError` (kind `seq_out_of_range`).
    fn snapshot_at(&self, py: Python<'_>, seq: u64) -> PyResult<Snapshot> {
        let db = check(py, self.shared.db())?;
        let snap = check(py, db.snapshot_at(seq))?;
        Ok(Snapshot {
            shared: self.shared.clone(),
            snap: RwLock::new(Some(Arc::new(snap))),
        })
    }

    /// The oldest sequence number `snapshot_at` accepts now.
    fn oldest_readable_seq(&self, py: Python<'_>) -> PyResult<u64> {
        let db = check(py, self.shared.db())?;
        Ok(db.oldest_readable_seq())
    }

    /// Freezes the memtable and waits until every write so far is in chunks
    /// in the bucket. Returns the new chunks' ids ("epoch-number").
    fn flush(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let db = check(py, self.shared.db())?;
        let ids = self.shared.run(py, async move { db.flush().await });
        Ok(check(py, ids)?.iter().map(|id| id.to_string()).collect())
    }

    /// Flushes, then merges every chunk into one sorted run (dropping
    /// overwritten values and deletes no snapshot needs), and waits for it.
    fn compact(&self, py: Python<'_>) -> PyResult<()> {
        let db = check(py, self.shared.db())?;
        let done = self.shared.run(py, async move { db.compact().await });
        check(py, done)
    }

    /// Flushes and pins the resulting state as the checkpoint `name` (1 to
    /// 128 letters, digits, '.', '_' or '-'), which survives reopens until
    /// deleted: open it with `firn.open(url, local_dir, checkpoint=name)`.
    /// Returns it as a dict (name, db_id, manifest_version, created_at_ms).
    fn checkpoint<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyDict>> {
        let db = check(py, self.shared.db())?;
        let name = name.to_string();
        let made = self
            .shared
            .run(py, async move { db.checkpoint(&name).await });
        checkpoint_dict(py, &check(py, made)?)
    }

    /// Every checkpoint of the database, as dicts (see `checkpoint`).
    fn list_checkpoints<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let db = check(py, self.shared.db())?;
        let all = self
            .shared
            .run(py, async move { db.list_checkpoints().await });
        let list = PyList::empty(py);
        for c in check(py, all)? {
            list.append(checkpoint_dict(py, &c)?)?;
        }
        Ok(list)
    }

    /// Deletes the checkpoint `name`.
    fn delete_checkpoint(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let db = check(py, self.shared.db())?;
        let name = name.to_string();
        let done = self
            .shared
            .run(py, async move { db.delete_checkpoint(&name).await });
        check(py, done)
    }

    /// The engine's counters as a dict: object-store requests and bytes
    /// (`requests`: get, put, list, delete, head, bytes_read,
    /// bytes_written), WAL, flushes, compactions, caches (`cache`), memtable
    /// and chunk counts, `visible_seq`, ...
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let db = check(py, self.shared.db())?;
        to_py_data(py, &db.metrics())
    }

    /// The same counters in the Prometheus text exposition format (what
    /// `firn stats --prometheus` prints): serve it from a metrics endpoint,
    /// or parse it with `prometheus_client.parser`.
    fn prometheus_text(&self, py: Python<'_>) -> PyResult<String> {
        let db = check(py, self.shared.db())?;
        Ok(db.metrics().to_prometheus_text())
    }

    /// How far writes have got, as a dict: visible_seq, local_synced_seq,
    /// bucket_durable_seq, oldest_unshipped_ms.
    fn durability_status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let db = check(py, self.shared.db())?;
        to_py_data(py, &db.durability_status())
    }

    /// Waits until every write through sequence number `seq` is in the bucket.
    fn wait_durable(&self, py: Python<'_>, seq: u64) -> PyResult<()> {
        let db = check(py, self.shared.db())?;
        let done = self
            .shared
            .run(py, async move { db.wait_durable(seq).await });
        check(py, done)
    }

    /// Brings a read-only handle up to date with the bucket now (a writer
    /// is always current).
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        let db = check(py, self.shared.db())?;
        let done = self.shared.run(py, async move { db.refresh().await });
        check(py, done)
    }

    /// Flushes the memtables into chunks (unless opened with
    /// `flush_on_close=False`), stops background work and releases the local
    /// directory. Every later call on the database, its snapshots and scans
    /// raises `ClosedError`. Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let Some(db) = write(&self.shared.db).take() else {
            return Ok(());
        };
        let done = self.shared.run(py, db.close());
        check(py, done)
    }

    /// True once `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        !self.shared.is_open()
    }

    /// The object-store URL of the database.
    #[getter]
    fn url(&self) -> String {
        self.shared.url.clone()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.shared.is_open() {
            "open"
        } else {
            "closed"
        };
        format!("<firn.Db {:?} {state}>", self.shared.url)
    }
}

impl Db {
    fn write_inner(
        &self,
        py: Python<'_>,
        batch: firn::WriteBatch,
        opts: firn::WriteOptions,
    ) -> PyResult<u64> {
        write_to(py, &self.shared, batch, opts)
    }
}

fn write_to(
    py: Python<'_>,
    shared: &Shared,
    batch: firn::WriteBatch,
    opts: firn::WriteOptions,
) -> PyResult<u64> {
    let db = check(py, shared.db())?;
    let seq = shared.run(py, async move { db.write_with(batch, opts).await });
    check(py, seq)
}

fn checkpoint_dict<'py>(py: Python<'py>, c: &firn::Checkpoint) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &c.name)?;
    let id: String = c.db_id.iter().map(|b| format!("{b:02x}")).collect();
    d.set_item("db_id", id)?;
    d.set_item("manifest_version", c.manifest_version)?;
    d.set_item("created_at_ms", c.created_at_ms)?;
    Ok(d)
}

/// A group of puts and deletes applied atomically by `Db.write(batch)`, or
/// by the end of a `with db.write_batch() as batch:` block. `put` and
/// `delete` return the batch, so calls chain.
#[pyclass(module = "firn", name = "WriteBatch", frozen)]
pub(crate) struct WriteBatch {
    ops: Mutex<firn::WriteBatch>,
    /// Set for a batch made by `Db.write_batch()`: where its `with` block
    /// writes it.
    bound: Option<(Arc<Shared>, firn::WriteOptions)>,
}

#[pymethods]
impl WriteBatch {
    #[new]
    fn new() -> WriteBatch {
        WriteBatch {
            ops: Mutex::new(firn::WriteBatch::new()),
            bound: None,
        }
    }

    /// Adds a put; with `ttl` (seconds) the value expires that long after
    /// the batch commits.
    #[pyo3(signature = (key, value, *, ttl = None))]
    fn put<'py>(
        slf: &Bound<'py, Self>,
        key: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
        ttl: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, Self>> {
        let (key, value) = (to_bytes("key", key)?, to_bytes("value", value)?);
        let ttl = self::ttl(ttl)?;
        let mut ops = lock(&slf.get().ops);
        match ttl {
            Some(ttl) => ops.put_with_ttl(key, value, ttl),
            None => ops.put(key, value),
        };
        Ok(slf.clone())
    }

    /// Adds a delete.
    fn delete<'py>(slf: &Bound<'py, Self>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let key = to_bytes("key", key)?;
        lock(&slf.get().ops).delete(key);
        Ok(slf.clone())
    }

    /// Adds a delete of every key from `start` (included) to `end`
    /// (excluded).
    fn delete_range<'py>(
        slf: &Bound<'py, Self>,
        start: &Bound<'py, PyAny>,
        end: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Self>> {
        let (start, end) = (to_bytes("start", start)?, to_bytes("end", end)?);
        lock(&slf.get().ops).delete_range(start, end);
        Ok(slf.clone())
    }

    /// Removes every operation.
    fn clear(&self) {
        *lock(&self.ops) = firn::WriteBatch::new();
    }

    fn __len__(&self) -> usize {
        lock(&self.ops).len()
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        if slf.get().bound.is_none() {
            return Err(invalid(
                "only a batch made by Db.write_batch() writes itself at the end of a with \
                 block; pass this one to Db.write(batch)",
            ));
        }
        Ok(slf)
    }

    /// Writes the batch when the block ended without an exception (an empty
    /// batch writes nothing); discards it otherwise.
    #[pyo3(signature = (exc_type, _exc_value = None, _traceback = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let batch = std::mem::take(&mut *lock(&self.ops));
        let raised = exc_type.is_some_and(|t| !t.is_none());
        if let Some((shared, opts)) = &self.bound {
            if !raised && !batch.is_empty() {
                write_to(py, shared, batch, *opts)?;
            }
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<firn.WriteBatch of {} operations>", lock(&self.ops).len())
    }
}

/// A consistent read-only view of the database at one sequence number
/// (`Db.snapshot()`): reads see exactly the writes made before it, across
/// flushes and compactions. Ends with `close()`, the end of a `with` block,
/// or when the database closes.
#[pyclass(module = "firn", name = "Snapshot", frozen)]
pub(crate) struct Snapshot {
    shared: Arc<Shared>,
    snap: RwLock<Option<Arc<firn::Snapshot>>>,
}

impl Snapshot {
    fn snap(&self, py: Python<'_>) -> PyResult<Arc<firn::Snapshot>> {
        check(py, self.shared.db())?;
        read(&self.snap)
            .clone()
            .ok_or_else(|| ClosedError::new_err("the snapshot is closed"))
    }
}

#[pymethods]
impl Snapshot {
    /// The sequence number this snapshot reads at.
    #[getter]
    fn seq(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.snap(py)?.seq())
    }

    /// The value of `key` as of this snapshot, or `None`.
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let key = to_bytes("key", key)?;
        let snap = self.snap(py)?;
        let got = self.shared.run(py, async move { snap.get(key).await });
        Ok(check(py, got)?.map(|v| py_bytes(py, &v)))
    }

    /// The values of `keys` as of this snapshot (see `Db.multi_get`).
    fn multi_get<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let keys = to_keys(keys)?;
        let snap = self.snap(py)?;
        let got = self
            .shared
            .run(py, async move { snap.multi_get(&keys).await });
        py_values(py, &check(py, got)?)
    }

    /// Scans as of this snapshot (see `Db.scan`).
    #[pyo3(signature = (start = None, end = None, prefix = None, reverse = false))]
    fn scan(
        &self,
        py: Python<'_>,
        start: Option<&Bound<'_, PyAny>>,
        end: Option<&Bound<'_, PyAny>>,
        prefix: Option<&Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<ScanIterator> {
        let range = Range::new(start, end, prefix, reverse)?;
        let snap = self.snap(py)?;
        let it = match &range.prefix {
            Some(p) => snap.scan_prefix(p),
            None => snap.scan(range.bounds()),
        };
        Ok(ScanIterator::new(
            self.shared.clone(),
            range.finish(check(py, it)?),
        ))
    }

    /// Releases the snapshot (scans made from it end too). Closing twice
    /// does nothing.
    fn close(&self) {
        write(&self.snap).take();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        match &*read(&self.snap) {
            Some(s) => format!("<firn.Snapshot at seq {}>", s.seq()),
            None => "<firn.Snapshot closed>".into(),
        }
    }
}

/// A scan: an iterator of `(key, value)` tuples of `bytes` (see `Db.scan`).
/// Each step reads with the GIL released.
#[pyclass(module = "firn", name = "ScanIterator", frozen)]
pub(crate) struct ScanIterator {
    shared: Arc<Shared>,
    /// An async mutex: a step holds it across the read, on the runtime.
    it: tokio::sync::Mutex<Option<firn::DbIterator>>,
}

impl ScanIterator {
    fn new(shared: Arc<Shared>, it: firn::DbIterator) -> ScanIterator {
        ScanIterator {
            shared,
            it: tokio::sync::Mutex::new(Some(it)),
        }
    }
}

#[pymethods]
impl ScanIterator {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        check(py, self.shared.db())?;
        let it = &self.it;
        let next = self.shared.run(py, async move {
            let mut guard = it.lock().await;
            match guard.as_mut() {
                Some(it) => it.next().await,
                None => Ok(None),
            }
        });
        match check(py, next)? {
            Some((k, v)) => Ok(Some(PyTuple::new(
                py,
                [py_bytes(py, &k), py_bytes(py, &v)],
            )?)),
            None => {
                // Ended: free the view it held.
                let it = &self.it;
                self.shared.run(py, async move { it.lock().await.take() });
                Ok(None)
            }
        }
    }

    /// Moves the scan to the first key at or after `key` (at or before it
    /// when reverse) within its range.
    fn seek(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        let key = to_bytes("key", key)?;
        let it = &self.it;
        self.shared.run(py, async move {
            if let Some(it) = it.lock().await.as_mut() {
                it.seek(key);
            }
        });
        Ok(())
    }
}
