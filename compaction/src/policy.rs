//! The policies: which window of the [`Layout`] to merge next, if any.
//!
//! Each function returns a window that [`Layout::is_allowed`] accepts and that holds at least
//! two sources (merging fewer gains nothing), with a reason for logs.

use std::ops::Range;

use crate::config::{CompactionConfig, Policy};
use crate::layout::{as_count, similar, Layout};

/// A window to merge and why.
pub(crate) type Choice = (Range<usize>, String);

/// The next compaction for `config.policy`, or the run-count bound's, or none.
pub(crate) fn choose(layout: &Layout<'_>, config: &CompactionConfig) -> Option<Choice> {
    let chosen = match config.policy {
        Policy::Tiered => tiered(layout, config),
        Policy::Leveled => leveled(layout, config),
    };
    chosen.or_else(|| run_bound(layout, config))
}

/// Size-tiered: level 0 at its trigger goes into a new run; `size_ratio` adjacent runs of
/// similar size merge into one of the next tier. Either merge takes along the runs it would
/// complete a tier with ([`cascade`]), so a cascade of tier merges is done in one pass.
fn tiered(layout: &Layout<'_>, config: &CompactionConfig) -> Option<Choice> {
    let ratio = config.ratio();
    let n_l0 = layout.n_l0;
    if n_l0 >= config.trigger() && layout.l0_free() {
        let w = cascade(layout, 0..n_l0, ratio);
        let runs = w.end - n_l0;
        let reason = if runs == 0 {
            format!("tiered: {n_l0} level-0 chunks reached the trigger")
        } else {
            format!("tiered: {n_l0} level-0 chunks reached the trigger; taking {runs} runs along to complete their tiers")
        };
        return Some((w, reason));
    }
    // Maximal chains of adjacent, free, similar runs, newest first.
    let len = layout.len();
    let mut i = n_l0;
    while i < len {
        if layout.is_busy(i) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < len && !layout.is_busy(j) && similar(layout.size(j - 1), layout.size(j), ratio) {
            j += 1;
        }
        if j - i >= as_count(ratio) {
            let w = cascade(layout, i..j, ratio);
            let reason = format!(
                "tiered: {} adjacent runs of similar size (about {} bytes each)",
                j - i,
                layout.total(&(i..j)) / (j - i) as u64
            );
            let end = w.end;
            return Some((w, with_cascade(reason, j, end)));
        }
        i = j;
    }
    None
}

/// Extends window `w` over the runs behind it while its output would complete their tier: the
/// output and the runs right behind it form a chain of similar sizes at least `ratio` long. A
/// window that takes only some level-0 chunks is never extended (that would be illegal).
fn cascade(layout: &Layout<'_>, mut w: Range<usize>, ratio: u64) -> Range<usize> {
    loop {
        let mut prev = layout.total(&w);
        let mut k = w.end;
        while k < layout.len() && !layout.is_busy(k) && similar(prev, layout.size(k), ratio) {
            prev = layout.size(k);
            k += 1;
        }
        let chain = k - w.end + 1;
        if k == w.end || chain < as_count(ratio) || !layout.is_allowed(&(w.start..k)) {
            return w;
        }
        w.end = k;
    }
}

/// Appends a note on runs a cascade took along to `reason`.
fn with_cascade(reason: String, base_end: usize, end: usize) -> String {
    if end > base_end {
        format!(
            "{reason}; cascading into the {} older runs its output reaches",
            end - base_end
        )
    } else {
        reason
    }
}

/// The level (1-based) a run of `size` bytes belongs to: the first whose capacity
/// (`base × ratio^(level-1)`) holds it.
fn level_of(size: u64, base: u64, ratio: u64) -> u32 {
    let mut capacity = base.max(1);
    let mut level = 1;
    while size > capacity {
        capacity = capacity.saturating_mul(ratio);
        level += 1;
    }
    level
}

