//! [`CompactionConfig`] and [`Policy`]: the knobs of the planner.

/// Which shape the planner keeps the sorted runs in.
///
/// Both policies share the level-0 trigger and the [`CompactionConfig::max_runs`] bound; they
/// differ in which runs they merge. See the crate documentation for the write-amplification
/// figures behind the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Size-tiered: runs of similar size (within a factor `√size_ratio` of their neighbour) are
    /// merged once `size_ratio` of them are adjacent, so each byte is rewritten about once per
    /// tier, `log_size_ratio(data / flush)` times in all. Low write amplification, a few runs
    /// per tier. The default.
    #[default]
    Tiered,
    /// Leveled (whole-run): each run is a level with room for `level_base_bytes ×
    /// size_ratio^(n-1)`; level 0 merges into the first level while it has room, and a run that
    /// outgrows its level merges into the next older one. Few runs, but a level is rewritten
    /// each time a smaller one merges into it.
    Leveled,
}

impl Policy {
    /// The policy's name as used in reasons and tools: `tiered` or `leveled`.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Tiered => "tiered",
            Policy::Leveled => "leveled",
        }
    }

    /// Parses a policy name (`tiered`, `leveled`; case-insensitive).
    pub fn from_name(name: &str) -> Option<Policy> {
        match name.to_ascii_lowercase().as_str() {
            "tiered" | "size-tiered" | "tier" => Some(Policy::Tiered),
            "leveled" | "levelled" | "level" => Some(Policy::Leveled),
            _ => None,
        }
    }
}

/// Default number of level-0 chunks that triggers a compaction.
pub const DEFAULT_L0_TRIGGER: usize = 4;
/// Default fanout: runs per tier before they merge (tiered), growth per level (leveled).
pub const DEFAULT_SIZE_RATIO: u64 = 4;
/// Default soft bound on sorted runs (level-0 chunks included) kept between flushes.
pub const DEFAULT_MAX_RUNS: usize = 12;
/// Default size at which compaction output is split into chunks: 64 MiB.
pub const DEFAULT_TARGET_CHUNK_SIZE: u64 = 64 << 20;
/// Default capacity of the first level under [`Policy::Leveled`]: 256 MiB (four 64 MiB
/// memtables, one level-0 trigger's worth).
pub const DEFAULT_LEVEL_BASE_BYTES: u64 = 256 << 20;

/// The planner's configuration. All fields are plain numbers; out-of-range values are clamped
/// by the planner (see each field) and reported by [`CompactionConfig::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactionConfig {
    /// The run shape to maintain.
    pub policy: Policy,
    /// Compact level 0 once it holds this many chunks (at least 2: moving a single chunk into
    /// a run gains nothing).
    pub l0_trigger: usize,
    /// Fanout (at least 2). Tiered: this many adjacent runs of similar size merge into one.
    /// Leveled: each level holds this many times the one before it.
    pub size_ratio: u64,
    /// Soft bound on the number of sorted runs, each level-0 chunk counting as one (at least 1).
    /// When the planner finds more, it merges the adjacent sources with the fewest bytes until
    /// it is back at the bound, so between flushes there are at most `max_runs`, and right after
    /// a flush at most `max_runs + 1`.
    pub max_runs: usize,
    /// Compaction output is split into chunks of about this many bytes.
    pub target_chunk_size: u64,
    /// [`Policy::Leveled`] only: capacity of the first level in bytes; level `n` holds
    /// `level_base_bytes × size_ratio^(n-1)`.
    pub level_base_bytes: u64,
    /// Whether [`crate::plan`] proposes compactions at all. With `false` it always returns
    /// `None` (for bulk loads); [`crate::plan_full`] still works.
    pub auto_compaction: bool,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        CompactionConfig {
            policy: Policy::default(),
            l0_trigger: DEFAULT_L0_TRIGGER,
            size_ratio: DEFAULT_SIZE_RATIO,
            max_runs: DEFAULT_MAX_RUNS,
            target_chunk_size: DEFAULT_TARGET_CHUNK_SIZE,
            level_base_bytes: DEFAULT_LEVEL_BASE_BYTES,
            auto_compaction: true,
        }
    }
}

/// A configuration value out of range (see [`CompactionConfig::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid compaction config: {field} = {value}: {reason}")]
pub struct ConfigError {
    /// The field's name.
    pub field: &'static str,
    /// The value given.
    pub value: u64,
    /// What is accepted.
    pub reason: &'static str,
}

impl CompactionConfig {
    /// The default configuration with another policy.
    pub fn with_policy(policy: Policy) -> CompactionConfig {
        CompactionConfig {
            policy,
            ..CompactionConfig::default()
        }
    }

    /// Checks every field against its range. The planner clamps instead of failing, so this is
    /// for front ends that want to reject a bad setting with a clear message.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, value: u64, reason| {
            Err(ConfigError {
                field,
                value,
                reason,
            })
        };
        if self.l0_trigger < 2 {
            return bad("l0_trigger", self.l0_trigger as u64, "must be at least 2");
        }
        if self.size_ratio < 2 {
            return bad("size_ratio", self.size_ratio, "must be at least 2");
        }
        if self.max_runs < 1 {
            return bad("max_runs", 0, "must be at least 1");
        }
        if self.target_chunk_size == 0 {
            return bad("target_chunk_size", 0, "must be at least 1 byte");
        }
        if self.level_base_bytes == 0 {
            return bad("level_base_bytes", 0, "must be at least 1 byte");
        }
        Ok(())
    }

    /// `l0_trigger`, clamped to at least 2.
    pub(crate) fn trigger(&self) -> usize {
        self.l0_trigger.max(2)
    }

    /// `size_ratio`, clamped to at least 2.
    pub(crate) fn ratio(&self) -> u64 {
        self.size_ratio.max(2)
    }

    /// `max_runs`, clamped to at least 1.
    pub(crate) fn run_bound(&self) -> usize {
        self.max_runs.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_tiered() {
        let c = CompactionConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.policy, Policy::Tiered);
        assert_eq!(Policy::from_name("Leveled"), Some(Policy::Leveled));
        assert_eq!(
            Policy::from_name(Policy::Tiered.name()),
            Some(Policy::Tiered)
        );
        assert_eq!(Policy::from_name("universal"), None);
    }

    #[test]
    fn validate_names_the_field() {
        let c = CompactionConfig {
            size_ratio: 1,
            ..CompactionConfig::default()
        };
        let err = c.validate().unwrap_err();
        assert_eq!(err.field, "size_ratio");
        assert!(err.to_string().contains("size_ratio = 1"));
        assert_eq!(c.ratio(), 2);
    }
}
