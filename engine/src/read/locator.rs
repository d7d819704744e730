//! Where a chunk lives: this database's own store, or — for a clone — the
//! source database it was cloned from ([`firn_manifest::Manifest::sources`]).
//!
//! A clone's manifest lists its sources by epoch range; a chunk id's epoch
//! says which one holds it. The locator opens each source's store once, with
//! this database's store settings, and checks on first use that the source
//! still is the database the clone was made from (its identity object), so a
//! source that was dropped or replaced is one clear error, not a wrong read.

use std::collections::HashMap;

use firn_manifest::{ChunkId, ChunkSource, Manifest, ObjectName};
use firn_store::{ObjectStore, StoreError};

use crate::error::{Error, Result};

/// Resolves chunk ids to the store that holds them.
pub(crate) struct ChunkLocator {
    own: ObjectStore,
    /// Source stores opened so far, by URL (identity checked).
    sources: tokio::sync::Mutex<HashMap<String, ObjectStore>>,
}

impl ChunkLocator {
    pub(crate) fn new(own: ObjectStore) -> ChunkLocator {
        ChunkLocator {
            own,
            sources: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The store holding chunk `id` of a database at `manifest`.
    pub(crate) async fn store_for(&self, manifest: &Manifest, id: ChunkId) -> Result<ObjectStore> {
        match manifest.source_of(id) {
            None => Ok(self.own.clone()),
            Some(source) => self.source(source).await,
        }
    }

    /// The store of `source`, opened (and its identity checked) on first use.
    pub(crate) async fn source(&self, source: &ChunkSource) -> Result<ObjectStore> {
        let mut open = self.sources.lock().await;
        if let Some(store) = open.get(&source.url) {
            return Ok(store.clone());
        }
        let store = open_source(&self.own, source).await?;
        open.insert(source.url.clone(), store.clone());
        Ok(store)
    }
}

/// Opens the store of `source` with the settings of `own` and checks that it
/// holds the database the clone was made from.
pub(crate) async fn open_source(own: &ObjectStore, source: &ChunkSource) -> Result<ObjectStore> {
    let store = ObjectStore::from_url_with(&source.url, own.options()).map_err(|e| {
        Error::InvalidArgument(format!(
            "cannot open {}, the source this clone reads chunks from: {e}",
            source.url
        ))
    })?;
    let expected = firn_manifest::identity_contents(&source.db_id);
    match store.get(ObjectName::Identity.path().as_str()).await {
        Ok(found) if found.as_ref() == expected.as_bytes() => Ok(store),
        Ok(_) => Err(Error::InvalidArgument(format!(
            "{} no longer holds the database this clone was made from (its identity object \
             names another database): the clone's chunks there are gone; restore the source \
             or drop the clone",
            source.url
        ))),
        Err(StoreError::NotFound { .. }) => Err(Error::InvalidArgument(format!(
            "{} holds no database any more, but this clone reads chunks from it (the source \
             was dropped without dropping its clones first): restore the source from a backup \
             or drop the clone",
            source.url
        ))),
        Err(e) => Err(e.into()),
    }
}
