//! Where the benchmark database lives, how it is opened, wiped and removed.
//!
//! Wiping removes only what a Firn database consists of (the `manifest/`
//! and `chunks/` objects, the local `wal/`, `index/`, `cache/`, `IDENTITY`
//! and `LOCK`), never anything else found in a folder the user named.

use std::path::{Path, PathBuf};

use firn::{Db, ObjectStore, Options};

use crate::args::Args;

/// Object-name prefixes of a Firn database.
const OBJECT_PREFIXES: [&str; 2] = ["manifest/", "chunks/"];
/// Entries of a Firn local directory.
const LOCAL_ENTRIES: [&str; 6] = ["wal", "index", "cache", "IDENTITY", "IDENTITY.tmp", "LOCK"];

/// The database location and the options every open uses.
#[derive(Debug)]
pub struct Target {
    url: String,
    local_dir: PathBuf,
    /// A folder this run created and removes at the end.
    temp_root: Option<PathBuf>,
    keep: bool,
    opts: Options,
}

/// An error message for the user.
pub type Failure = String;

impl Target {
    /// Resolves `--db`/`--local` and the engine options.
    pub fn from_args(args: &Args) -> Result<Target, Failure> {
        let (opts, temp_root) = match args.db.as_deref() {
            Some(db) if db.contains("://") => {
                let local = args.local.clone().ok_or_else(|| {
                    format!("--db {db} is a URL: --local DIR must name the local (WAL) directory")
                })?;
                (Options::new(db, absolute(&local)?), None)
            }
            Some(path) => {
                if args.local.is_some() {
                    return Err("--local is only for URL databases; a folder database keeps its local state in PATH/local".into());
                }
                (embedded(Path::new(path))?, None)
            }
            None => {
                let name = format!("firn-bench-{}-{}", std::process::id(), nanos_now());
                let root = absolute(Path::new(&name))?;
                (embedded(&root)?, Some(root))
            }
        };
        let mut opts = opts.durability(args.durability.to_engine());
        if let Some(bytes) = args.memtable_size {
            opts.memtable_size =
                usize::try_from(bytes).map_err(|_| "--memtable-size is too large".to_string())?;
        }
        if let Some(bytes) = args.block_cache_size {
            opts.block_cache_bytes = usize::try_from(bytes)
                .map_err(|_| "--block-cache-size is too large".to_string())?;
        }
        if let Some(bytes) = args.disk_cache_size {
            opts.disk_cache_bytes = bytes;
        }
        if let Some(bytes) = args.scan_readahead {
            opts.scan_readahead = bytes;
        }
        opts.preload_indexes = args.preload_indexes;
        opts.wal_shipping = !args.no_wal_shipping;
        if let Some(ms) = args.wal_ship_interval_ms {
            opts.wal_ship_interval = std::time::Duration::from_millis(ms.max(1));
        }
        // Wiping between fills throws memtables away; the final close
        // flushes explicitly when the database is kept.
        opts.flush_on_close = false;
        Ok(Target {
            url: opts.url.clone(),
            local_dir: opts.local_dir.clone(),
            keep: args.keep || temp_root.is_none(),
            temp_root,
            opts,
        })
    }

    /// The object-store URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The local (WAL) directory.
    pub fn local_dir(&self) -> &Path {
        &self.local_dir
    }

    /// The engine options used for every open.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Creates the local directory (so the disk can be probed before open).
    pub fn prepare(&self) -> Result<(), Failure> {
        std::fs::create_dir_all(&self.local_dir)
            .map_err(|e| format!("cannot create {}: {e}", self.local_dir.display()))
    }

    /// Opens the database.
    pub async fn open(&self) -> Result<Db, Failure> {
        Db::open(self.opts.clone())
            .await
            .map_err(|e| format!("opening the database at {}: {e}", self.url))
    }

    /// Removes the database's objects and local state (it must be closed).
    pub async fn wipe(&self) -> Result<(), Failure> {
        let store =
            ObjectStore::from_url(&self.url).map_err(|e| format!("wiping {}: {e}", self.url))?;
        for prefix in OBJECT_PREFIXES {
            let objects = store
                .list(prefix)
                .await
                .map_err(|e| format!("wiping {}: listing {prefix}: {e}", self.url))?;
            for object in objects {
                store
                    .delete(&object.path)
                    .await
                    .map_err(|e| format!("wiping {}: deleting {}: {e}", self.url, object.path))?;
            }
        }
        for entry in LOCAL_ENTRIES {
            let path = self.local_dir.join(entry);
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("wiping {}: {e}", path.display())),
            }
        }
        Ok(())
    }

    /// Whether the database stays after the run (a folder the user named,
    /// or `--keep`).
    pub fn kept(&self) -> bool {
        self.keep
    }

    /// Removes the temporary folder unless it is kept.
    pub fn cleanup(&self) -> Result<(), Failure> {
        match &self.temp_root {
            Some(root) if !self.keep => std::fs::remove_dir_all(root)
                .map_err(|e| format!("removing {}: {e}", root.display())),
            _ => Ok(()),
        }
    }
}

fn embedded(path: &Path) -> Result<Options, Failure> {
    Options::embedded(path).map_err(|e| format!("--db {}: {e}", path.display()))
}

fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
    Ok(cwd.join(path))
}

fn nanos_now() -> u128 {
    firn_store::clock::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn locations() {
        let args = Args::parse_from(["firn-bench", "--db", "/data/bench"]);
        let t = Target::from_args(&args).unwrap();
        assert_eq!(t.url(), "file:///data/bench/objects");
        assert_eq!(t.local_dir(), Path::new("/data/bench/local"));
        assert!(t.kept());

        let args = Args::parse_from(["firn-bench", "--db", "memory://b"]);
        assert!(Target::from_args(&args).unwrap_err().contains("--local"));

        let args = Args::parse_from([
            "firn-bench",
            "--db",
            "memory://b",
            "--local",
            "/x/wal",
            "--memtable-size",
            "1MiB",
        ]);
        let t = Target::from_args(&args).unwrap();
        assert_eq!(t.options().memtable_size, 1 << 20);
        assert!(!t.options().flush_on_close);

        let args = Args::parse_from(["firn-bench"]);
        let t = Target::from_args(&args).unwrap();
        assert!(!t.kept());
        assert!(t.local_dir().to_string_lossy().contains("firn-bench-"));
    }

    #[tokio::test]
    async fn wipe_removes_the_database() {
        let root = std::env::temp_dir().join(format!("firn-bench-wipe-{}", nanos_now()));
        let args = Args::parse_from(["firn-bench", "--db", root.to_str().unwrap()]);
        let t = Target::from_args(&args).unwrap();
        let db = t.open().await.unwrap();
        db.put("k", "v").await.unwrap();
        db.flush().await.unwrap();
        db.close().await.unwrap();
        std::fs::write(root.join("notes.txt"), "mine").unwrap();
        t.wipe().await.unwrap();
        let db = t.open().await.unwrap();
        assert_eq!(db.get("k").await.unwrap(), None);
        db.close().await.unwrap();
        assert!(root.join("notes.txt").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
