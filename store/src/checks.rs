//! Checks a database runs when it opens a store: can we reach the bucket at all
//! ([`ObjectStore::check_access`]), and does the store honour conditional creates
//! ([`ObjectStore::verify_conditional_writes`])?

use bytes::Bytes;
use futures::TryStreamExt;

use crate::error::StoreError;
use crate::{Backend, ObjectStore, PutOutcome, RequestKind};

/// The folder, under the store root, of the objects [`ObjectStore::verify_conditional_writes`]
/// creates and deletes again.
pub const PROBE_DIR: &str = ".probe";

impl ObjectStore {
    /// Makes one cheap request (a LIST of at most one name under the store's root) to find
    /// out whether the store can be used, and turns a failure into one clear
    /// [`StoreError::Access`] that names the bucket, the endpoint and what to check: a bucket
    /// that does not exist, credentials the server refuses (HTTP 403), or a server that does
    /// not answer (after the usual retries).
    ///
    /// `file://` and `memory://` stores need no check (opening a folder store already created
    /// or opened the folder) and make no request.
    pub async fn check_access(&self) -> Result<(), StoreError> {
        match &self.inner.backend {
            Backend::Local(_) | Backend::Memory => Ok(()),
            Backend::S3(target) => self
                .list_one()
                .await
                .map_err(|e| target.access_error(&self.inner.url, e)),
            Backend::Azblob(target) => self
                .list_one()
                .await
                .map_err(|e| target.access_error(&self.inner.url, e)),
            Backend::Custom => self.list_one().await.map_err(|e| StoreError::Access {
                url: self.inner.url.clone(),
                detail: format!("listing the store's root failed: {e}"),
                source: Box::new(e),
            }),
        }
    }

    /// One LIST request of at most one name.
    async fn list_one(&self) -> opendal::Result<()> {
        self.count(RequestKind::List);
        let mut lister = self.inner.op.lister_with("").limit(1).await?;
        lister.try_next().await?;
        Ok(())
    }

    /// Verifies that the store refuses to create an object that already exists
    /// (`If-None-Match: *`), which writer fencing and manifest publication depend on. Not every
    /// S3-compatible server does: some (Garage 2.5, for one) silently overwrite.
    ///
    /// The check conditionally creates a fresh probe object `.probe/<random>` twice, expects
    /// the second create to be refused, and deletes the probe: three requests. If the store
    /// accepted both creates, the result is [`StoreError::UnsafeConditionalWrites`], which says
    /// how to opt into the unfenced single-writer mode
    /// ([`super::StoreOptions::allow_unconditional_writes`]); with that option set this returns
    /// `Ok` without any request. `file://` and `memory://` stores create conditionally by
    /// construction and pass without requests.
    ///
    /// A stray probe (if the delete fails, or the process dies in between) is harmless: it is
    /// a few bytes outside `manifest/` and `chunks/`.
    pub async fn verify_conditional_writes(&self) -> Result<(), StoreError> {
        if self.inner.options.allow_unconditional_writes {
            return Ok(());
        }
        match self.inner.backend {
            Backend::Local(_) | Backend::Memory => return Ok(()),
            // Both claim conditional creates (If-None-Match: *); the probe below finds out
            // whether the server honours them.
            Backend::S3(_) | Backend::Azblob(_) => {}
            Backend::Custom => {
                if !self.inner.op.info().capability().write_with_if_not_exists {
                    return Err(StoreError::UnsafeConditionalWrites {
                        url: self.inner.url.clone(),
                        reason: "its OpenDAL service has no conditional create \
                                 (write_with_if_not_exists), so only writers within this \
                                 process would be excluded from each other"
                            .to_string(),
                    });
                }
            }
        }
        let probe = format!("{PROBE_DIR}/{}", crate::clock::uuid().simple());
        let first = self
            .put_if_absent(
                &probe,
                Bytes::from_static(b"firn conditional-write probe 1\n"),
            )
            .await?;
        let second = self
            .put_if_absent(
                &probe,
                Bytes::from_static(b"firn conditional-write probe 2\n"),
            )
            .await;
        // Clean up whatever happened; a failed delete only leaves a few stray bytes behind.
        let _ = self.delete(&probe).await;
        match (first, second?) {
            // The expected answer. (AlreadyExists, AlreadyExists) also proves the point: the
            // name is fresh, so the first create was refused only because a retried attempt
            // of our own had landed already.
            (_, PutOutcome::AlreadyExists) => Ok(()),
            (first, PutOutcome::Created) => Err(StoreError::UnsafeConditionalWrites {
                url: self.inner.url.clone(),
                reason: format!(
                    "a second conditional create of the probe object {probe:?} (If-None-Match: \
                     *) was accepted after the first was {}; the server ignores the condition \
                     and silently overwrites",
                    match first {
                        PutOutcome::Created => "accepted",
                        PutOutcome::AlreadyExists => "refused",
                    }
                ),
            }),
        }
    }
}
