//! Python bindings of Firn: the `firn` module.
//!
//! `firn.open(url, local_dir, **options)` and `firn.open_embedded(path,
//! **options)` return a [`db::Db`]; the rest of the API hangs off it. Built
//! with maturin (`pip install ./python`); see `python/README.md`.

mod convert;
mod db;
mod errors;
mod options;

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::check;

/// Opens (or creates) the database at the object-store URL `url`
/// (`file:///path`, `s3://bucket/prefix`, `azblob://container/prefix`,
/// `memory://name`) with its local
/// state (WAL, indexes, cache) in `local_dir`. Keyword options are the
/// fields of the engine's `Options` (see `python/README.md`): for example
/// `memtable_size=8 << 20`, `durability="sync"`, `read_only=True`,
/// `block_cache_bytes=...`, `s3_endpoint="http://127.0.0.1:9000"`.
/// Durations are seconds. An unknown option raises `InvalidArgumentError`.
#[pyfunction]
#[pyo3(signature = (url, local_dir, **options))]
fn open(
    py: Python<'_>,
    url: String,
    local_dir: PathBuf,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<db::Db> {
    db::open(py, firn::Options::new(url, local_dir), options)
}

/// The embedded default: a database in the folder `path`, whose
/// `objects/` subfolder acts as the bucket (`file://`) and whose `local/`
/// subfolder holds the local state. Takes the options of `open`.
#[pyfunction]
#[pyo3(signature = (path, **options))]
fn open_embedded(
    py: Python<'_>,
    path: PathBuf,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<db::Db> {
    let opts = check(py, firn::Options::embedded(path))?;
    db::open(py, opts, options)
}

#[pymodule]
#[pyo3(name = "firn")]
fn firn_python(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(open_embedded, m)?)?;
    m.add_class::<db::Db>()?;
    m.add_class::<db::WriteBatch>()?;
    m.add_class::<db::Snapshot>()?;
    m.add_class::<db::ScanIterator>()?;
    m.add("FirnError", py.get_type::<errors::FirnError>())?;
    m.add(
        "InvalidArgumentError",
        py.get_type::<errors::InvalidArgumentError>(),
    )?;
    m.add("CorruptionError", py.get_type::<errors::CorruptionError>())?;
    m.add("FencedError", py.get_type::<errors::FencedError>())?;
    m.add("ClosedError", py.get_type::<errors::ClosedError>())?;
    m.add("ReadOnlyError", py.get_type::<errors::ReadOnlyError>())?;
    m.add("StoreError", py.get_type::<errors::StoreError>())?;
    m.add("OPTIONS", options::NAMES.to_vec())?;
    Ok(())
}
