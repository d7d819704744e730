//! [`StoreOptions`]: how [`super::ObjectStore::from_url_with`] reaches an object store.

use std::fmt;
use std::time::Duration;

use crate::error::StoreError;

/// S3's smallest allowed multipart part (except the last one).
pub(crate) const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// S3's largest allowed multipart part.
const MAX_PART_SIZE: usize = 5 * 1024 * 1024 * 1024;

/// Settings for opening an object store. Every field has a sensible default
/// ([`StoreOptions::default`]); the `s3_*` fields matter only for `s3://` URLs, the
/// `azblob_*` fields only for `azblob://` URLs.
///
/// Unset S3 settings fall back to the usual AWS environment variables:
///
/// | setting | option | environment (first one set wins) | default |
/// |---|---|---|---|
/// | endpoint | `s3_endpoint` | `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL` | AWS: `https://s3.<region>.amazonaws.com` |
/// | region | `s3_region` | `AWS_REGION`, `AWS_DEFAULT_REGION` | `us-east-1` |
/// | access key | `s3_access_key_id` + `s3_secret_access_key` | `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` | none: an error, unless `s3_default_credential_chain` |
/// | session token | `s3_session_token` | `AWS_SESSION_TOKEN` (only with keys from the environment) | none |
///
/// With an endpoint (MinIO, a local server, another S3-compatible service) requests use
/// path-style addressing (`http://host:port/bucket/key`); without one (AWS) they use
/// virtual-hosted style (`https://bucket.s3.<region>.amazonaws.com/key`), unless the bucket
/// name contains a dot. `s3_virtual_host_style` overrides that choice.
///
/// Opening a store never makes a request and never reads `~/.aws` files or the EC2 instance
/// metadata service unless `s3_default_credential_chain` is set.
///
/// Azure Blob settings (`azblob://container/prefix`) come from a [connection string] — the
/// `azblob_connection_string` option, else `AZURE_STORAGE_CONNECTION_STRING` — and the
/// `azblob_*` options override its parts:
///
/// | setting | option | from the connection string | default |
/// |---|---|---|---|
/// | account | `azblob_account_name` | `AccountName` | from the endpoint (`https://ACCOUNT.blob.core.windows.net`, or Azurite's `http://host:port/ACCOUNT`) |
/// | endpoint | `azblob_endpoint` | `BlobEndpoint`, else `DefaultEndpointsProtocol` + `AccountName` + `EndpointSuffix` | `https://<account>.blob.core.windows.net` |
/// | shared key | `azblob_account_key` | `AccountKey` | none |
/// | SAS token | `azblob_sas_token` | `SharedAccessSignature` | none |
///
/// A shared key or SAS token given as an option replaces the connection string's credentials.
/// `UseDevelopmentStorage=true` means Azurite on its default port with its well-known
/// development account `devstoreaccount1`. Without a key or token opening fails with a clear
/// error, unless `azblob_default_credential_chain` is set.
///
/// [connection string]: https://learn.microsoft.com/azure/storage/common/storage-configure-connection-string
#[derive(Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The S3 endpoint URL, e.g. `http://127.0.0.1:9000` for a local MinIO. Must start with
    /// `http://` or `https://`.
    pub s3_endpoint: Option<String>,
    /// The S3 region (also used for request signing).
    pub s3_region: Option<String>,
    /// The access key id. Set together with `s3_secret_access_key`.
    pub s3_access_key_id: Option<String>,
    /// The secret access key. Never printed (`Debug` shows it redacted).
    pub s3_secret_access_key: Option<String>,
    /// A session token for temporary credentials (used with `s3_access_key_id`).
    pub s3_session_token: Option<String>,
    /// Force virtual-hosted-style (`true`) or path-style (`false`) addressing; `None` picks
    /// path style when an endpoint is given and virtual-hosted style for AWS.
    pub s3_virtual_host_style: Option<bool>,
    /// When no access key is given (neither here nor in the environment), use the AWS SDK's
    /// default credential chain: `~/.aws` config and credentials files, web identity, ECS
    /// and the EC2 instance metadata service. Off by default: those sources can be slow or
    /// hang outside AWS, and a missing key is reported as an error instead.
    pub s3_default_credential_chain: bool,
    /// An Azure Storage connection string (`AccountName=…;AccountKey=…;BlobEndpoint=…`); when
    /// unset, `AZURE_STORAGE_CONNECTION_STRING` is used. Never printed (`Debug` shows it
    /// redacted).
    pub azblob_connection_string: Option<String>,
    /// The Blob service endpoint URL, e.g. `https://myaccount.blob.core.windows.net` or
    /// Azurite's `http://127.0.0.1:10000/devstoreaccount1`. Must start with `http://` or
    /// `https://`.
    pub azblob_endpoint: Option<String>,
    /// The storage account name.
    pub azblob_account_name: Option<String>,
    /// The storage account's shared key (base64). Never printed (`Debug` shows it redacted).
    pub azblob_account_key: Option<String>,
    /// A shared access signature token (`sv=…&sig=…`). Never printed (`Debug` shows it
    /// redacted).
    pub azblob_sas_token: Option<String>,
    /// When no shared key or SAS token is given (neither here nor in the connection string),
    /// let OpenDAL find credentials itself (the `AZURE_*` variables of a client secret,
    /// workload identity or Azure CLI, and the instance metadata service). Off by default:
    /// those sources can be slow or hang outside Azure, and missing credentials are reported
    /// as an error instead.
    pub azblob_default_credential_chain: bool,
    /// Accept a store that ignores conditional creates (`If-None-Match: *`): the unfenced
    /// single-writer mode. [`super::ObjectStore::verify_conditional_writes`] then succeeds
    /// without checking. Only safe if no two writers ever open the same database at once:
    /// writer fencing and manifest publication rely on conditional creates.
    pub allow_unconditional_writes: bool,
    /// Deadline for one attempt of a small request (HEAD, DELETE).
    pub request_timeout: Duration,
    /// Deadline for one attempt of each step of a transfer (sending a PUT or a part, opening
    /// and reading a GET, one LIST page).
    pub io_timeout: Duration,
    /// How often a request that failed transiently (network error, timeout, HTTP 5xx, 429,
    /// throttling) is retried before the error is returned. 0 disables retries.
    pub max_retries: usize,
    /// The first retry delay; it doubles per retry up to `retry_max_delay`, plus random
    /// jitter of up to `retry_min_delay`.
    pub retry_min_delay: Duration,
    /// The longest delay between two retries.
    pub retry_max_delay: Duration,
    /// Objects larger than this are uploaded with a multipart upload. The default, 256 MiB, is
    /// above every chunk Firn writes with default options (memtables and compaction outputs of
    /// 64 MiB): S3 bills per request, a multipart upload costs parts + 2 requests where a single
    /// PUT (up to 5 GiB) costs one, and only very large objects gain from resumable parts.
    pub multipart_threshold: usize,
    /// The part size of multipart uploads (at least 5 MiB, S3's minimum).
    pub multipart_part_size: usize,
    /// How many parts of one upload are sent at once.
    pub multipart_concurrency: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_session_token: None,
            s3_virtual_host_style: None,
            s3_default_credential_chain: false,
            azblob_connection_string: None,
            azblob_endpoint: None,
            azblob_account_name: None,
            azblob_account_key: None,
            azblob_sas_token: None,
            azblob_default_credential_chain: false,
            allow_unconditional_writes: false,
            request_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(60),
            max_retries: 4,
            retry_min_delay: Duration::from_millis(200),
            retry_max_delay: Duration::from_secs(10),
            multipart_threshold: 256 * 1024 * 1024,
            multipart_part_size: 16 * 1024 * 1024,
            multipart_concurrency: 4,
        }
    }
}

