//! Which sequence numbers reads may use: the live snapshots and iterators,
//! and the read history (every seq from a floor on).
//!
//! Flush and compaction drop a version only when no reader can see it.
//! They ask [`SnapshotRegistry::readers`] for the live snapshots and the
//! history floor in one step, and keep every version a read at a live
//! snapshot, or at any seq at or above the floor, can see. The floor only
//! rises: it is the visible seq as of `Options::read_history` ago (sampled
//! whenever a flush or compaction asks), or the visible seq when history is
//! not kept. A read at an older seq ([`SnapshotRegistry::pin_readable`])
//! registers its seq first and checks it against the floor under the same
//! lock, so a flush or compaction either sees the pin or set a floor that
//! refuses it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::lock;

/// Most samples of the visible seq kept for the read history (older ones
/// raise the floor when dropped).
const MAX_SAMPLES: usize = 4096;

/// Live snapshot sequence numbers (with counts) and the read history.
/// Compaction keeps every version a live snapshot can see; open iterators
/// count as snapshots.
pub(crate) struct SnapshotRegistry {
    inner: Mutex<Inner>,
}

struct Inner {
    live: BTreeMap<u64, usize>,
    /// How far back (ms) reads at older seqs stay possible.
    history_ms: u64,
    /// `(time_ms, visible seq)`, oldest first.
    samples: VecDeque<(u64, u64)>,
    /// Reads at seqs at or above it are exact.
    floor: u64,
}

/// What flush and compaction must keep versions for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Readers {
    /// Live snapshot seqs, ascending.
    pub live: Vec<u64>,
    /// Every seq at or above this one may be read.
    pub floor: u64,
}

impl SnapshotRegistry {
    /// A registry whose reads are exact from `visible` on (the visible seq
    /// at open), keeping `history` of older seqs readable.
    pub(crate) fn new(visible: u64, history: std::time::Duration) -> SnapshotRegistry {
        SnapshotRegistry {
            inner: Mutex::new(Inner {
                live: BTreeMap::new(),
                history_ms: u64::try_from(history.as_millis()).unwrap_or(u64::MAX),
                samples: VecDeque::new(),
                floor: visible,
            }),
        }
    }

    pub(crate) fn pin(self: &Arc<Self>, seq: u64) -> SnapshotPin {
        *lock(&self.inner).live.entry(seq).or_insert(0) += 1;
        SnapshotPin {
            registry: self.clone(),
            seq,
        }
    }

    /// Pins `seq` if reads there are still exact (`seq` at or above the
    /// floor, or pinned by a live snapshot), else [`Error::SeqOutOfRange`].
    pub(crate) fn pin_readable(self: &Arc<Self>, seq: u64, newest: u64) -> Result<SnapshotPin> {
        let mut inner = lock(&self.inner);
        let exact = seq >= inner.floor || inner.live.contains_key(&seq);
        if !exact || seq > newest {
            return Err(Error::SeqOutOfRange {
                seq,
                oldest: inner.floor,
                newest,
            });
        }
        *inner.live.entry(seq).or_insert(0) += 1;
        Ok(SnapshotPin {
            registry: self.clone(),
            seq,
        })
    }

    /// The oldest seq a read may still ask for.
    pub(crate) fn floor(&self) -> u64 {
        lock(&self.inner).floor
    }

    /// What a flush or compaction starting now, with `visible` the visible
    /// seq, must keep versions for; raises the floor to the visible seq as
    /// of the history window ago.
    pub(crate) fn readers(&self, now_ms: u64, visible: u64) -> Readers {
        let mut inner = lock(&self.inner);
        inner.sample(now_ms, visible);
        let since = now_ms.saturating_sub(inner.history_ms);
        // The newest sample taken at or before `since`: every seq visible
        // within the window is at or above its seq.
        let old = inner
            .samples
            .iter()
            .take_while(|(t, _)| *t <= since)
            .last()
            .map(|&(_, s)| s);
        if let Some(s) = old {
            inner.floor = inner.floor.max(s);
        }
        Readers {
            live: inner.live.keys().copied().collect(),
            floor: inner.floor,
        }
    }
}

impl Inner {
    /// Records that `seq` was visible at `now_ms`, keeping only the samples
    /// the window still needs (and at most [`MAX_SAMPLES`]).
    fn sample(&mut self, now_ms: u64, seq: u64) {
        if self.samples.back().is_none_or(|&(_, s)| s != seq) {
            self.samples.push_back((now_ms, seq));
        }
        let since = now_ms.saturating_sub(self.history_ms);
        // Of the samples at or before `since`, only the newest matters.
        while self.samples.get(1).is_some_and(|&(t, _)| t <= since) {
            self.samples.pop_front();
        }
        while self.samples.len() > MAX_SAMPLES {
            if let Some((_, s)) = self.samples.pop_front() {
                self.floor = self.floor.max(s);
            }
        }
    }
}

/// Keeps one sequence number registered while it lives.
pub(crate) struct SnapshotPin {
    registry: Arc<SnapshotRegistry>,
    seq: u64,
}

impl SnapshotPin {
    /// The pinned sequence number.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }
}

impl Drop for SnapshotPin {
    fn drop(&mut self) {
        let mut inner = lock(&self.registry.inner);
        if let Some(n) = inner.live.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                inner.live.remove(&self.seq);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn without_history_the_floor_follows_each_flush() {
        let r = Arc::new(SnapshotRegistry::new(10, Duration::ZERO));
        assert!(r.pin_readable(9, 20).is_err());
        let pin = r.pin_readable(12, 20).expect("above the floor");
        let got = r.readers(1000, 20);
        assert_eq!(
            got,
            Readers {
                live: vec![12],
                floor: 20
            }
        );
        drop(pin);
        assert!(matches!(
            r.pin_readable(15, 25),
            Err(Error::SeqOutOfRange {
                seq: 15,
                oldest: 20,
                newest: 25
            })
        ));
        assert!(r.pin_readable(26, 25).is_err(), "not written yet");
    }

    #[test]
    fn history_keeps_the_seqs_of_the_window_readable() {
        let r = Arc::new(SnapshotRegistry::new(0, Duration::from_secs(60)));
        assert_eq!(r.readers(1_000, 100).floor, 0);
        assert_eq!(r.readers(30_000, 200).floor, 0);
        // 61 s: the sample of 1 s is out of the window, 30 s is not.
        assert_eq!(r.readers(61_000, 300).floor, 100);
        assert_eq!(r.readers(95_000, 400).floor, 200);
        assert!(r.pin_readable(150, 400).is_err());
        assert!(r.pin_readable(200, 400).is_ok());
    }
}
