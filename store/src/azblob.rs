//! `azblob://container/prefix` stores: resolving the account, endpoint and credentials from
//! [`StoreOptions`] and an Azure Storage connection string (the option, else
//! `AZURE_STORAGE_CONNECTION_STRING`), building the OpenDAL operator with the same retry,
//! timeout and request-counting layers as `s3://`, and turning access failures into clear
//! errors.
//!
//! Nothing here makes a network request: the first request is the caller's (usually
//! [`super::ObjectStore::check_access`]). No message ever contains an account key, a SAS token
//! or a connection string.

use std::sync::Arc;

use opendal::{ErrorKind, Operator};

use crate::counts::Counters;
use crate::error::StoreError;
use crate::options::StoreOptions;
use crate::s3::{check_endpoint, endpoint_host};
use crate::wire::with_remote_layers;

/// The variable holding the connection string when [`StoreOptions::azblob_connection_string`]
/// is unset.
pub(crate) const CONNECTION_STRING_VAR: &str = "AZURE_STORAGE_CONNECTION_STRING";

/// Azurite's well-known development account (public, documented by Microsoft).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// Where the credentials for requests come from.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// The storage account's shared key (requests are signed with it).
    SharedKey {
        key: String,
        /// Where the key came from, for messages.
        source: &'static str,
    },
    /// A shared access signature appended to every request.
    Sas {
        token: String,
        /// Where the token came from, for messages.
        source: &'static str,
    },
    /// OpenDAL's default chain (client secret, workload identity, Azure CLI, IMDS).
    DefaultChain,
}

/// A fully resolved `azblob://` location: everything needed to build the operator and to
/// explain failures.
#[derive(Clone)]
pub(crate) struct AzblobTarget {
    pub(crate) container: String,
    /// The root inside the container, without leading or trailing `/` (may be empty).
    pub(crate) prefix: String,
    /// The storage account (for shared-key signing and messages).
    pub(crate) account: Option<String>,
    /// The Blob service endpoint URL, without a trailing `/`.
    pub(crate) endpoint: String,
    /// Where the endpoint came from, for messages.
    pub(crate) endpoint_source: String,
    pub(crate) credentials: Credentials,
}

/// The parts of a connection string that matter for the Blob service.
#[derive(Debug, Default, PartialEq, Eq)]
struct ConnectionString {
    account_name: Option<String>,
    account_key: Option<String>,
    sas_token: Option<String>,
    /// `BlobEndpoint`, or Azurite's default for `UseDevelopmentStorage=true`.
    blob_endpoint: Option<String>,
    /// `DefaultEndpointsProtocol`.
    protocol: Option<String>,
    /// `EndpointSuffix`.
    suffix: Option<String>,
}

/// Parses `Key=Value;Key=Value` (keys case-insensitive, values taken literally up to the next
/// `;`). Errors never quote the string: it holds secrets.
fn parse_connection_string(s: &str) -> Result<ConnectionString, String> {
    let mut out = ConnectionString::default();
    let mut development = false;
    for (i, part) in s.split(';').enumerate() {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!(
                "part {} has no '=' (expected Key=Value pairs separated by ';', such as \
                 AccountName=...;AccountKey=...;BlobEndpoint=...)",
                i + 1
            ));
        };
        let (key, value) = (key.trim(), value.trim().to_string());
        let slot = match key.to_ascii_lowercase().as_str() {
            "accountname" => &mut out.account_name,
            "accountkey" => &mut out.account_key,
            "sharedaccesssignature" => &mut out.sas_token,
            "blobendpoint" => &mut out.blob_endpoint,
            "defaultendpointsprotocol" => &mut out.protocol,
            "endpointsuffix" => &mut out.suffix,
            "usedevelopmentstorage" => {
                development = value.eq_ignore_ascii_case("true");
                continue;
            }
            // QueueEndpoint, TableEndpoint, FileEndpoint, DevelopmentStorageProxyUri, ...:
            // other services' settings.
            _ => continue,
        };
        if value.is_empty() {
            return Err(format!("{key} is empty"));
        }
        *slot = Some(value);
    }
    if let Some(p) = &out.protocol {
        if !matches!(p.as_str(), "http" | "https") {
            return Err(format!(
                "DefaultEndpointsProtocol is {p:?}; it must be http or https"
            ));
        }
    }
    if development {
        // Azurite's documented shorthand; explicit parts still win.
        out.account_name.get_or_insert_with(|| DEV_ACCOUNT.into());
        if out.sas_token.is_none() {
            out.account_key.get_or_insert_with(|| DEV_KEY.into());
        }
        out.blob_endpoint.get_or_insert_with(|| DEV_ENDPOINT.into());
    }
    Ok(out)
}

