//! Time, ids, randomness and blocking work: the one module of Firn that
//! reads the wall clock, makes UUIDs, draws random numbers, sleeps and hands
//! work to tokio's blocking pool. Everything else calls these functions
//! (`clippy.toml` bans the standard ones elsewhere), so a deterministic
//! simulation can replace them: [`install`] a [`Source`] with a virtual wall
//! clock and seeded randomness, and run on a current-thread tokio runtime
//! with paused time, where [`sleep`] is virtual too and blocking work runs
//! inline (a thread pool would make the order of events depend on the
//! machine).

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;

/// Where time and randomness come from while installed (a simulation's).
pub trait Source: Send + Sync {
    /// Wall-clock milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// A uniformly random `u64`.
    fn random_u64(&self) -> u64;
}

static SOURCE: RwLock<Option<Arc<dyn Source>>> = RwLock::new(None);

fn installed() -> Option<Arc<dyn Source>> {
    SOURCE
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// Makes `source` the process's clock and randomness until the returned
/// guard is dropped. For simulation tests, which run in a process of their
/// own (an integration test binary): every thread of the process sees it.
pub fn install(source: Arc<dyn Source>) -> Installed {
    *SOURCE.write().unwrap_or_else(|p| p.into_inner()) = Some(source);
    Installed(())
}

/// Uninstalls the [`Source`] when dropped.
pub struct Installed(());

impl Drop for Installed {
    fn drop(&mut self) {
        *SOURCE.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The wall clock.
#[allow(clippy::disallowed_methods, reason = "the one place that reads it")]
pub fn now() -> SystemTime {
    match installed() {
        Some(s) => UNIX_EPOCH + Duration::from_millis(s.now_ms()),
        None => SystemTime::now(),
    }
}

/// The wall clock in milliseconds since the Unix epoch (0 before it).
pub fn now_ms() -> u64 {
    now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A uniformly random `u64`.
#[allow(
    clippy::disallowed_methods,
    reason = "the one place that draws randomness"
)]
pub fn random_u64() -> u64 {
    match installed() {
        Some(s) => s.random_u64(),
        None => rand::rng().random(),
    }
}

/// A random fraction in `[0, max)` (for jittered backoff).
pub fn jitter(max: f64) -> f64 {
    // 53 random bits make a uniform double in [0, 1).
    let unit = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
    unit * max
}

/// A random (version 4) UUID.
pub fn uuid() -> uuid::Uuid {
    let (hi, lo) = (random_u64(), random_u64());
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_le_bytes());
    bytes[8..].copy_from_slice(&lo.to_le_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Runs blocking work `f` on tokio's blocking pool and waits for it; while a
/// [`Source`] is installed, runs it inline instead. `Err` says why the pool
/// lost the work (it panicked).
#[allow(
    clippy::disallowed_methods,
    reason = "the one place that spawns blocking work"
)]
pub async fn run_blocking<F, R>(f: F) -> Result<R, String>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    if installed().is_some() {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())
}

/// Starts blocking work `f` on tokio's blocking pool without waiting for it
/// (inline while a [`Source`] is installed).
#[allow(
    clippy::disallowed_methods,
    reason = "the one place that spawns blocking work"
)]
pub fn spawn_blocking_detached<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    if installed().is_some() {
        f();
    } else {
        drop(tokio::task::spawn_blocking(f));
    }
}

/// Sleeps for `d` on the tokio runtime (virtual time when it is paused).
#[allow(clippy::disallowed_methods, reason = "the one place that sleeps")]
pub async fn sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Source for Fixed {
        fn now_ms(&self) -> u64 {
            1_000
        }
        fn random_u64(&self) -> u64 {
            42
        }
    }

    #[test]
    fn an_installed_source_replaces_clock_and_randomness() {
        let real = now_ms();
        assert!(real > 1_600_000_000_000, "{real}");
        {
            let _guard = install(Arc::new(Fixed));
            assert_eq!(now_ms(), 1_000);
            assert_eq!(random_u64(), 42);
            assert_eq!(uuid(), uuid(), "ids come from the source");
            assert!(jitter(0.25) < 0.25);
        }
        assert!(now_ms() >= real);
        assert_ne!(uuid(), uuid());
    }
}
