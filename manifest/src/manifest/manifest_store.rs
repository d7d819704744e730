//! [`ManifestStore`]: reading and publishing manifest versions on an object store.
//!
//! Publication protocol (see also `FORMAT.md`):
//!
//! - Version `v + 1` is published by a conditional create of `manifest/<v + 1>`: of several
//!   writers trying the same version, exactly one succeeds.
//! - Every manifest carries the epoch of the writer that published it. A writer that finds a
//!   version published by a higher epoch is fenced ([`ManifestError::Fenced`]) and must stop.
//! - Every publish picks a random nonce. If a create's outcome is unknown (a transient error),
//!   the version is re-read: our nonce there means our create landed.
//! - A writer that loses a race to a writer of its own epoch (or a lower one) reads the newer
//!   versions, re-applies its [`ManifestEdit`] and tries the next version.
//! - Opening as writer ([`ManifestStore::claim_writer`]) publishes `epoch = newest epoch + 1`.

use std::time::Duration;

use bytes::Bytes;

use super::codec::{decode, encode, HEADER_LEN};
use super::edit::ManifestEdit;
use super::model::{
    format_db_id, manifest_object, parse_manifest_object, Manifest, MANIFEST_PREFIX,
};
use crate::error::ManifestError;
use firn_store::{ObjectStore, PutOutcome, StoreError};

/// Attempts per store request before a transient error is returned to the caller.
const MAX_STORE_ATTEMPTS: u32 = 6;

/// First delay between attempts; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

/// Longest delay between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Lost races after which a publish gives up with [`ManifestError::Conflict`].
const MAX_RACES: u32 = 1000;

/// Reads and publishes manifest versions (`manifest/<version>`) on an [`ObjectStore`].
///
/// Its futures are `Send` and expect a Tokio runtime with the time driver enabled (as
/// `#[tokio::main]` provides): retries of transient store errors sleep between attempts.
///
/// Who retries what: a request is retried by the store itself (S3's retry layer); a failed
/// conditional create, a version read or a refresh within a publish is retried here, a bounded
/// number of times ([`ManifestStore::with_store_attempts`]); an outage that outlasts those is
/// the caller's to ride out (the engine retries the whole publish, with the same nonce, for as
/// long as the store answers "try again" — and sets the attempts here to 1, so the two never nest).
#[derive(Clone, Debug)]
pub struct ManifestStore {
    store: ObjectStore,
    store_attempts: u32,
}

/// What a commit loop publishes.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// A writer's edit, fenced by its epoch.
    Write {
        edit: &'a ManifestEdit,
        writer_epoch: u64,
    },
    /// Taking over as writer with the next epoch; never fenced.
    Claim { writer_id: [u8; 16] },
}

impl ManifestStore {
    /// A manifest store on `store`.
    pub fn new(store: ObjectStore) -> Self {
        ManifestStore {
            store,
            store_attempts: MAX_STORE_ATTEMPTS,
        }
    }

    /// This store, trying a transient store error within a publish at most `attempts` times
    /// (at least once) before returning it. The default is 6; a caller that retries whole
    /// publishes itself sets 1.
    pub fn with_store_attempts(mut self, attempts: u32) -> Self {
        self.store_attempts = attempts.max(1);
        self
    }

    /// The underlying object store.
    pub fn store(&self) -> &ObjectStore {
        &self.store
    }

