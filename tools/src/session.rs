//! What one command invocation works with: the resolved database location,
//! the key codec, stdout, and the object store whose requests
//! `--print-requests` reports.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use firn::config::Config;
use firn::{CacheCounts, Db, Options};
use firn_store::{ObjectStore, RequestCounts};

use crate::error::{CliError, CliResult};
use crate::escape::Codec;
use crate::output::Out;

/// How a command opens the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read-only: no writer lock, no epoch bump, nothing written.
    Read,
    /// Read-only, keeping the local index, disk cache and manifest copy in
    /// the local directory when it is free (`Options::reader_local_state`),
    /// for short reads (`get`, `scan`) that a user repeats. Long-running
    /// readers (`watch`) use `Read`, so they never keep a writer waiting.
    ReadKeepingLocal,
    /// As the writer: claims a new epoch, which fences any other writer.
    Write,
}

impl Access {
    /// Whether this access opens read-only.
    pub fn reads(self) -> bool {
        matches!(self, Access::Read | Access::ReadKeepingLocal)
    }
}

/// The state of one command invocation.
pub struct Session {
    db: Option<String>,
    local: Option<PathBuf>,
    /// How keys and values are given and shown.
    pub codec: Codec,
    /// Standard output.
    pub out: Out,
    store: Option<ObjectStore>,
    temp_local: Option<PathBuf>,
    checkpoint: Option<String>,
    /// The database opened, for the `cache:` line of `--print-requests`.
    opened: Option<Db>,
    ship_interval: Option<std::time::Duration>,
    ship_bytes: Option<u64>,
    /// `--config` and `FIRN_*` options (without the location, which
    /// `with_config` moved into `db` and `local`).
    config: Config,
}

impl Session {
    /// A session for `--db`, `--local` and `--hex`, writing to `out`.
    pub fn new(db: Option<String>, local: Option<PathBuf>, codec: Codec, out: Out) -> Session {
        Session {
            db,
            local,
            codec,
            out,
            store: None,
            temp_local: None,
            checkpoint: None,
            opened: None,
            ship_interval: None,
            ship_bytes: None,
            config: Config::default(),
        }
    }

    /// Options from `--config` and `FIRN_*` variables, applied under the
    /// flags. Their `url` stands in for `--db` (or `FIRN_DB`) when that is
    /// not given, and their `local_dir` for `--local` when that is not
    /// given, unless `--db` replaced their `url` (a local directory belongs
    /// to one database).
    pub fn with_config(mut self, mut config: Config) -> Session {
        let (url, local) = config.take_location();
        let db_replaced_url = self.db.is_some() && url.is_some();
        if self.db.is_none() {
            self.db = url;
        }
        if self.local.is_none() && !db_replaced_url {
            self.local = local;
        }
        self.config = config;
        self
    }

    /// `--wal-ship-interval` and `--wal-ship-bytes` (a writer's settings).
    pub fn with_shipping(
        mut self,
        interval: Option<std::time::Duration>,
        bytes: Option<u64>,
    ) -> Session {
        self.ship_interval = interval;
        self.ship_bytes = bytes;
        self
    }

    /// Reads go to checkpoint `name` (`--checkpoint`); writes refuse it.
    pub fn with_checkpoint(mut self, name: Option<String>) -> Session {
        self.checkpoint = name;
        self
    }

    /// Resolves `--db`/`--local` into engine options for `access`.
    ///
    /// A plain path P is `Options::embedded(P)` (`--local` overrides the
    /// local directory). A URL needs `--local` to be opened as writer,
    /// except `memory://`, which gets a temporary local directory. Readers
    /// without `--local` get a local directory that does not exist (a reader
    /// creates nothing there), so they see exactly what the object store
    /// holds; readers with one (or with a folder path) keep their local
    /// index, disk cache and manifest copy there
    /// ([`Options::reader_local_state`]). Read access to a database that does not exist fails without
    /// creating anything.
    pub fn options(&mut self, access: Access) -> CliResult<Options> {
        let Some(db) = self.db.clone() else {
            return Err(CliError::other(
                "no database given: use --db <PATH|URL>, set FIRN_DB, or set url in --config",
            ));
        };
        if db.is_empty() {
            return Err(CliError::other(
                "--db is empty: give a folder path or a URL",
            ));
        }
        let opts = if db.contains("://") {
            let scheme = db
                .split("://")
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let local = match (&self.local, access) {
                (Some(dir), _) => dir.clone(),
                (None, Access::Read | Access::ReadKeepingLocal) => unused_local_dir(),
                (None, Access::Write) if scheme == "memory" => {
                    let dir = unused_local_dir();
                    self.temp_local = Some(dir.clone());
                    dir
                }
                (None, Access::Write) => {
                    if scheme != "file" {
                        // Report a malformed URL before the missing --local.
                        ObjectStore::from_url(&db)?;
                    }
                    return Err(CliError::other(format!(
                        "--local <DIR> is required to open {db} as writer (it holds the WAL)"
                    )));
                }
            };
            if access.reads() && scheme == "file" {
                check_exists(&db, file_url_path(&db).as_deref())?;
            }
            Options::new(db.clone(), local)
        } else {
            let path = Path::new(&db);
            if access.reads() {
                check_exists(&db, Some(&path.join("objects")))?;
            }
            let mut opts = Options::embedded(path)?;
            if let Some(dir) = &self.local {
                opts.local_dir = dir.clone();
            }
            opts
        };
        let mut opts = opts;
        self.config.apply_to(&mut opts).map_err(|e| match e {
            firn::Error::InvalidArgument(message) => CliError::other(message),
            other => CliError::from(other),
        })?;
        let mut opts = opts.read_only(access.reads());
        // A read command keeps its local state (index, disk cache, manifest copy) in the
        // local directory it was given, so repeating it reads from local disk. Without
        // --local a URL's reader gets a directory nothing creates.
        opts.reader_local_state =
            access == Access::ReadKeepingLocal && (self.local.is_some() || !db.contains("://"));
        if let Some(interval) = self.ship_interval {
            opts.wal_ship_interval = interval;
        }
        if let Some(bytes) = self.ship_bytes {
            opts.wal_ship_bytes = bytes;
        }
        if let Some(name) = &self.checkpoint {
            if access == Access::Write {
                return Err(CliError::other(format!(
                    "--checkpoint {name} opens the database read-only; this command writes"
                )));
            }
            opts.checkpoint = Some(name.clone());
        }
        Ok(opts)
    }

