//! The one publisher of manifest edits.
//!
//! The flusher, the compactor and `close()` hand it an edit; it publishes
//! the next version (one at a time, retrying through outages with one nonce
//! per edit, fencing ends it), then installs the new version's table set in
//! the read view. GC work rides along: its totals wait here until the next
//! publish records them.

use std::sync::{Arc, Mutex};

use firn_manifest::{ManifestEdit, ManifestStore, Totals};

use crate::background::retry::Retry;
use crate::error::Result;
use crate::lock;
use crate::read::table::{ChunkStore, ChunkTable};
use crate::read::view::ReadView;

/// Publishes manifest edits and keeps the read view's table set current.
pub(crate) struct ManifestPublisher {
    /// Serialises publishes and table-set swaps.
    serial: tokio::sync::Mutex<()>,
    manifests: ManifestStore,
    epoch: u64,
    view: Arc<ReadView>,
    chunks: Arc<ChunkStore>,
    retry: Retry,
    /// GC totals not yet recorded in the manifest.
    pending_totals: Mutex<Totals>,
}

impl ManifestPublisher {
    pub(crate) fn new(
        manifests: ManifestStore,
        epoch: u64,
        view: Arc<ReadView>,
        chunks: Arc<ChunkStore>,
        retry: Retry,
    ) -> ManifestPublisher {
        ManifestPublisher {
            serial: tokio::sync::Mutex::new(()),
            // Whole publishes are retried by `retry`; one attempt inside.
            manifests: manifests.with_store_attempts(1),
            epoch,
            view,
            chunks,
            retry,
            pending_totals: Mutex::new(Totals::default()),
        }
    }

    /// Publishes `edit` (with the GC totals waiting to be recorded), then
    /// installs the new version's table set — reusing opened tables, adding
    /// `new_tables` (chunks this process just wrote) — and drops the frozen
    /// memtable `flushed` from the read view in the same swap.
    pub(crate) async fn publish(
        &self,
        mut edit: ManifestEdit,
        new_tables: Vec<Arc<ChunkTable>>,
        flushed: Option<u64>,
    ) -> Result<()> {
        let _serial = self.serial.lock().await;
        let pending = std::mem::take(&mut *lock(&self.pending_totals));
        edit.add_totals.add(&pending);
        // One nonce for every retry: if an attempt landed but its answer was
        // lost, the retry recognises the version as its own instead of
        // applying the edit a second time.
        let nonce = firn_manifest::fresh_nonce();
        let manifest = self
            .retry
            .until_done("manifest publish", || async {
                let current = self.view.manifest();
                Ok(self
                    .manifests
                    .publish_with_nonce(&current, &edit, self.epoch, nonce)
                    .await?)
            })
            .await?;
        let previous = self.view.current().tables.clone();
        let tables = self
            .chunks
            .table_set_with(Arc::new(manifest), Some(&previous), new_tables)
            .await?;
        let tables = Arc::new(tables);
        self.view.update(|s| s.with_tables(tables, flushed));
        Ok(())
    }

    /// Holds off publishes while the guard lives (a checkpoint pins the
    /// version it read).
    pub(crate) async fn hold(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.serial.lock().await
    }

    /// Records GC work with the next publish.
    pub(crate) fn add_pending_totals(&self, totals: &Totals) {
        lock(&self.pending_totals).add(totals);
    }
}