    /// All manifest version numbers present (one LIST), ascending. Names under `manifest/`
    /// that are not version objects are ignored.
    pub async fn list_versions(&self) -> Result<Vec<u64>, ManifestError> {
        let objects = self.store.list(MANIFEST_PREFIX).await?;
        let mut versions: Vec<u64> = objects
            .iter()
            .filter_map(|o| parse_manifest_object(&o.path))
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// LISTs `manifest/` and loads the newest version (one LIST + one GET). `None` if the
    /// prefix holds no database. A corrupt newest version is an error naming the object.
    pub async fn load_latest(&self) -> Result<Option<Manifest>, ManifestError> {
        let Some(&newest) = self.list_versions().await?.last() else {
            return Ok(None);
        };
        match self.load_version(newest).await? {
            Some(m) => Ok(Some(m)),
            // Listed a moment ago; the newest version is never deleted, so this is not a race
            // to paper over.
            None => Err(StoreError::NotFound {
                path: manifest_object(newest),
            }
            .into()),
        }
    }

    /// [`ManifestStore::load_latest`], reusing `copy` (the bytes of a version kept locally)
    /// when it is the newest version: then one LIST and no GET. A copy that does not decode
    /// (damaged, cut short) or holds another version is ignored. Returns the manifest and,
    /// when it was fetched, the object's bytes, to keep as the next copy.
    pub async fn load_latest_reusing(
        &self,
        copy: Option<&[u8]>,
    ) -> Result<Option<(Manifest, Option<Bytes>)>, ManifestError> {
        let Some(&newest) = self.list_versions().await?.last() else {
            return Ok(None);
        };
        let name = manifest_object(newest);
        if let Some(m) = copy
            .and_then(|bytes| decode(bytes, &name).ok())
            .filter(|m| m.version == newest)
        {
            return Ok(Some((m, None)));
        }
        let bytes = self.store.get(&name).await?;
        let m = decode_version(&bytes, &name, newest)?;
        Ok(Some((m, Some(bytes))))
    }

    /// Loads version `v` (one GET); `None` if it does not exist.
    pub async fn load_version(&self, v: u64) -> Result<Option<Manifest>, ManifestError> {
        let name = manifest_object(v);
        let bytes = match self.store.get(&name).await {
            Ok(bytes) => bytes,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        decode_version(&bytes, &name, v).map(Some)
    }

    /// Follows `current` to the newest version by GETting `version + 1`, `+ 2`, ... until one
    /// is absent (no LIST; one GET per newer version plus one). Returns `current` unchanged if
    /// nothing newer exists.
    pub async fn refresh(&self, current: &Manifest) -> Result<Manifest, ManifestError> {
        let mut newest = current.clone();
        while let Some(v) = newest.version.checked_add(1) {
            match self.load_version(v).await? {
                Some(m) => {
                    check_same_db(current, &m)?;
                    newest = m;
                }
                None => break,
            }
        }
        Ok(newest)
    }

    /// Creates version 1 (epoch 0, empty) of a brand-new database by conditional create. If
    /// version 1 already exists, it is loaded and returned instead (compare its `db_id`).
    ///
    /// Call [`ManifestStore::load_latest`] first: old versions may have been deleted, so
    /// `create` alone cannot tell an empty prefix from an old database.
    pub async fn create(&self, db_id: [u8; 16]) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::new(db_id);
        m.version = 1;
        m.nonce = fresh_nonce();
        m.published_at_ms = now_ms();
        match self.create_version(&m).await? {
            None => Ok(m),
            Some(existing) => Ok(existing),
        }
    }

    /// Creates version 1 of a new database with the contents of `first` (a clone's or a
    /// restore's first manifest) by conditional create. `Ok(None)` if version 1 exists already
    /// and is not ours: the location holds another database.
    pub async fn create_initial(
        &self,
        first: &Manifest,
    ) -> Result<Option<Manifest>, ManifestError> {
        let mut m = first.clone();
        m.version = 1;
        m.nonce = fresh_nonce();
        m.published_at_ms = now_ms();
        match self.create_version(&m).await? {
            None => Ok(Some(m)),
            Some(existing) if existing.nonce == m.nonce => Ok(Some(existing)),
            Some(_) => Ok(None),
        }
    }

    /// Publishes version `current.version + 1` = `edit` applied to `current`, by conditional
    /// create, as the writer holding `writer_epoch`. The new version's epoch is `writer_epoch`
    /// (or `edit.new_epoch` if set).
    ///
    /// If the version is taken: a winner with a higher epoch than ours means we are fenced
    /// ([`ManifestError::Fenced`]); a winner with our nonce is our own earlier attempt and is
    /// returned; otherwise the newer versions are read, the edit is re-applied to the newest
    /// (a chunk to remove that is gone is [`ManifestError::Conflict`]) and the next version is
    /// tried. Transient store errors are retried a bounded number of times with backoff,
    /// re-reading the version first to see whether the create landed.
    pub async fn publish(
        &self,
        current: &Manifest,
        edit: &ManifestEdit,
        writer_epoch: u64,
    ) -> Result<Manifest, ManifestError> {
        self.publish_with_nonce(current, edit, writer_epoch, fresh_nonce())
            .await
    }

    /// [`ManifestStore::publish`] with a given nonce. A caller that retries a publish after an
    /// error (the create may have landed although no answer arrived) must retry with the *same*
    /// nonce, from [`fresh_nonce`], so the landed version is recognised as its own.
    pub async fn publish_with_nonce(
        &self,
        current: &Manifest,
        edit: &ManifestEdit,
        writer_epoch: u64,
        nonce: u64,
    ) -> Result<Manifest, ManifestError> {
        let mode = Mode::Write { edit, writer_epoch };
        self.commit(current, nonce, mode).await
    }

    /// Opens the database as writer: publishes a version whose epoch is the newest epoch + 1,
    /// re-reading and retrying on lost races (never fenced). The returned manifest's `epoch` is
    /// the caller's writer epoch from now on; every older writer is fenced by it.
    pub async fn claim_writer(&self, current: &Manifest) -> Result<Manifest, ManifestError> {
        self.claim_writer_as(current, [0; 16]).await
    }

    /// [`Self::claim_writer`], recording `writer_id` (the claiming local directory's id) in the
    /// claim, so a directory can later tell its own claims from another writer's.
    pub async fn claim_writer_as(
        &self,
        current: &Manifest,
        writer_id: [u8; 16],
    ) -> Result<Manifest, ManifestError> {
        self.commit(current, fresh_nonce(), Mode::Claim { writer_id })
            .await
    }

    /// The publish loop shared by [`Self::publish`] and [`Self::claim_writer`].
    async fn commit(
        &self,
        current: &Manifest,
        nonce: u64,
        mode: Mode<'_>,
    ) -> Result<Manifest, ManifestError> {
        let mut base = current.clone();
        let mut races = 0u32;
        loop {
            if let Mode::Write { writer_epoch, .. } = mode {
                fence_check(writer_epoch, base.epoch)?;
            }
            let claim_edit;
            let (edit, epoch) = match mode {
                Mode::Write { edit, writer_epoch } => {
                    (edit, edit.new_epoch.unwrap_or(writer_epoch))
                }
                Mode::Claim { .. } => {
                    let epoch = base
                        .epoch
                        .checked_add(1)
                        .ok_or_else(|| exhausted("epoch"))?;
                    claim_edit = ManifestEdit {
                        new_epoch: Some(epoch),
                        ..ManifestEdit::default()
                    };
                    (&claim_edit, epoch)
                }
            };
            let mut next = base.clone();
            let version = base
                .version
                .checked_add(1)
                .ok_or_else(|| exhausted("version"))?;
            let now = now_ms();
            if edit.new_epoch.is_some() {
                // The fence bookkeeping reads the outgoing writer's epoch and watermark, so it
                // comes before the edit moves the epoch on.
                let writer_id = match mode {
                    Mode::Claim { writer_id } => writer_id,
                    Mode::Write { .. } => [0; 16],
                };
                next.record_claim(writer_id, epoch, version, now);
            }
            edit.apply(&mut next)?;
            next.version = version;
            next.epoch = epoch;
            next.nonce = nonce;
            next.published_at_ms = now;

            let Some(winner) = self.create_version(&next).await? else {
                return Ok(next);
            };
            if winner.nonce == nonce {
                // An earlier attempt of ours landed although we did not hear back.
                return Ok(winner);
            }
            check_same_db(&base, &winner)?;
            if let Mode::Write { writer_epoch, .. } = mode {
                fence_check(writer_epoch, winner.epoch)?;
            }
            races += 1;
            if races >= MAX_RACES {
                return Err(ManifestError::Conflict {
                    detail: format!(
                        "gave up publishing after losing {races} races (last at version {})",
                        winner.version
                    ),
                });
            }
            base = self.refresh_retrying(&winner).await?;
        }
    }

    /// Conditionally creates the object of `m`. `Ok(None)`: this call created it.
    /// `Ok(Some(w))`: the version exists and holds `w` (which is ours if `w.nonce == m.nonce`).
    /// Transient errors are retried; after a failed create the version is read first, since
    /// the create may have landed.
    async fn create_version(&self, m: &Manifest) -> Result<Option<Manifest>, ManifestError> {
        let name = m.object_name();
        let bytes = Bytes::from(encode(m));
        let mut failures = 0u32;
        let mut vanished = 0u32;
        let mut read_first = false;
        loop {
            let err: ManifestError = if read_first {
                match self.load_version(m.version).await {
                    Ok(Some(winner)) => return Ok(Some(winner)),
                    Ok(None) => {
                        read_first = false;
                        continue;
                    }
                    Err(e) => e,
                }
            } else {
                match self.store.put_if_absent(&name, bytes.clone()).await {
                    Ok(PutOutcome::Created) => return Ok(None),
                    Ok(PutOutcome::AlreadyExists) => match self.load_version(m.version).await {
                        Ok(Some(winner)) => return Ok(Some(winner)),
                        // It existed a moment ago: a protocol anomaly, not a store error, so
                        // it is retried here whatever `store_attempts` says.
                        Ok(None) => {
                            vanished += 1;
                            if vanished >= MAX_STORE_ATTEMPTS {
                                return Err(StoreError::NotFound { path: name.clone() }.into());
                            }
                            firn_store::clock::sleep(backoff(vanished)).await;
                            continue;
                        }
                        Err(e) => e,
                    },
                    Err(e) => {
                        // Our create may have landed before the error: look before retrying.
                        read_first = true;
                        e.into()
                    }
                }
            };
            failures += 1;
            if !is_transient(&err) || failures >= self.store_attempts {
                return Err(err);
            }
            firn_store::clock::sleep(backoff(failures)).await;
        }
    }

    /// [`Self::refresh`] with bounded retries of transient errors.
    async fn refresh_retrying(&self, m: &Manifest) -> Result<Manifest, ManifestError> {
        let mut failures = 0u32;
        loop {
            match self.refresh(m).await {
                Ok(newest) => return Ok(newest),
                Err(e) => {
                    failures += 1;
                    if !is_transient(&e) || failures >= self.store_attempts {
                        return Err(e);
                    }
                    firn_store::clock::sleep(backoff(failures)).await;
                }
            }
        }
    }
}

fn fence_check(our_epoch: u64, their_epoch: u64) -> Result<(), ManifestError> {
    if their_epoch > our_epoch {
        Err(ManifestError::Fenced {
            our_epoch,
            their_epoch,
        })
    } else {
        Ok(())
    }
}

fn check_same_db(expected: &Manifest, found: &Manifest) -> Result<(), ManifestError> {
    if expected.db_id == found.db_id {
        Ok(())
    } else {
        Err(ManifestError::DatabaseMismatch {
            object: found.object_name(),
            expected: format_db_id(&expected.db_id),
            found: format_db_id(&found.db_id),
        })
    }
}

fn exhausted(what: &str) -> ManifestError {
    ManifestError::Conflict {
        detail: format!("{what} numbers are exhausted"),
    }
}

/// Whether retrying may help: store trouble, or an object that vanished between two requests.
fn is_transient(e: &ManifestError) -> bool {
    matches!(e, ManifestError::Store(s) if s.is_retryable() || matches!(s, StoreError::NotFound { .. }))
}

fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

/// A random, non-zero nonce for one publish.
/// A random, non-zero nonce for one logical publish (keep it across retries of that publish).
pub fn fresh_nonce() -> u64 {
    firn_store::clock::random_u64().max(1)
}

fn now_ms() -> u64 {
    firn_store::clock::now_ms()
}

/// Decodes manifest object `name`, which must hold version `v`.
fn decode_version(bytes: &[u8], name: &str, v: u64) -> Result<Manifest, ManifestError> {
    let m = decode(bytes, name)?;
    if m.version != v {
        return Err(ManifestError::Corrupt {
            object: name.to_string(),
            offset: HEADER_LEN as u64,
            detail: format!("object holds version {}, not {v}", m.version),
        });
    }
    Ok(m)
}

#[cfg(test)]
#[path = "manifest_store_tests.rs"]
mod tests;