    /// The `--checkpoint` name, if given.
    pub fn checkpoint_flag(&self) -> Option<String> {
        self.checkpoint.clone()
    }

    /// The `--local` directory, if given.
    pub fn local_flag(&self) -> Option<PathBuf> {
        self.local.clone()
    }

    /// The local directory named by `--local`, or the `local/` folder of a
    /// plain `--db` path, without opening anything.
    pub fn local_dir(&self) -> CliResult<PathBuf> {
        if let Some(dir) = &self.local {
            return Ok(dir.clone());
        }
        match &self.db {
            Some(db) if !db.is_empty() && !db.contains("://") => {
                Ok(Options::embedded(Path::new(db))?.local_dir)
            }
            _ => Err(CliError::other(
                "give the local directory with --local DIR (or a folder path with --db)",
            )),
        }
    }

    /// Opens the database. Its object store is what `--print-requests`
    /// reports.
    pub async fn open_db(&mut self, access: Access) -> CliResult<Db> {
        let opts = self.options(access)?;
        let db = Db::open(opts).await?;
        self.store = Some(db.object_store().clone());
        self.opened = Some(db.clone());
        Ok(db)
    }

    /// Opens only the object store of the database (read-only use: manifest
    /// inspection and verification, which must work even when the engine
    /// could not open the database).
    pub fn open_store(&mut self) -> CliResult<ObjectStore> {
        let opts = self.options(Access::Read)?;
        let store = ObjectStore::from_url_with(&opts.url, &opts.store)?;
        self.store = Some(store.clone());
        Ok(store)
    }

    /// Records a store opened by a command, for `--print-requests`.
    pub fn track_store(&mut self, store: &ObjectStore) {
        self.store = Some(store.clone());
    }

    /// Requests made through the tracked store (zero if none was opened).
    pub fn requests(&self) -> RequestCounts {
        self.store
            .as_ref()
            .map(ObjectStore::requests)
            .unwrap_or_default()
    }
}

impl Session {
    /// What the read path found in each cache tier, if a database was opened.
    pub fn cache(&self) -> Option<CacheCounts> {
        self.opened.as_ref().map(|db| db.metrics().cache)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(dir) = self.temp_local.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A fresh path under the temp folder that nothing has created.
fn unused_local_dir() -> PathBuf {
    let nanos = firn_store::clock::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    std::env::temp_dir().join(format!("firn-cli-{}-{nanos}", std::process::id()))
}

/// The folder a `file://` URL names, if it is well formed (the store
/// reports malformed ones itself).
fn file_url_path(url: &str) -> Option<PathBuf> {
    let rest = url.split_once("://")?.1;
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    path.starts_with('/').then(|| PathBuf::from(path))
}

fn check_exists(db: &str, path: Option<&Path>) -> CliResult {
    match path {
        Some(p) if !p.is_dir() => Err(CliError::other(format!(
            "no Firn database at {db} ({} does not exist); write to it first to create one",
            p.display()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitKind;

    fn session(db: &str, local: Option<&str>) -> Session {
        Session::new(
            Some(db.into()),
            local.map(PathBuf::from),
            Codec::Text,
            Out::to(Box::new(std::io::sink())),
        )
    }

    #[test]
    fn plain_paths_are_embedded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("db");
        let opts = session(p.to_str().expect("utf8"), None)
            .options(Access::Write)
            .expect("options");
        assert_eq!(opts.url, format!("file://{}", p.join("objects").display()));
        assert_eq!(opts.local_dir, p.join("local"));
        assert!(!opts.read_only);
        let err = session(p.to_str().expect("utf8"), None)
            .options(Access::Read)
            .unwrap_err();
        assert!(err.message.contains("no Firn database"), "{}", err.message);
        assert!(!p.exists(), "a failed read must not create the database");
    }

    #[test]
    fn urls_need_local_to_write() {
        let err = session("file:///nowhere/db", None)
            .options(Access::Write)
            .unwrap_err();
        assert!(err.message.contains("--local"), "{}", err.message);
        let err = session("ftp://x", None).options(Access::Write).unwrap_err();
        assert_eq!(err.kind, ExitKind::Other);
        assert!(err.message.contains("ftp"), "{}", err.message);
        let mut s = session("memory://t", None);
        let opts = s
            .options(Access::Write)
            .expect("memory works without --local");
        assert!(s.temp_local.as_ref() == Some(&opts.local_dir));
        let opts = session("file:///x", Some("/l"))
            .options(Access::Write)
            .expect("options");
        assert_eq!(opts.local_dir, PathBuf::from("/l"));
        assert!(session("", None).options(Access::Read).is_err());
    }
}
