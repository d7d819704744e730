//! Parsing of object-store URLs into the locations [`super::ObjectStore::from_url`] opens.

use std::path::PathBuf;

use crate::error::StoreError;

/// The URL forms this build accepts, for error messages.
pub(crate) const ACCEPTED_FORMS: &str =
    "accepted forms are file:///absolute/path (a local folder) and memory://NAME (in-process)";

/// Where a store URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A local folder acting as the bucket (absolute path, taken literally).
    File(PathBuf),
    /// An in-process store; the empty name is a fresh store of its own.
    Memory(String),
}

fn invalid(url: &str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidUrl {
        url: url.to_string(),
        reason: reason.into(),
    }
}

/// Parses `url`. One match arm per scheme; an unknown scheme names the accepted forms.
pub(crate) fn parse(url: &str) -> Result<Location, StoreError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid(
            url,
            format!("missing scheme (no \"://\"); {ACCEPTED_FORMS}"),
        ));
    };
    if url.chars().any(char::is_control) {
        return Err(invalid(url, "control characters are not allowed"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "file" => parse_file(url, rest),
        "memory" => parse_memory(url, rest),
        "" => Err(invalid(url, format!("empty scheme; {ACCEPTED_FORMS}"))),
        other => Err(invalid(
            url,
            format!("unsupported scheme \"{other}\"; {ACCEPTED_FORMS}"),
        )),
    }
}

fn parse_file(url: &str, rest: &str) -> Result<Location, StoreError> {
    // "file:///abs" leaves "/abs"; "file://localhost/abs" names the local host explicitly.
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if path.is_empty() {
        return Err(invalid(
            url,
            "missing path: use file:///absolute/path (three slashes)",
        ));
    }
    if !path.starts_with('/') {
        return Err(invalid(
            url,
            "file URLs need an absolute path, as in file:///absolute/path (three slashes); \
             file://NAME/... would name a host and relative paths are not accepted",
        ));
    }
    Ok(Location::File(PathBuf::from(path)))
}

fn parse_memory(url: &str, rest: &str) -> Result<Location, StoreError> {
    let name = rest.strip_suffix('/').unwrap_or(rest);
    if name.contains('/') || name.chars().any(char::is_whitespace) {
        return Err(invalid(
            url,
            "a memory store is named by one word without '/' or spaces, as in memory://NAME",
        ));
    }
    Ok(Location::Memory(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        assert_eq!(
            parse("file:///tmp/db").ok(),
            Some(Location::File(PathBuf::from("/tmp/db")))
        );
        assert_eq!(
            parse("FILE://localhost/tmp/db").ok(),
            Some(Location::File(PathBuf::from("/tmp/db")))
        );
        assert_eq!(
            parse("memory://t1").ok(),
            Some(Location::Memory("t1".into()))
        );
        assert_eq!(
            parse("memory://").ok(),
            Some(Location::Memory(String::new()))
        );
    }

    #[test]
    fn rejected_with_reasons() {
        for (url, needle) in [
            ("ftp://x", "unsupported scheme \"ftp\""),
            ("file://relative", "absolute path"),
            ("file://", "missing path"),
            ("nonsense", "missing scheme"),
            ("://x", "empty scheme"),
            ("memory://a/b", "memory://NAME"),
        ] {
            match parse(url) {
                Err(StoreError::InvalidUrl { url: u, reason }) => {
                    assert_eq!(u, url);
                    assert!(reason.contains(needle), "{url}: {reason}");
                }
                other => panic!("{url}: expected InvalidUrl, got {other:?}"),
            }
        }
    }
}
