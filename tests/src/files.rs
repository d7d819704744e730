//! Helpers on local files: flipping bytes, snapshots of folders.

use super::*;

/// XORs the byte at `offset` of the file at `path` with `mask` (non-zero).
pub fn flip_byte(path: &Path, offset: u64, mask: u8) {
    assert_ne!(mask, 0, "a zero mask changes nothing");
    let mut data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let i = usize::try_from(offset).expect("offset fits usize");
    assert!(
        i < data.len(),
        "offset {offset} is past the end of {} ({} bytes)",
        path.display(),
        data.len()
    );
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
                out.insert(
                    path.strip_prefix(dir).expect("under dir").join(""),
                    Vec::new(),
                );
                stack.push(path);
            } else {
                let data = std::fs::read(&path).unwrap_or_default();
                out.insert(
                    path.strip_prefix(dir).expect("under dir").to_path_buf(),
                    data,
                );
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
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(suffix))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}
