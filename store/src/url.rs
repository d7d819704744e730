//! Parsing of object-store URLs into the locations [`super::ObjectStore::from_url`] opens.

use std::path::PathBuf;

use crate::error::StoreError;

/// The URL forms this build accepts, for error messages.
pub(crate) const ACCEPTED_FORMS: &str =
    "accepted forms are file:///absolute/path (a local folder), \
     s3://bucket/prefix (S3, MinIO or another S3-compatible server), \
     azblob://container/prefix (Azure Blob Storage or Azurite) and memory://NAME (in-process)";

/// Where a store URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A local folder acting as the bucket (absolute path, taken literally).
    File(PathBuf),
    /// An in-process store; the empty name is a fresh store of its own.
    Memory(String),
    /// A bucket and the prefix (without leading or trailing `/`, possibly empty) under which
    /// the database's objects live.
    S3 {
        /// The bucket name.
        bucket: String,
        /// The root inside the bucket: `/`-separated segments, no empty, `.` or `..` ones.
        prefix: String,
    },
    /// An Azure Blob Storage container and the prefix (as for [`Location::S3`]) under which
    /// the database's objects live.
    Azblob {
        /// The container name.
        container: String,
        /// The root inside the container: `/`-separated segments, no empty, `.` or `..` ones.
        prefix: String,
    },
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
        "s3" => parse_s3(url, rest),
        "azblob" => parse_azblob(url, rest),
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

/// `s3://bucket/prefix`: the bucket is required, the prefix (the database's root inside the
/// bucket) is optional. Both are taken literally, without percent-decoding.
fn parse_s3(url: &str, rest: &str) -> Result<Location, StoreError> {
    const FORM: &str = "use s3://bucket/prefix, as in s3://my-bucket/databases/orders";
    if rest.contains(['?', '#']) {
        return Err(invalid(
            url,
            format!(
                "query strings and fragments are not accepted; endpoint, region and \
                 credentials come from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY or from the store options; {FORM}"
            ),
        ));
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(invalid(url, format!("missing bucket name; {FORM}")));
    }
    if bucket.contains(['@', ':']) {
        return Err(invalid(
            url,
            format!(
                "the bucket name {bucket:?} looks like a host, port or credentials; the URL \
                 names only the bucket: set the server with AWS_ENDPOINT_URL (or the store \
                 options) and credentials with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; {FORM}"
            ),
        ));
    }
    if !valid_bucket_name(bucket) {
        return Err(invalid(
            url,
            format!(
                "invalid bucket name {bucket:?}: bucket names are 3 to 63 characters of \
                 lowercase letters, digits, '.', '-' (and '_' on some servers), starting and \
                 ending with a letter or digit; {FORM}"
            ),
        ));
    }
    Ok(Location::S3 {
        bucket: bucket.to_string(),
        prefix: parse_prefix(url, prefix, FORM)?,
    })
}

/// `azblob://container/prefix`: the container is required, the prefix (the database's root
/// inside the container) is optional. Both are taken literally, without percent-decoding.
/// The storage account, its endpoint and credentials are not part of the URL: they come from
/// `AZURE_STORAGE_CONNECTION_STRING` or the store options.
fn parse_azblob(url: &str, rest: &str) -> Result<Location, StoreError> {
    const FORM: &str =
        "use azblob://container/prefix, as in azblob://my-container/databases/orders";
    if rest.contains(['?', '#']) {
        return Err(invalid(
            url,
            format!(
                "query strings and fragments are not accepted; the account, endpoint and \
                 credentials come from AZURE_STORAGE_CONNECTION_STRING or from the store \
                 options; {FORM}"
            ),
        ));
    }
    let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if container.is_empty() {
        return Err(invalid(url, format!("missing container name; {FORM}")));
    }
    if container.contains(['@', ':', '.']) {
        return Err(invalid(
            url,
            format!(
                "the container name {container:?} looks like a host, port, account or \
                 credentials; the URL names only the container: set the account, endpoint and \
                 key with AZURE_STORAGE_CONNECTION_STRING (or the store options); {FORM}"
            ),
        ));
    }
    if !valid_container_name(container) {
        return Err(invalid(
            url,
            format!(
                "invalid container name {container:?}: container names are 3 to 63 \
                 characters of lowercase letters, digits and '-', starting and ending with a \
                 letter or digit, without two '-' in a row; {FORM}"
            ),
        ));
    }
    Ok(Location::Azblob {
        container: container.to_string(),
        prefix: parse_prefix(url, prefix, FORM)?,
    })
}

