//! Crash-safe writes for `file://` stores.
//!
//! OpenDAL's fs service creates a conditional object by opening the final name with `O_EXCL`
//! and then writing into it, so a crash in between leaves a torn object under the final name,
//! which would block (and poison) that manifest version forever. Writes here never expose a
//! partial object:
//!
//! 1. write the bytes to a fresh temporary file `<root>/.tmp/<random>.tmp` and fsync it;
//! 2. `put_if_absent`: hard-link the temporary file to the final name — `link(2)` fails with
//!    `EEXIST` instead of replacing, so an existing object is never touched;
//!    `put`: rename it over the final name (atomic replace);
//! 3. remove the temporary file (after a link) and fsync the parent directory, so the new name
//!    is durable once the call returns.
//!
//! A crash at any point leaves either no object or the complete one under the final name, plus
//! at worst a stray file in `.tmp/`, which listings skip and [`open_root`] removes once stale.
//! All functions here do blocking I/O; callers run them on `spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The folder, directly under the store root, that holds temporary files. Object names may not
/// start with it.
pub(crate) const TMP_DIR: &str = ".tmp";

/// [`TMP_DIR`] as a name prefix.
pub(crate) const TMP_PREFIX: &str = ".tmp/";

/// Temporary files older than this are leftovers of a crash and removed by [`open_root`].
const STALE_TMP_AGE: Duration = Duration::from_secs(60 * 60);

/// Creates `root` and `root/.tmp` if needed, removes stale temporary files (best effort) and
/// returns the canonical root.
pub(crate) fn open_root(root: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(root)?;
    let root = root.canonicalize()?;
    let tmp = root.join(TMP_DIR);
    fs::create_dir_all(&tmp)?;
    remove_stale_temps(&tmp);
    Ok(root)
}

fn remove_stale_temps(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    let now = crate::clock::now();
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > STALE_TMP_AGE);
        if stale {
            // Best effort: another process may have removed it already.
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Conditional create of `root/rel`. Returns `true` if this call created it, `false` if an
/// object of that name already existed (it is left untouched).
pub(crate) fn put_if_absent(root: &Path, rel: &str, data: &[u8]) -> io::Result<bool> {
    let tmp = write_temp(root, data)?;
    let linked = link_into_place(root, rel, &tmp);
    // The temporary name is only a staging area; a leftover is harmless (never listed, removed
    // once stale), so failing to remove it must not turn a successful create into an error.
    let _ = fs::remove_file(&tmp);
    linked
}

/// Unconditional, atomic write of `root/rel` (replaces an existing object).
pub(crate) fn put(root: &Path, rel: &str, data: &[u8]) -> io::Result<()> {
    let tmp = write_temp(root, data)?;
    let result = (|| {
        let (parent, name) = ensure_parent(root, rel)?;
        fs::rename(&tmp, parent.join(name))?;
        sync_dir(&parent)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes `data` to a new temporary file and fsyncs it. Returns its path.
fn write_temp(root: &Path, data: &[u8]) -> io::Result<PathBuf> {
    let dir = root.join(TMP_DIR);
    fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{}.tmp", crate::clock::uuid().simple()));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        f.write_all(data)?;
        f.sync_all()
    })();
    match written {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = fs::remove_file(&path);
            Err(e)
        }
    }
}

fn link_into_place(root: &Path, rel: &str, tmp: &Path) -> io::Result<bool> {
    let (parent, name) = ensure_parent(root, rel)?;
    match fs::hard_link(tmp, parent.join(name)) {
        Ok(()) => {
            sync_dir(&parent)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Creates the folders leading to `root/rel` (fsyncing each folder that gains an entry) and
/// returns the parent folder and the final name.
fn ensure_parent<'a>(root: &Path, rel: &'a str) -> io::Result<(PathBuf, &'a str)> {
    let (dirs, name) = match rel.rsplit_once('/') {
        Some((dirs, name)) => (dirs, name),
        None => ("", rel),
    };
    let mut dir = root.to_path_buf();
    for segment in dirs.split('/').filter(|s| !s.is_empty()) {
        let next = dir.join(segment);
        match fs::create_dir(&next) {
            Ok(()) => sync_dir(&dir)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        dir = next;
    }
    Ok((dir, name))
}

/// Makes a folder's entries durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_never_replaces_and_cleans_up() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = open_root(&dir.path().join("bucket"))?;
        assert!(put_if_absent(&root, "a/b/c", b"first")?);
        assert!(!put_if_absent(&root, "a/b/c", b"second")?);
        assert_eq!(fs::read(root.join("a/b/c"))?, b"first");
        put(&root, "a/b/c", b"third")?;
        assert_eq!(fs::read(root.join("a/b/c"))?, b"third");
        assert_eq!(fs::read_dir(root.join(TMP_DIR))?.count(), 0);
        Ok(())
    }

    #[test]
    fn stale_temps_are_removed_on_open() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let root = open_root(dir.path())?;
        let old = root.join(TMP_DIR).join("old.tmp");
        let fresh = root.join(TMP_DIR).join("fresh.tmp");
        fs::write(&old, b"torn")?;
        fs::write(&fresh, b"in flight")?;
        let f = File::options().write(true).open(&old)?;
        f.set_modified(crate::clock::now() - 2 * STALE_TMP_AGE)?;
        drop(f);
        open_root(dir.path())?;
        assert!(!old.exists());
        assert!(fresh.exists());
        Ok(())
    }
}
