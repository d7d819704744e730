//! Parsing of object-store URLs into the locations [`super::ObjectStore::from_url`] opens.

use std::path::PathBuf;

use crate::error::StoreError;

/// The URL forms this build accepts, for error messages.
pub(crate) const ACCEPTED_FORMS: &str =
    "accepted forms are file:///absolute/path (a local folder), \
     s3://bucket/prefix (S3, MinIO or another S3-compatible server) and memory://NAME (in-process)";

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
    // One trailing '/' is allowed ("s3://bucket/db/" is "s3://bucket/db").
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
                 segments or whitespace; {FORM}"
            ),
        ));
    }
    Ok(Location::S3 {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
    })
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
