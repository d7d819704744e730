//! A blocking wrapper for callers outside an async runtime.
//!
//! [`Db`] owns a small tokio runtime and runs each call to completion on it.
//! Do not call it from inside an async context (tokio refuses nested
//! `block_on`); use [`crate::Db`] there.
//!
//! ```no_run
//! let db = firn::blocking::Db::open(firn::Options::embedded("/tmp/firn-blocking")?)?;
//! db.put("k", "v")?;
//! assert_eq!(db.get("k")?.as_deref(), Some(&b"v"[..]));
//! for item in db.scan::<&[u8], _>(..)? {
//!     let (key, value) = item?;
//!     println!("{key:?} {value:?}");
//! }
//! db.close()?;
//! # Ok::<(), firn::Error>(())
//! ```

use std::ops::RangeBounds;
use std::sync::Arc;

use bytes::Bytes;
use firn_manifest::ChunkId;

use crate::error::{Error, Result};
use crate::{DbIterator, Metrics, Options, WriteBatch, WriteOptions};

/// A blocking handle on a Firn database.
pub struct Db {
    rt: Arc<tokio::runtime::Runtime>,
    db: crate::Db,
}

impl Db {
    /// Opens the database (see [`crate::Db::open`]).
    pub fn open(opts: Options) -> Result<Db> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("firn")
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        let db = rt.block_on(crate::Db::open(opts))?;
        Ok(Db {
            rt: Arc::new(rt),
            db,
        })
    }

    /// The async handle (for use inside [`Db::runtime`]).
    pub fn inner(&self) -> &crate::Db {
        &self.db
    }

    /// The runtime this handle runs on.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// See [`crate::Db::put`].
    pub fn put(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<()> {
        self.rt.block_on(self.db.put(key, value))
    }

    /// See [`crate::Db::put_with_ttl`].
    pub fn put_with_ttl(
        &self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        ttl: std::time::Duration,
    ) -> Result<()> {
        self.rt.block_on(self.db.put_with_ttl(key, value, ttl))
    }

    /// See [`crate::Db::get_with_meta`].
    pub fn get_with_meta(&self, key: impl AsRef<[u8]>) -> Result<Option<crate::Record>> {
        self.rt.block_on(self.db.get_with_meta(key))
    }

    /// See [`crate::Db::subscribe`]; [`Subscription::next`] blocks.
    pub fn subscribe(&self, from_seq: u64) -> Subscription {
        Subscription {
            rt: self.rt.clone(),
            sub: self.db.subscribe(from_seq),
        }
    }

    /// See [`crate::Db::delete`].
    pub fn delete(&self, key: impl Into<Bytes>) -> Result<()> {
        self.rt.block_on(self.db.delete(key))
    }

    /// See [`crate::Db::get_at`].
    pub fn get_at(&self, key: impl AsRef<[u8]>, seq: u64) -> Result<Option<Bytes>> {
        self.rt.block_on(self.db.get_at(key, seq))
    }

    /// See [`crate::Db::oldest_readable_seq`].
    pub fn oldest_readable_seq(&self) -> u64 {
        self.db.oldest_readable_seq()
    }

    /// See [`crate::Db::delete_range`].
    pub fn delete_range(&self, start: impl Into<Bytes>, end: impl Into<Bytes>) -> Result<()> {
        self.rt.block_on(self.db.delete_range(start, end))
    }

    /// See [`crate::Db::write`].
    pub fn write(&self, batch: WriteBatch) -> Result<u64> {
        self.rt.block_on(self.db.write(batch))
    }

    /// See [`crate::Db::write_with`].
    pub fn write_with(&self, batch: WriteBatch, opts: WriteOptions) -> Result<u64> {
        self.rt.block_on(self.db.write_with(batch, opts))
    }

    /// See [`crate::Db::get`].
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.rt.block_on(self.db.get(key))
    }

    /// See [`crate::Db::multi_get`].
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Bytes>>> {
        self.rt.block_on(self.db.multi_get(keys))
    }

    /// See [`crate::Db::scan`]; the iterator blocks on each step.
    pub fn scan<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<Iter> {
        Ok(Iter {
            rt: self.rt.clone(),
            it: self.db.scan(range)?,
        })
    }

    /// See [`crate::Db::scan_prefix`].
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<Iter> {
        Ok(Iter {
            rt: self.rt.clone(),
            it: self.db.scan_prefix(prefix)?,
        })
    }

    /// See [`crate::Db::flush`].
    pub fn flush(&self) -> Result<Vec<ChunkId>> {
        self.rt.block_on(self.db.flush())
    }

    /// See [`crate::Db::refresh`].
    pub fn refresh(&self) -> Result<()> {
        self.rt.block_on(self.db.refresh())
    }

    /// See [`crate::Db::follow_status`].
    pub fn follow_status(&self) -> Option<crate::FollowStatus> {
        self.db.follow_status()
    }

    /// See [`crate::Db::metrics`].
    pub fn metrics(&self) -> Metrics {
        self.db.metrics()
    }

    /// See [`crate::Db::close`].
    pub fn close(self) -> Result<()> {
        let Db { rt, db } = self;
        rt.block_on(db.close())
    }
}

/// A blocking change-feed subscriber (see [`crate::Subscription`]).
pub struct Subscription {
    rt: Arc<tokio::runtime::Runtime>,
    sub: crate::Subscription,
}

impl Subscription {
    /// See [`crate::Subscription::position`].
    pub fn position(&self) -> u64 {
        self.sub.position()
    }
}

/// Each committed batch in seq order, waiting for the next; the iteration
/// ends when the database closes, and an error (such as
/// [`Error::Lagged`]) is an item (see [`crate::Subscription::next`]).
impl Iterator for Subscription {
    type Item = Result<crate::Change>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.rt.block_on(self.sub.next()) {
            Err(Error::Closed(None)) => None,
            other => Some(other),
        }
    }
}

/// A blocking scan: an `Iterator` of `Result<(key, value)>`.
pub struct Iter {
    rt: Arc<tokio::runtime::Runtime>,
    it: DbIterator,
}

impl Iter {
    /// See [`DbIterator::rev`].
    pub fn rev(self) -> Iter {
        Iter {
            rt: self.rt,
            it: self.it.rev(),
        }
    }

    /// See [`DbIterator::seek`].
    pub fn seek(&mut self, key: impl AsRef<[u8]>) {
        self.it.seek(key)
    }
}

impl Iterator for Iter {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rt.block_on(self.it.next()).transpose()
    }
}