impl fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("StoreOptions")
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_region", &self.s3_region)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field(
                "s3_secret_access_key",
                &redacted(&self.s3_secret_access_key),
            )
            .field("s3_session_token", &redacted(&self.s3_session_token))
            .field("s3_virtual_host_style", &self.s3_virtual_host_style)
            .field(
                "s3_default_credential_chain",
                &self.s3_default_credential_chain,
            )
            .field(
                "azblob_connection_string",
                &redacted(&self.azblob_connection_string),
            )
            .field("azblob_endpoint", &self.azblob_endpoint)
            .field("azblob_account_name", &self.azblob_account_name)
            .field("azblob_account_key", &redacted(&self.azblob_account_key))
            .field("azblob_sas_token", &redacted(&self.azblob_sas_token))
            .field(
                "azblob_default_credential_chain",
                &self.azblob_default_credential_chain,
            )
            .field(
                "allow_unconditional_writes",
                &self.allow_unconditional_writes,
            )
            .field("request_timeout", &self.request_timeout)
            .field("io_timeout", &self.io_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_min_delay", &self.retry_min_delay)
            .field("retry_max_delay", &self.retry_max_delay)
            .field("multipart_threshold", &self.multipart_threshold)
            .field("multipart_part_size", &self.multipart_part_size)
            .field("multipart_concurrency", &self.multipart_concurrency)
            .finish()
    }
}