/// The prefix part of `s3://` and `azblob://` URLs, checked: one trailing `/` is allowed
/// (`s3://bucket/db/` is `s3://bucket/db`); empty, `.` and `..` segments and whitespace are not.
fn parse_prefix(url: &str, prefix: &str, form: &str) -> Result<String, StoreError> {
    let prefix = if prefix.starts_with('/') {
        prefix
    } else {
        prefix.strip_suffix('/').unwrap_or(prefix)
    };
    if !prefix.is_empty()
        && (prefix.chars().any(char::is_whitespace)
            || prefix
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".."))
    {
        return Err(invalid(
            url,
            format!(
                "invalid prefix {prefix:?}: it must not contain empty ('//'), '.' or '..' \
                 segments or whitespace; {form}"
            ),
        ));
    }
    Ok(prefix.to_string())
}

/// Azure's container naming rules: 3 to 63 characters of lowercase letters, digits and `-`,
/// starting and ending with a letter or digit, no `--`.
fn valid_container_name(c: &str) -> bool {
    let edge_ok =
        |ch: Option<char>| ch.is_some_and(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit());
    (3..=63).contains(&c.len())
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        && edge_ok(c.chars().next())
        && edge_ok(c.chars().last())
        && !c.contains("--")
}

/// S3 bucket naming rules (lowercase, 3 to 63 characters), relaxed to also accept `_` and
/// uppercase letters, which older buckets and some S3-compatible servers allow.
fn valid_bucket_name(b: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && edge_ok(b.chars().next())
        && edge_ok(b.chars().last())
        && !b.contains("..")
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
        for (url, bucket, prefix) in [
            ("s3://bucket", "bucket", ""),
            ("s3://bucket/", "bucket", ""),
            ("S3://my-bucket.v2/db", "my-bucket.v2", "db"),
            ("s3://firn-test/test-1234/", "firn-test", "test-1234"),
            ("s3://b_c/a/b/c", "b_c", "a/b/c"),
            ("s3://abc/%20x/y.z", "abc", "%20x/y.z"),
        ] {
            assert_eq!(
                parse(url).ok(),
                Some(Location::S3 {
                    bucket: bucket.into(),
                    prefix: prefix.into()
                }),
                "{url}"
            );
        }
        for (url, container, prefix) in [
            ("azblob://firn-test", "firn-test", ""),
            ("azblob://abc/", "abc", ""),
            ("AZBLOB://c0ntainer-1/db", "c0ntainer-1", "db"),
            (
                "azblob://firn-test/firn-tests/x-1/",
                "firn-test",
                "firn-tests/x-1",
            ),
            (
                "azblob://a23456789012345678901234567890123456789012345678901234567890123/p",
                "a23456789012345678901234567890123456789012345678901234567890123",
                "p",
            ),
        ] {
            assert_eq!(
                parse(url).ok(),
                Some(Location::Azblob {
                    container: container.into(),
                    prefix: prefix.into()
                }),
                "{url}"
            );
        }
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
            ("s3://", "missing bucket"),
            ("s3:///x", "missing bucket"),
            ("s3:///", "missing bucket"),
            ("S3://", "missing bucket"),
            ("s3://ab", "invalid bucket name \"ab\""),
            ("s3://-bucket/x", "invalid bucket name"),
            ("s3://bucket-/x", "invalid bucket name"),
            ("s3://my bucket/x", "invalid bucket name"),
            ("s3://a..b/x", "invalid bucket name"),
            ("s3://localhost:9000/bucket", "AWS_ENDPOINT_URL"),
            ("s3://key:secret@bucket/x", "looks like a host"),
            ("s3://bucket/a//b", "invalid prefix"),
            ("s3://bucket/a/../b", "invalid prefix"),
            ("s3://bucket/./b", "invalid prefix"),
            ("s3://bucket//", "invalid prefix"),
            ("s3://bucket/a b", "invalid prefix"),
            ("s3://bucket/x?region=eu-west-1", "query strings"),
            ("s3://bucket#frag", "query strings"),
            ("azblob://", "missing container"),
            ("azblob:///db", "missing container"),
            ("azblob://ab/db", "invalid container name \"ab\""),
            ("azblob://My-Container/db", "invalid container name"),
            ("azblob://my_container/db", "invalid container name"),
            ("azblob://-abc/db", "invalid container name"),
            ("azblob://abc-/db", "invalid container name"),
            ("azblob://a--b/db", "invalid container name"),
            (
                "azblob://a234567890123456789012345678901234567890123456789012345678901234",
                "invalid container name",
            ),
            (
                "azblob://account.blob.core.windows.net/c",
                "looks like a host",
            ),
            (
                "azblob://127.0.0.1:10000/devstoreaccount1/c",
                "AZURE_STORAGE_CONNECTION_STRING",
            ),
            ("azblob://key@container/db", "looks like a host"),
            ("azblob://container/a//b", "invalid prefix"),
            ("azblob://container/../b", "invalid prefix"),
            ("azblob://container/db?sv=2024", "query strings"),
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