/// Storage account names are 3 to 24 lowercase letters and digits.
fn valid_account_name(a: &str) -> bool {
    (3..=24).contains(&a.len())
        && a.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Whether `k` looks like standard base64 (an account key), without decoding it.
fn looks_like_base64(k: &str) -> bool {
    let body = k.trim_end_matches('=');
    !k.is_empty()
        && k.len().is_multiple_of(4)
        && k.len() - body.len() <= 2
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
}

/// The account an endpoint names: `https://ACCOUNT.blob.core.windows.net` (any
/// `ACCOUNT.blob.…` host), or the first path segment of an Azurite-style
/// `http://host:port/ACCOUNT`.
fn account_from_endpoint(endpoint: &str) -> Option<String> {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.split(':').next().unwrap_or("");
    if let Some((account, service)) = host.split_once('.') {
        if service.starts_with("blob.") && valid_account_name(account) {
            return Some(account.to_string());
        }
    }
    path.split('/')
        .next()
        .filter(|a| valid_account_name(a))
        .map(str::to_string)
}

/// Resolves the settings of `azblob://container/prefix` from `opts`, then the connection
/// string (the option, else `env`'s `AZURE_STORAGE_CONNECTION_STRING`; `env` returns
/// non-empty values of environment variables), then defaults.
pub(crate) fn resolve(
    url: &str,
    container: &str,
    prefix: &str,
    opts: &StoreOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AzblobTarget, StoreError> {
    let bad = |reason: String| StoreError::InvalidConfig {
        url: url.to_string(),
        reason,
    };
    let given = |v: &Option<String>| v.as_ref().filter(|s| !s.trim().is_empty()).cloned();

    let (conn, conn_source) = match given(&opts.azblob_connection_string) {
        Some(s) => (Some(s), "StoreOptions::azblob_connection_string"),
        None => (env(CONNECTION_STRING_VAR), CONNECTION_STRING_VAR),
    };
    let conn = match conn {
        Some(s) => parse_connection_string(&s).map_err(|why| {
            bad(format!(
                "invalid connection string (from {conn_source}): {why}"
            ))
        })?,
        None => ConnectionString::default(),
    };

    // The endpoint: an explicit one, else the default for the account.
    let explicit_endpoint = match given(&opts.azblob_endpoint) {
        Some(e) => Some((e, "StoreOptions::azblob_endpoint".to_string())),
        None => conn
            .blob_endpoint
            .clone()
            .map(|e| (e, format!("BlobEndpoint of {conn_source}"))),
    };
    let explicit_endpoint = match explicit_endpoint {
        Some((e, source)) => Some((
            check_endpoint(&e).map_err(|why| {
                bad(format!(
                    "invalid Azure Blob endpoint {e:?} (from {source}): {why}; use a URL such \
                     as https://myaccount.blob.core.windows.net or Azurite's \
                     http://127.0.0.1:10000/devstoreaccount1"
                ))
            })?,
            source,
        )),
        None => None,
    };

    let account = given(&opts.azblob_account_name)
        .map(|a| (a, "StoreOptions::azblob_account_name".to_string()))
        .or_else(|| {
            conn.account_name
                .clone()
                .map(|a| (a, format!("AccountName of {conn_source}")))
        })
        .or_else(|| {
            explicit_endpoint.as_ref().and_then(|(e, source)| {
                account_from_endpoint(e).map(|a| (a, format!("the endpoint (from {source})")))
            })
        });
    if let Some((a, source)) = &account {
        if !valid_account_name(a) {
            return Err(bad(format!(
                "invalid storage account name {a:?} (from {source}): account names are 3 to 24 \
                 lowercase letters and digits"
            )));
        }
    }
    let account = account.map(|(a, _)| a);

    let (endpoint, endpoint_source) = match (explicit_endpoint, &account) {
        (Some(e), _) => e,
        (None, Some(a)) => {
            let protocol = conn.protocol.as_deref().unwrap_or("https");
            let suffix = conn.suffix.as_deref().unwrap_or("core.windows.net");
            (
                format!("{protocol}://{a}.blob.{suffix}"),
                "the Azure default for the account".to_string(),
            )
        }
        (None, None) => {
            return Err(bad(format!(
                "no Azure storage account or endpoint: set {CONNECTION_STRING_VAR} (for Azure: \
                 DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...; for Azurite \
                 its development connection string, or UseDevelopmentStorage=true), or \
                 StoreOptions::azblob_connection_string, or StoreOptions::azblob_account_name \
                 and azblob_account_key"
            )))
        }
    };

    let credentials = resolve_credentials(opts, &conn, conn_source).map_err(bad)?;
    if let Credentials::SharedKey { source, .. } = &credentials {
        if account.is_none() {
            return Err(bad(format!(
                "the account key (from {source}) needs the storage account's name: set \
                 AccountName in the connection string or StoreOptions::azblob_account_name"
            )));
        }
    }
    Ok(AzblobTarget {
        container: container.to_string(),
        prefix: prefix.to_string(),
        account,
        endpoint,
        endpoint_source,
        credentials,
    })
}

fn resolve_credentials(
    opts: &StoreOptions,
    conn: &ConnectionString,
    conn_source: &'static str,
) -> Result<Credentials, String> {
    let given = |v: &Option<String>| v.as_ref().filter(|s| !s.trim().is_empty()).cloned();
    let credentials = match (
        given(&opts.azblob_account_key),
        given(&opts.azblob_sas_token),
    ) {
        (Some(_), Some(_)) => {
            return Err(
                "StoreOptions::azblob_account_key and azblob_sas_token are both set; \
                        set one of them"
                    .to_string(),
            )
        }
        (Some(key), None) => Credentials::SharedKey {
            key,
            source: "StoreOptions::azblob_account_key",
        },
        (None, Some(token)) => Credentials::Sas {
            token,
            source: "StoreOptions::azblob_sas_token",
        },
        // A connection string with both: the shared key (full access) wins.
        (None, None) => match (&conn.account_key, &conn.sas_token) {
            (Some(key), _) => Credentials::SharedKey {
                key: key.clone(),
                source: conn_source,
            },
            (None, Some(token)) => Credentials::Sas {
                token: token.clone(),
                source: conn_source,
            },
            (None, None) if opts.azblob_default_credential_chain => Credentials::DefaultChain,
            (None, None) => {
                return Err(format!(
                    "no Azure credentials: set AccountKey (or SharedAccessSignature) in \
                     {CONNECTION_STRING_VAR} or StoreOptions::azblob_connection_string, or \
                     StoreOptions::azblob_account_key or azblob_sas_token, or enable \
                     StoreOptions::azblob_default_credential_chain to use Azure AD credentials"
                ))
            }
        },
    };
    match &credentials {
        Credentials::SharedKey { key, source } if !looks_like_base64(key) => Err(format!(
            "the account key (from {source}) is not valid base64; copy it again from the \
             storage account's access keys"
        )),
        Credentials::Sas { token, source }
            if token.trim_start_matches('?').is_empty()
                || token.chars().any(|c| c.is_whitespace() || c == '#') =>
        {
            Err(format!(
                "the SAS token (from {source}) is malformed: it is the query string of a SAS \
                 URL, such as sv=...&sp=...&sig=..."
            ))
        }
        _ => Ok(credentials),
    }
}

impl AzblobTarget {
    /// "container "c" (prefix "p") of account "a" at endpoint http://… (from …)", for
    /// messages.
    pub(crate) fn describe(&self) -> String {
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!(", prefix {:?}", self.prefix)
        };
        let account = match &self.account {
            Some(a) => format!(" of account {a:?}"),
            None => String::new(),
        };
        format!(
            "container {:?}{prefix}{account} at endpoint {} (from {})",
            self.container, self.endpoint, self.endpoint_source
        )
    }

    fn credentials_hint(&self) -> String {
        match &self.credentials {
            Credentials::SharedKey { source, .. } => format!(
                "the account key (from {source}) belongs to the account and is current \
                 (keys can be rotated)"
            ),
            Credentials::Sas { source, .. } => format!(
                "the SAS token (from {source}) has not expired and grants read, add, create, \
                 write, delete and list on the container"
            ),
            Credentials::DefaultChain => "the Azure AD credentials found by OpenDAL's default \
                                          chain have a Storage Blob Data Contributor role on \
                                          the container"
                .to_string(),
        }
    }

    /// Builds the operator: the Azure Blob service, then timeouts per attempt, then retries,
    /// then the request counter on the HTTP transport (as for `s3://`).
    pub(crate) fn operator(
        &self,
        url: &str,
        opts: &StoreOptions,
        counters: Arc<Counters>,
    ) -> Result<Operator, StoreError> {
        opendal::install_default();
        let root = if self.prefix.is_empty() {
            "/".to_string()
        } else {
            format!("/{}/", self.prefix)
        };
        let mut builder = opendal::services::Azblob::default()
            .container(&self.container)
            .root(&root)
            .endpoint(&self.endpoint);
        if let Some(account) = &self.account {
            builder = builder.account_name(account);
        }
        match &self.credentials {
            Credentials::SharedKey { key, .. } => builder = builder.account_key(key),
            Credentials::Sas { token, .. } => {
                builder = builder.sas_token(token.trim_start_matches('?'))
            }
            Credentials::DefaultChain => {}
        }
        let op = Operator::new(builder).map_err(|e| StoreError::InvalidConfig {
            url: url.to_string(),
            reason: format!(
                "cannot set up the Azure Blob client for {}: {e}",
                self.describe()
            ),
        })?;
        Ok(with_remote_layers(
            op,
            opts,
            counters,
            endpoint_host(&self.endpoint),
        ))
    }

    /// Turns the failure of [`super::ObjectStore::check_access`]'s request into one clear
    /// error naming the container, the endpoint and what to check.
    pub(crate) fn access_error(&self, url: &str, e: opendal::Error) -> StoreError {
        let at = self.describe();
        let detail = match e.kind() {
            ErrorKind::ConfigInvalid | ErrorKind::NotFound => format!(
                "the container does not exist: {at}. Create it (e.g. `az storage container \
                 create --name {c}`) or fix the container name in the URL; if it exists \
                 elsewhere, check the account and endpoint in {CONNECTION_STRING_VAR}",
                c = self.container
            ),
            ErrorKind::PermissionDenied => format!(
                "access denied to {at}. Check that {}",
                self.credentials_hint()
            ),
            _ => format!(
                "the request to {at} failed. Check that the service (or Azurite) is running \
                 and reachable, the endpoint is right, and {}",
                self.credentials_hint()
            ),
        };
        StoreError::Access {
            url: url.to_string(),
            detail: format!("{detail}. Details: {e}"),
            source: Box::new(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const AZURITE: &str = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
        AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;\
        BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;";

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).filter(|v| !v.is_empty()).cloned()
    }

    fn resolve_with(
        opts: &StoreOptions,
        vars: &[(&str, &str)],
    ) -> Result<AzblobTarget, StoreError> {
        resolve("azblob://c/db", "ccc", "db", opts, &env_of(vars))
    }

    #[test]
    fn azurite_connection_string_from_the_environment() -> Result<(), StoreError> {
        let t = resolve_with(
            &StoreOptions::default(),
            &[(CONNECTION_STRING_VAR, AZURITE)],
        )?;
        assert_eq!(t.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(endpoint_host(&t.endpoint), "127.0.0.1");
        assert_eq!(t.account.as_deref(), Some("devstoreaccount1"));
        assert!(matches!(
            t.credentials,
            Credentials::SharedKey { ref key, source: CONNECTION_STRING_VAR } if key == DEV_KEY
        ));
        let shown = t.describe();
        assert!(
            shown.contains("BlobEndpoint of AZURE_STORAGE_CONNECTION_STRING"),
            "{shown}"
        );
        assert!(!shown.contains("Eby8"), "{shown}");

        // The shorthand means the same.
        let t = resolve_with(
            &StoreOptions::default(),
            &[(CONNECTION_STRING_VAR, "UseDevelopmentStorage=true")],
        )?;
        assert_eq!(t.endpoint, DEV_ENDPOINT);
        assert_eq!(t.account.as_deref(), Some(DEV_ACCOUNT));
        Ok(())
    }

    #[test]
    fn azure_defaults_and_options_win() -> Result<(), StoreError> {
        let conn = "DefaultEndpointsProtocol=https;AccountName=prodacct;AccountKey=a2V5;\
                    EndpointSuffix=core.chinacloudapi.cn";
        let t = resolve_with(&StoreOptions::default(), &[(CONNECTION_STRING_VAR, conn)])?;
        assert_eq!(t.endpoint, "https://prodacct.blob.core.chinacloudapi.cn");
        assert_eq!(t.endpoint_source, "the Azure default for the account");

        // Options only, no connection string: the account's default endpoint.
        let opts = StoreOptions {
            azblob_account_name: Some("optacct".into()),
            azblob_account_key: Some("b3B0a2V5".into()),
            ..StoreOptions::default()
        };
        let t = resolve_with(&opts, &[])?;
        assert_eq!(t.endpoint, "https://optacct.blob.core.windows.net");
        assert!(matches!(
            t.credentials,
            Credentials::SharedKey {
                source: "StoreOptions::azblob_account_key",
                ..
            }
        ));

        // The option's connection string beats the environment's; an option's SAS token
        // replaces the connection string's key; the account comes from the endpoint.
        let opts = StoreOptions {
            azblob_connection_string: Some(
                "BlobEndpoint=https://other.blob.core.windows.net/;AccountKey=a2V5".into(),
            ),
            azblob_sas_token: Some("?sv=2024-01-01&sp=racwdl&sig=abc%3D".into()),
            ..StoreOptions::default()
        };
        let t = resolve_with(&opts, &[(CONNECTION_STRING_VAR, AZURITE)])?;
        assert_eq!(t.endpoint, "https://other.blob.core.windows.net");
        assert_eq!(t.account.as_deref(), Some("other"));
        assert!(matches!(t.credentials, Credentials::Sas { .. }));

        // An explicit endpoint option wins over the connection string's.
        let opts = StoreOptions {
            azblob_endpoint: Some("http://[::1]:10000/devstoreaccount1/".into()),
            ..StoreOptions::default()
        };
        let t = resolve_with(&opts, &[(CONNECTION_STRING_VAR, AZURITE)])?;
        assert_eq!(t.endpoint, "http://[::1]:10000/devstoreaccount1");
        assert_eq!(endpoint_host(&t.endpoint), "::1");

        let chain = StoreOptions {
            azblob_account_name: Some("acct".into()),
            azblob_default_credential_chain: true,
            ..StoreOptions::default()
        };
        assert!(matches!(
            resolve_with(&chain, &[]).map(|t| t.credentials),
            Ok(Credentials::DefaultChain)
        ));
        Ok(())
    }

    #[test]
    fn bad_settings_are_clear_errors_without_secrets() {
        type Case = (
            StoreOptions,
            Vec<(&'static str, &'static str)>,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (StoreOptions::default(), vec![], "no Azure storage account"),
            (
                StoreOptions::default(),
                vec![(CONNECTION_STRING_VAR, "AccountName=acct")],
                "no Azure credentials",
            ),
            (
                StoreOptions::default(),
                vec![(CONNECTION_STRING_VAR, "AccountName=acct;SECRETJUNK")],
                "part 2 has no '='",
            ),
            (
                StoreOptions::default(),
                vec![(CONNECTION_STRING_VAR, "AccountName=acct;AccountKey=")],
                "AccountKey is empty",
            ),
            (
                StoreOptions::default(),
                vec![(
                    CONNECTION_STRING_VAR,
                    "DefaultEndpointsProtocol=ftp;AccountName=acct;AccountKey=a2V5",
                )],
                "must be http or https",
            ),
            (
                StoreOptions::default(),
                vec![(
                    CONNECTION_STRING_VAR,
                    "AccountName=acct;AccountKey=SECRET!JUNK",
                )],
                "not valid base64",
            ),
            (
                StoreOptions::default(),
                vec![(
                    CONNECTION_STRING_VAR,
                    "AccountName=Bad_Acct;AccountKey=a2V5",
                )],
                "invalid storage account name",
            ),
            (
                StoreOptions::default(),
                vec![(
                    CONNECTION_STRING_VAR,
                    "BlobEndpoint=127.0.0.1:10000;AccountName=acct;AccountKey=a2V5",
                )],
                "must start with http:// or https://",
            ),
            (
                StoreOptions {
                    azblob_endpoint: Some("http://127.0.0.1:10000".into()),
                    azblob_account_key: Some("a2V5".into()),
                    ..StoreOptions::default()
                },
                vec![],
                "needs the storage account's name",
            ),
            (
                StoreOptions {
                    azblob_account_name: Some("acct".into()),
                    azblob_account_key: Some("a2V5".into()),
                    azblob_sas_token: Some("sv=1&sig=SECRETJUNK".into()),
                    ..StoreOptions::default()
                },
                vec![],
                "set one of them",
            ),
            (
                StoreOptions {
                    azblob_account_name: Some("acct".into()),
                    azblob_sas_token: Some("sv=1 sig=SECRETJUNK".into()),
                    ..StoreOptions::default()
                },
                vec![],
                "SAS token (from StoreOptions::azblob_sas_token) is malformed",
            ),
        ];
        for (opts, vars, needle) in cases {
            match resolve_with(&opts, &vars) {
                Err(StoreError::InvalidConfig { url, reason }) => {
                    assert_eq!(url, "azblob://c/db");
                    assert!(reason.contains(needle), "{needle}: {reason}");
                    assert!(!reason.contains("SECRET"), "{needle}: {reason}");
                }
                Err(other) => panic!("{needle}: unexpected error {other}"),
                Ok(_) => panic!("{needle}: accepted"),
            }
        }
    }

    #[test]
    fn accounts_from_endpoints() {
        for (endpoint, account) in [
            ("https://acct1.blob.core.windows.net", Some("acct1")),
            (
                "http://127.0.0.1:10000/devstoreaccount1",
                Some("devstoreaccount1"),
            ),
            (
                "http://localhost:10000/devstoreaccount1/x",
                Some("devstoreaccount1"),
            ),
            ("https://example.com", None),
            ("https://acct.dfs.core.windows.net", None),
        ] {
            assert_eq!(
                account_from_endpoint(endpoint).as_deref(),
                account,
                "{endpoint}"
            );
        }
        assert!(looks_like_base64(DEV_KEY));
        assert!(!looks_like_base64("abc"));
        assert!(!looks_like_base64("ab=c"));
    }
}
