//! Firn's compaction policy.
//!
//! TODO numbers

#![warn(missing_docs)]

mod config;
mod layout;
mod plan;
mod policy;
pub mod simulate;

#[cfg(test)]
mod tests;

pub use crate::config::{
    CompactionConfig, ConfigError, Policy, DEFAULT_L0_TRIGGER, DEFAULT_LEVEL_BASE_BYTES,
    DEFAULT_MAX_RUNS, DEFAULT_SIZE_RATIO, DEFAULT_TARGET_CHUNK_SIZE,
};
pub use crate::plan::{plan, plan_alongside, plan_full, CompactionPlan};
