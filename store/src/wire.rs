//! Request counting on the wire for HTTP stores (`s3://`, `azblob://`).
//!
//! [`WireCountLayer`] wraps the operator's HTTP transport, so every request actually sent to
//! the endpoint is counted — including retries, each part of a multipart upload, every page
//! of a listing and the abort of a failed upload — which is what S3 bills. Requests to other
//! hosts (credential services) are not counted.

use std::sync::Arc;

use http::{Method, Request, Response};
use opendal::raw::{Layer, Servicer};
use opendal::{Buffer, HttpBody, HttpTransport, HttpTransporter, OperationContext};

use crate::counts::{Counters, RequestKind};
use crate::options::StoreOptions;

/// The layers of every remote service's operator (S3, Azure Blob), in order: the timeout
/// applies to each attempt (inside), the retry layer outside it restarts failed and timed-out
/// attempts (retrying a conditional create is safe, see `ObjectStore::put_if_absent`), and
/// the wire counter counts every HTTP request sent to `host`, each retry included.
pub(crate) fn with_remote_layers(
    op: opendal::Operator,
    opts: &StoreOptions,
    counters: Arc<Counters>,
    host: String,
) -> opendal::Operator {
    let retry = opendal::layers::RetryLayer::new()
        .with_jitter()
        .with_factor(2.0)
        .with_min_delay(opts.retry_min_delay)
        .with_max_delay(opts.retry_max_delay)
        .with_max_times(opts.max_retries);
    op.layer(
        opendal::layers::TimeoutLayer::new()
            .with_timeout(opts.request_timeout)
            .with_io_timeout(opts.io_timeout),
    )
    .layer(retry)
    .layer(WireCountLayer::new(counters, host))
}

/// An OpenDAL layer that counts the HTTP requests sent to one endpoint host.
#[derive(Debug, Clone)]
pub(crate) struct WireCountLayer {
    counters: Arc<Counters>,
    /// The endpoint's host, lowercase; virtual-hosted-style requests go to `<bucket>.<host>`.
    host: Arc<str>,
}

impl WireCountLayer {
    pub(crate) fn new(counters: Arc<Counters>, host: String) -> WireCountLayer {
        WireCountLayer {
            counters,
            host: host.into(),
        }
    }
}

impl Layer for WireCountLayer {
    fn apply_context(&self, _srv: Servicer, inner: OperationContext) -> OperationContext {
        let transport = CountingTransport {
            inner: inner.http_transport().clone(),
            counters: Arc::clone(&self.counters),
            host: Arc::clone(&self.host),
        };
        inner.with_http_transport(HttpTransporter::new(transport))
    }
}

struct CountingTransport {
    inner: HttpTransporter,
    counters: Arc<Counters>,
    host: Arc<str>,
}

impl HttpTransport for CountingTransport {
    async fn fetch(&self, req: Request<Buffer>) -> opendal::Result<Response<HttpBody>> {
        let to_endpoint = req.uri().host().is_some_and(|h| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h.eq_ignore_ascii_case(&self.host)
                || h.to_ascii_lowercase().ends_with(&format!(".{}", self.host))
        });
        if to_endpoint {
            if let Some(kind) = classify(req.method(), req.uri().query().unwrap_or("")) {
                self.counters.count(kind);
            }
        }
        self.inner.fetch(req).await
    }
}

/// The kind of an S3 or Azure Blob request, from its method and query string.
fn classify(method: &Method, query: &str) -> Option<RequestKind> {
    let has = |key: &str| {
        query
            .split('&')
            .any(|p| p == key || p.split_once('=').is_some_and(|(k, _)| k == key))
    };
    let comp = |value: &str| query.split('&').any(|p| p == format!("comp={value}"));
    Some(match *method {
        Method::HEAD => RequestKind::Head,
        Method::DELETE => RequestKind::Delete,
        // DeleteObjects (S3) and Blob Batch (Azure) delete many objects with one POST.
        Method::POST if has("delete") || comp("batch") => RequestKind::Delete,
        // Azure's List Blobs is `?restype=container&comp=list`.
        Method::GET if has("list-type") || has("uploads") || has("versions") || comp("list") => {
            RequestKind::List
        }
        Method::GET if has("prefix") || has("delimiter") || has("max-keys") => RequestKind::List,
        Method::GET => RequestKind::Get,
        // PutObject, UploadPart, Create/CompleteMultipartUpload; Azure's Put Blob, Put Block
        // and Put Block List.
        Method::PUT | Method::POST => RequestKind::Put,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        use RequestKind::*;
        for (method, query, kind) in [
            (Method::GET, "", Some(Get)),
            (Method::GET, "x-id=GetObject", Some(Get)),
            (
                Method::GET,
                "list-type=2&delimiter=%2F&max-keys=1&prefix=db%2F",
                Some(List),
            ),
            (Method::GET, "prefix=a", Some(List)),
            (Method::HEAD, "", Some(Head)),
            (Method::PUT, "", Some(Put)),
            (Method::PUT, "partNumber=1&uploadId=u", Some(Put)),
            (Method::POST, "uploads", Some(Put)),
            (Method::POST, "uploadId=u", Some(Put)),
            (Method::POST, "delete", Some(Delete)),
            (Method::DELETE, "uploadId=u", Some(Delete)),
            (Method::OPTIONS, "", None),
            // Azure Blob.
            (Method::GET, "restype=container&comp=list", Some(List)),
            (
                Method::GET,
                "restype=container&comp=list&prefix=db%2F&maxresults=1",
                Some(List),
            ),
            (Method::GET, "sv=2024&sp=racwdl&sig=x", Some(Get)),
            (Method::PUT, "comp=block&blockid=AAAA", Some(Put)),
            (Method::PUT, "comp=blocklist", Some(Put)),
            (Method::POST, "comp=batch", Some(Delete)),
        ] {
            assert_eq!(classify(&method, query), kind, "{method} ?{query}");
        }
    }
}