impl StoreOptions {
    /// Checks the settings that do not depend on the store; `url` is for the error message.
    pub(crate) fn validate(&self, url: &str) -> Result<(), StoreError> {
        let bad = |reason: String| {
            Err(StoreError::InvalidConfig {
                url: url.to_string(),
                reason,
            })
        };
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.multipart_part_size) {
            return bad(format!(
                "multipart_part_size is {} bytes; S3 accepts parts of 5 MiB ({MIN_PART_SIZE} \
                 bytes) to 5 GiB",
                self.multipart_part_size
            ));
        }
        if self.multipart_concurrency == 0 {
            return bad("multipart_concurrency must be at least 1".to_string());
        }
        if self.request_timeout.is_zero() || self.io_timeout.is_zero() {
            return bad("request_timeout and io_timeout must be greater than zero".to_string());
        }
        if self.retry_min_delay > self.retry_max_delay {
            return bad(format!(
                "retry_min_delay ({:?}) is greater than retry_max_delay ({:?})",
                self.retry_min_delay, self.retry_max_delay
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let o = StoreOptions {
            s3_access_key_id: Some("AKIDEXAMPLE".into()),
            s3_secret_access_key: Some("wJalrXUtnFEMI".into()),
            s3_session_token: Some("FwoGZXIvYXdzE".into()),
            azblob_connection_string: Some("AccountName=acct;AccountKey=Q09OTlNUUktFWQ==".into()),
            azblob_account_name: Some("myaccount".into()),
            azblob_account_key: Some("QVpCTE9CS0VZ".into()),
            azblob_sas_token: Some("sv=2024&sig=SASSIGNATURE".into()),
            ..StoreOptions::default()
        };
        let shown = format!("{o:?}");
        assert!(shown.contains("myaccount"), "{shown}");
        for secret in ["Q09OTlNUUktFWQ", "QVpCTE9CS0VZ", "SASSIGNATURE", "acct"] {
            assert!(!shown.contains(secret), "{secret}: {shown}");
        }
        assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(!shown.contains("FwoGZXIvYXdzE"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn validation() {
        assert!(StoreOptions::default().validate("s3://b").is_ok());
        for o in [
            StoreOptions {
                multipart_part_size: 1024,
                ..StoreOptions::default()
            },
            StoreOptions {
                multipart_concurrency: 0,
                ..StoreOptions::default()
            },
            StoreOptions {
                io_timeout: Duration::ZERO,
                ..StoreOptions::default()
            },
            StoreOptions {
                retry_min_delay: Duration::from_secs(60),
                ..StoreOptions::default()
            },
        ] {
            match o.validate("s3://b") {
                Err(StoreError::InvalidConfig { url, .. }) => assert_eq!(url, "s3://b"),
                other => panic!("{o:?}: {other:?}"),
            }
        }
    }
}