/// Leveled with whole runs as levels: level 0 at its trigger merges into the newest run while
/// that run still fits the first level, else becomes a new first level; a run whose size puts
/// it at or below the level of the run behind it merges into that run. Either merge takes
/// along the older runs its output would land on ([`sink`]), so it settles in one pass.
fn leveled(layout: &Layout<'_>, config: &CompactionConfig) -> Option<Choice> {
    let ratio = config.ratio();
    let base = config.level_base_bytes.max(1);
    let level = |size| level_of(size, base, ratio);
    let n_l0 = layout.n_l0;
    let len = layout.len();
    if n_l0 >= config.trigger() && layout.l0_free() {
        let into_first = n_l0 < len && !layout.is_busy(n_l0) && level(layout.size(n_l0)) == 1;
        let w = if into_first { 0..n_l0 + 1 } else { 0..n_l0 };
        let target = if into_first {
            "merging into level 1"
        } else {
            "starting a new level 1"
        };
        let reason = format!("leveled: {n_l0} level-0 chunks reached the trigger; {target}");
        let end = w.end;
        let w = sink(layout, w, base, ratio);
        return Some((w.clone(), with_cascade(reason, end, w.end)));
    }
    for i in n_l0..len.saturating_sub(1) {
        if layout.is_busy(i) || layout.is_busy(i + 1) {
            continue;
        }
        let (newer, older) = (layout.size(i), layout.size(i + 1));
        if level(newer) >= level(older) {
            let reason = format!(
                "leveled: a run of {newer} bytes reached level {} and merges into the run of {older} bytes behind it",
                level(newer)
            );
            let w = sink(layout, i..i + 2, base, ratio);
            return Some((w.clone(), with_cascade(reason, i + 2, w.end)));
        }
    }
    None
}

/// Extends window `w` over the runs behind it while its output would reach their level.
fn sink(layout: &Layout<'_>, mut w: Range<usize>, base: u64, ratio: u64) -> Range<usize> {
    while w.end < layout.len()
        && !layout.is_busy(w.end)
        && level_of(layout.total(&w), base, ratio) >= level_of(layout.size(w.end), base, ratio)
        && layout.is_allowed(&(w.start..w.end + 1))
    {
        w.end += 1;
    }
    w
}

/// The soft bound: with more than `max_runs` sources (counting what running compactions will
/// leave), merge adjacent sources, choosing the allowed window with the fewest bytes written
/// per source removed (`bytes / (width - 1)`; ties go to the narrower, then the newer window).
/// Windows are at least as wide as needed to get back to the bound, or up to `size_ratio` wide
/// when that is cheaper per source; narrower windows are tried when running compactions block
/// every such one. Under [`Policy::Tiered`] the window then cascades like any tier merge.
fn run_bound(layout: &Layout<'_>, config: &CompactionConfig) -> Option<Choice> {
    let count = layout.effective_count();
    let bound = config.run_bound();
    if count <= bound {
        return None;
    }
    let needed = (count - bound + 1).min(layout.len());
    let widest = needed.max(as_count(config.ratio())).min(layout.len());
    let best = |narrowest: usize| {
        (narrowest..=widest)
            .flat_map(|width| (0..=layout.len() - width).map(move |s| s..s + width))
            .filter(|w| layout.is_allowed(w))
            .min_by_key(|w| {
                let per_source = u128::from(layout.total(w)) * 1_000_000 / (w.len() as u128 - 1);
                (per_source, w.len(), w.start)
            })
    };
    let w = (2..=needed).rev().find_map(best)?;
    let reason = format!(
        "{count} sorted runs exceed max_runs {bound}: merging the {} adjacent ones cheapest per run removed",
        w.len()
    );
    let end = w.end;
    let w = match config.policy {
        Policy::Tiered => cascade(layout, w, config.ratio()),
        Policy::Leveled => w,
    };
    let reason = with_cascade(reason, end, w.end);
    Some((w, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_grow_by_the_ratio() {
        assert_eq!(level_of(0, 100, 4), 1);
        assert_eq!(level_of(100, 100, 4), 1);
        assert_eq!(level_of(101, 100, 4), 2);
        assert_eq!(level_of(400, 100, 4), 2);
        assert_eq!(level_of(401, 100, 4), 3);
        assert!(level_of(u64::MAX, 1, 2) <= 65);
    }
}
