//! `s3://bucket/prefix` stores: resolving endpoint, region and credentials from
//! [`StoreOptions`] and the AWS environment, building the OpenDAL operator with its retry,
//! timeout and request-counting layers, and turning access failures into clear errors.
//!
//! Nothing here makes a network request: the first request is the caller's (usually
//! [`super::ObjectStore::check_access`]).

use std::sync::Arc;

use opendal::{ErrorKind, Operator};

use crate::counts::Counters;
use crate::error::StoreError;
use crate::options::StoreOptions;
use crate::wire::with_remote_layers;

/// The region used when neither the options nor the environment name one.
const DEFAULT_REGION: &str = "us-east-1";

/// Where the credentials for requests come from.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// A fixed access key (and maybe a session token).
    Static {
        key_id: String,
        secret: String,
        token: Option<String>,
        /// `"StoreOptions"` or `"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"`, for messages.
        source: &'static str,
    },
    /// The AWS SDK's default chain (profile files, web identity, ECS, instance metadata).
    DefaultChain,
}

/// A fully resolved `s3://` location: everything needed to build the operator and to explain
/// failures.
#[derive(Clone)]
pub(crate) struct S3Target {
    pub(crate) bucket: String,
    /// The root inside the bucket, without leading or trailing `/` (may be empty).
    pub(crate) prefix: String,
    /// The endpoint URL, without a trailing `/`.
    pub(crate) endpoint: String,
    /// Where the endpoint came from, for messages.
    pub(crate) endpoint_source: &'static str,
    pub(crate) region: String,
    pub(crate) virtual_host_style: bool,
    pub(crate) credentials: Credentials,
}

/// Resolves the settings of `s3://bucket/prefix` from `opts`, then `env` (which returns
/// non-empty values of environment variables), then defaults.
pub(crate) fn resolve(
    url: &str,
    bucket: &str,
    prefix: &str,
    opts: &StoreOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<S3Target, StoreError> {
    let bad = |reason: String| StoreError::InvalidConfig {
        url: url.to_string(),
        reason,
    };
    let first_env =
        |names: &[&'static str]| names.iter().find_map(|name| env(name).map(|v| (v, *name)));
    let given = |v: &Option<String>| v.as_ref().filter(|s| !s.is_empty()).cloned();

    let region = given(&opts.s3_region)
        .or_else(|| first_env(&["AWS_REGION", "AWS_DEFAULT_REGION"]).map(|(v, _)| v))
        .unwrap_or_else(|| DEFAULT_REGION.to_string());
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(bad(format!(
            "invalid region {region:?} (from StoreOptions::s3_region or AWS_REGION)"
        )));
    }

    let (endpoint, endpoint_source) = match given(&opts.s3_endpoint) {
        Some(e) => (Some(e), "StoreOptions::s3_endpoint"),
        None => match first_env(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]) {
            Some((e, name)) => (Some(e), name),
            None => (None, "the AWS default for the region"),
        },
    };
    let custom_endpoint = endpoint.is_some();
    let endpoint = match endpoint {
        Some(e) => check_endpoint(&e).map_err(|why| {
            bad(format!(
                "invalid S3 endpoint {e:?} (from {endpoint_source}): {why}; use a URL such as \
                 http://127.0.0.1:9000 or https://s3.eu-west-1.amazonaws.com"
            ))
        })?,
        None if region.starts_with("cn-") => format!("https://s3.{region}.amazonaws.com.cn"),
        None => format!("https://s3.{region}.amazonaws.com"),
    };
    let virtual_host_style = opts
        .s3_virtual_host_style
        .unwrap_or(!custom_endpoint && !bucket.contains('.'));
    if virtual_host_style && bucket.contains('.') {
        return Err(bad(format!(
            "bucket {bucket:?} contains '.', which virtual-hosted-style addressing cannot \
             name; leave StoreOptions::s3_virtual_host_style unset or false"
        )));
    }

    let credentials = resolve_credentials(opts, env).map_err(bad)?;
    Ok(S3Target {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        endpoint,
        endpoint_source,
        region,
        virtual_host_style,
        credentials,
    })
}

