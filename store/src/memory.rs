//! The process-wide registry behind `memory://NAME` stores.
//!
//! Every `memory://NAME` opened in one process shares one in-memory OpenDAL operator, so a
//! database can be closed and reopened (or opened twice) within a test and see the same objects.
//! `memory://` without a name is a fresh, private store each time.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use opendal::services::Memory;
use opendal::Operator;

static REGISTRY: OnceLock<Mutex<HashMap<String, Operator>>> = OnceLock::new();

/// Builds a new, empty in-memory operator.
pub(crate) fn new_operator() -> opendal::Result<Operator> {
    Operator::new(Memory::default())
}

/// The operator registered under `name`, created on first use. The empty name is never shared.
pub(crate) fn operator(name: &str) -> opendal::Result<Operator> {
    if name.is_empty() {
        return new_operator();
    }
    let registry = REGISTRY.get_or_init(|| Mutex::new(HashMap::new()));
    // A panic while holding the lock cannot leave the map half-updated, so a poisoned lock is
    // still safe to use.
    let mut map = registry
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(op) = map.get(name) {
        return Ok(op.clone());
    }
    let op = new_operator()?;
    map.insert(name.to_string(), op.clone());
    Ok(op)
}
