//! The reference model (a `BTreeMap` oracle) and scan helpers.

use super::*;

/// Collects a scan into owned pairs.
pub async fn collect(mut it: DbIterator) -> firn::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    while let Some((k, v)) = it.next().await? {
        out.push((k.to_vec(), v.to_vec()));
    }
    Ok(out)
}

/// True when `key` lies within `(lo, hi)`.
pub fn in_bounds(key: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    let above = match lo {
        Bound::Included(l) => key >= l.as_slice(),
        Bound::Excluded(l) => key > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match hi {
        Bound::Included(h) => key <= h.as_slice(),
        Bound::Excluded(h) => key < h.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

/// The reference model: what the database must contain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Oracle {
    /// Current contents (expired values included: see
    /// [`Oracle::seen_between`]).
    pub map: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Keys whose current value expires: the window of wall-clock
    /// milliseconds its deadline lies in (the commit time is known only to
    /// lie between the moments before and after the write call).
    pub expiry: BTreeMap<Vec<u8>, (u64, u64)>,
}

impl Oracle {
    /// An empty model.
    pub fn new() -> Oracle {
        Oracle::default()
    }

    /// Records a put.
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.map.insert(key.to_vec(), value.to_vec());
        self.expiry.remove(key);
    }

    /// Records a delete.
    pub fn delete(&mut self, key: &[u8]) {
        self.map.remove(key);
        self.expiry.remove(key);
    }

    /// Records a range delete of `start..end`.
    pub fn delete_range(&mut self, start: &[u8], end: &[u8]) {
        let doomed: Vec<Vec<u8>> = self
            .map
            .range(start.to_vec()..end.to_vec())
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            self.delete(&key);
        }
    }

    /// Records a whole batch, ops in order (it must hold no expiring put:
    /// those need [`Oracle::apply_at`]).
    pub fn apply(&mut self, batch: &WriteBatch) {
        self.apply_at(batch, None);
    }

    /// Records a whole batch committed between `commit.0` and `commit.1`
    /// (wall-clock ms, the moments before and after the write call).
    pub fn apply_at(&mut self, batch: &WriteBatch, commit: Option<(u64, u64)>) {
        for op in batch.ops() {
            match op {
                BatchOp::Put { key, value } => self.put(key, value),
                BatchOp::Delete { key } => self.delete(key),
                BatchOp::DeleteRange { start, end } => self.delete_range(start, end),
                BatchOp::PutExpiring { key, value, ttl } => {
                    let (from, to) = commit.expect("an expiring put needs its commit window");
                    let ttl = ttl.as_millis() as u64;
                    self.map.insert(key.to_vec(), value.to_vec());
                    self.expiry.insert(key.to_vec(), (from + ttl, to + ttl));
                }
            }
        }
    }

    /// What a read made between `from_ms` and `to_ms` sees: this oracle
    /// without the values certainly expired by then and without the
    /// values whose deadline falls inside the read (a read may see them or
    /// not), and those undecided keys apart.
    pub fn seen_between(&self, from_ms: u64, to_ms: u64) -> (Oracle, BTreeSet<Vec<u8>>) {
        let mut seen = Oracle {
            map: self.map.clone(),
            expiry: BTreeMap::new(),
        };
        let mut undecided = BTreeSet::new();
        for (key, &(earliest, latest)) in &self.expiry {
            if latest <= from_ms {
                seen.map.remove(key);
            } else if earliest <= to_ms {
                seen.map.remove(key);
                undecided.insert(key.clone());
            }
        }
        (seen, undecided)
    }

    /// Keys whose value a read made from `from_ms` on certainly finds
    /// expired.
    pub fn expired_by(&self, from_ms: u64) -> usize {
        self.expiry
            .values()
            .filter(|(_, latest)| *latest <= from_ms)
            .count()
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.map.get(key).map(Vec::as_slice)
    }

    /// Pairs within `(lo, hi)` in key order (empty for inverted ranges).
    pub fn range(&self, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.map
            .iter()
            .filter(|(k, _)| in_bounds(k, lo, hi))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Pairs whose key starts with `prefix`, in key order.
    pub fn prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.map
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no key is live.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A short printable form of a key or value for failure messages.
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 48;
    let mut s: String = bytes
        .iter()
        .take(MAX)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    if bytes.len() > MAX {
        s.push_str(&format!("...({} bytes)", bytes.len()));
    }
    format!("\"{s}\"")
}

/// Describes the first difference between two scan results, if any.
pub fn diff_scans(got: &[(Vec<u8>, Vec<u8>)], want: &[(Vec<u8>, Vec<u8>)]) -> Option<String> {
    for (i, pair) in got.iter().zip(want.iter()).enumerate() {
        let ((gk, gv), (wk, wv)) = pair;
        if gk != wk {
            return Some(format!(
                "entry {i}: got key {}, want key {}",
                show(gk),
                show(wk)
            ));
        }
        if gv != wv {
            return Some(format!(
                "entry {i} (key {}): got value {}, want {}",
                show(gk),
                show(gv),
                show(wv)
            ));
        }
    }
    if got.len() != want.len() {
        let extra = if got.len() > want.len() {
            format!("first extra key {}", show(&got[want.len()].0))
        } else {
            format!("first missing key {}", show(&want[got.len()].0))
        };
        return Some(format!(
            "got {} entries, want {} ({extra})",
            got.len(),
            want.len()
        ));
    }
    None
}