fn resolve_credentials(
    opts: &StoreOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials, String> {
    let given = |v: &Option<String>| v.as_ref().filter(|s| !s.is_empty()).cloned();
    match (
        given(&opts.s3_access_key_id),
        given(&opts.s3_secret_access_key),
    ) {
        (Some(key_id), Some(secret)) => {
            return Ok(Credentials::Static {
                key_id,
                secret,
                token: given(&opts.s3_session_token),
                source: "StoreOptions",
            })
        }
        (None, None) => {}
        _ => {
            return Err(
                "StoreOptions::s3_access_key_id and s3_secret_access_key must be set \
                        together"
                    .to_string(),
            )
        }
    }
    match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        (Some(key_id), Some(secret)) => Ok(Credentials::Static {
            key_id,
            secret,
            token: env("AWS_SESSION_TOKEN"),
            source: "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        }),
        (Some(_), None) | (None, Some(_)) => Err("only one of AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY is set; set both"
            .to_string()),
        (None, None) if opts.s3_default_credential_chain => Ok(Credentials::DefaultChain),
        (None, None) => Err("no S3 credentials: set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), or \
             StoreOptions::s3_access_key_id and s3_secret_access_key, or enable \
             StoreOptions::s3_default_credential_chain to use ~/.aws files and instance roles"
            .to_string()),
    }
}

/// Checks an endpoint URL and returns it without trailing `/`.
pub(crate) fn check_endpoint(e: &str) -> Result<String, &'static str> {
    let rest = e
        .strip_prefix("http://")
        .or_else(|| e.strip_prefix("https://"))
        .ok_or("it must start with http:// or https://")?;
    if e.chars().any(|c| c.is_whitespace() || c.is_control()) || e.contains(['?', '#']) {
        return Err("it must not contain spaces, a query or a fragment");
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err("it must name a host (without user name or password)");
    }
    Ok(e.trim_end_matches('/').to_string())
}

/// The host part of an endpoint URL checked by [`check_endpoint`] (no port, no brackets).
pub(crate) fn endpoint_host(endpoint: &str) -> String {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        // An IPv6 literal: "[::1]:9000".
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.to_ascii_lowercase()
}

impl S3Target {
    /// "bucket "b" (prefix "p") at endpoint http://… (region r)", for messages.
    pub(crate) fn describe(&self) -> String {
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!(", prefix {:?}", self.prefix)
        };
        format!(
            "bucket {:?}{prefix} at endpoint {} (from {}, region {})",
            self.bucket, self.endpoint, self.endpoint_source, self.region
        )
    }

    fn credentials_hint(&self) -> String {
        match &self.credentials {
            Credentials::Static { key_id, source, .. } => format!(
                "the access key {key_id:?} (from {source}) and its secret are right, \
                 AWS_SESSION_TOKEN is set if they are temporary"
            ),
            Credentials::DefaultChain => {
                "the AWS default credential chain (~/.aws files, web identity, instance role) \
                 yields valid credentials"
                    .to_string()
            }
        }
    }

    /// Builds the operator: the S3 service, then timeouts per attempt, then retries, then
    /// the request counter on the HTTP transport (which sees every request, retries and
    /// multipart parts included).
    pub(crate) fn operator(
        &self,
        url: &str,
        opts: &StoreOptions,
        counters: Arc<Counters>,
    ) -> Result<Operator, StoreError> {
        // Registers the default (rustls) HTTP transport unless the application installed its
        // own first. Idempotent and local.
        opendal::install_default();
        let root = if self.prefix.is_empty() {
            "/".to_string()
        } else {
            format!("/{}/", self.prefix)
        };
        let mut builder = opendal::services::S3::default()
            .bucket(&self.bucket)
            .root(&root)
            .region(&self.region)
            .endpoint(&self.endpoint);
        match &self.credentials {
            Credentials::Static {
                key_id,
                secret,
                token,
                ..
            } => {
                // Only the resolved key: no ~/.aws files, no instance metadata requests.
                builder = builder
                    .disable_config_load()
                    .disable_ec2_metadata()
                    .access_key_id(key_id)
                    .secret_access_key(secret);
                if let Some(token) = token {
                    builder = builder.session_token(token);
                }
            }
            Credentials::DefaultChain => {}
        }
        if self.virtual_host_style {
            builder = builder.enable_virtual_host_style();
        }
        let op = Operator::new(builder).map_err(|e| StoreError::InvalidConfig {
            url: url.to_string(),
            reason: format!("cannot set up the S3 client for {}: {e}", self.describe()),
        })?;
        Ok(with_remote_layers(
            op,
            opts,
            counters,
            endpoint_host(&self.endpoint),
        ))
    }

    /// Turns the failure of [`super::ObjectStore::check_access`]'s request into one clear
    /// error naming the bucket, the endpoint and what to check.
    pub(crate) fn access_error(&self, url: &str, e: opendal::Error) -> StoreError {
        let at = self.describe();
        let detail = match e.kind() {
            ErrorKind::ConfigInvalid | ErrorKind::NotFound => format!(
                "the bucket does not exist: {at}. Create it (e.g. `aws s3 mb s3://{b}` or \
                 `mc mb ALIAS/{b}`) or fix the bucket name in the URL; if it exists elsewhere, \
                 check AWS_ENDPOINT_URL and AWS_REGION",
                b = self.bucket
            ),
            ErrorKind::PermissionDenied => format!(
                "access denied to {at}. Check that {}, the region is the bucket's, and the \
                 key may list, read, write and delete objects under s3://{}/{}",
                self.credentials_hint(),
                self.bucket,
                self.prefix
            ),
            _ => format!(
                "the request to {at} failed. Check that the server is running and reachable, \
                 the endpoint and region are right, and {}",
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
        bucket: &str,
    ) -> Result<S3Target, StoreError> {
        resolve("s3://x/y", bucket, "db", opts, &env_of(vars))
    }

    const KEYS: [(&str, &str); 2] = [
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
    ];

    #[test]
    fn aws_defaults() -> Result<(), StoreError> {
        let t = resolve_with(&StoreOptions::default(), &KEYS, "bucket")?;
        assert_eq!(t.region, "us-east-1");
        assert_eq!(t.endpoint, "https://s3.us-east-1.amazonaws.com");
        assert!(t.virtual_host_style);
        assert_eq!(endpoint_host(&t.endpoint), "s3.us-east-1.amazonaws.com");
        assert!(matches!(
            t.credentials,
            Credentials::Static { ref key_id, token: None, .. } if key_id == "AKID"
        ));
        let t = resolve_with(
            &StoreOptions::default(),
            &[KEYS[0], KEYS[1], ("AWS_REGION", "cn-north-1")],
            "dotted.bucket",
        )?;
        assert_eq!(t.endpoint, "https://s3.cn-north-1.amazonaws.com.cn");
        assert!(!t.virtual_host_style, "dots force path style");
        Ok(())
    }

    #[test]
    fn endpoint_means_path_style_and_options_win() -> Result<(), StoreError> {
        let vars = [
            KEYS[0],
            KEYS[1],
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_SESSION_TOKEN", "TOKEN"),
        ];
        let t = resolve_with(&StoreOptions::default(), &vars, "bucket")?;
        assert_eq!(t.endpoint, "http://127.0.0.1:9000");
        assert_eq!(t.endpoint_source, "AWS_ENDPOINT_URL");
        assert_eq!(t.region, "eu-west-1");
        assert!(!t.virtual_host_style);
        assert!(matches!(
            t.credentials,
            Credentials::Static { token: Some(_), .. }
        ));

        let opts = StoreOptions {
            s3_endpoint: Some("https://[::1]:9443".into()),
            s3_region: Some("us-west-2".into()),
            s3_access_key_id: Some("OPTKEY".into()),
            s3_secret_access_key: Some("OPTSECRET".into()),
            ..StoreOptions::default()
        };
        let t = resolve_with(&opts, &vars, "bucket")?;
        assert_eq!(endpoint_host(&t.endpoint), "::1");
        assert_eq!(t.region, "us-west-2");
        // The environment's session token belongs to the environment's key, not ours.
        assert!(matches!(
            t.credentials,
            Credentials::Static { ref key_id, token: None, source: "StoreOptions", .. }
                if key_id == "OPTKEY"
        ));
        Ok(())
    }

    #[test]
    fn bad_settings_are_clear_errors() {
        type Case = (
            StoreOptions,
            Vec<(&'static str, &'static str)>,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (StoreOptions::default(), vec![], "no S3 credentials"),
            (
                StoreOptions::default(),
                vec![KEYS[0]],
                "only one of AWS_ACCESS_KEY_ID",
            ),
            (
                StoreOptions {
                    s3_access_key_id: Some("K".into()),
                    ..StoreOptions::default()
                },
                KEYS.to_vec(),
                "must be set together",
            ),
            (
                StoreOptions::default(),
                vec![KEYS[0], KEYS[1], ("AWS_ENDPOINT_URL", "localhost:9000")],
                "must start with http:// or https://",
            ),
            (
                StoreOptions {
                    s3_endpoint: Some("http://".into()),
                    ..StoreOptions::default()
                },
                KEYS.to_vec(),
                "must name a host",
            ),
            (
                StoreOptions {
                    s3_region: Some("eu west".into()),
                    ..StoreOptions::default()
                },
                KEYS.to_vec(),
                "invalid region",
            ),
        ];
        for (opts, vars, needle) in cases {
            match resolve_with(&opts, &vars, "bucket") {
                Err(StoreError::InvalidConfig { url, reason }) => {
                    assert_eq!(url, "s3://x/y");
                    assert!(reason.contains(needle), "{needle}: {reason}");
                }
                Err(other) => panic!("{needle}: unexpected error {other}"),
                Ok(_) => panic!("{needle}: accepted"),
            }
        }
        let chain = StoreOptions {
            s3_default_credential_chain: true,
            ..StoreOptions::default()
        };
        assert!(matches!(
            resolve_with(&chain, &[], "bucket").map(|t| t.credentials),
            Ok(Credentials::DefaultChain)
        ));
    }
}
