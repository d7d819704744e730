//! The process's resident memory: peak (`VmHWM`) and current (`VmRSS`)
//! RSS from `/proc/self/status`. Linux only; elsewhere every figure is
//! `None` and the report says "n/a".
//!
//! Before each workload the bench resets the peak (writing `5` to
//! `/proc/self/clear_refs`, Linux 4.0+), so the peak reported after it is
//! the largest RSS during that workload. When the reset fails, the peak is
//! the process's since it started, and the report says so.

use serde::Serialize;

use crate::units::bytes;

/// Resident memory after a workload.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MemoryStats {
    /// Peak resident set size (`VmHWM`), in bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Resident set size when the workload ended (`VmRSS`), in bytes.
    pub rss_bytes: Option<u64>,
    /// What the peak covers: `"workload"` (reset at its start) or
    /// `"process"` (since the process started).
    pub peak_since: &'static str,
}

impl MemoryStats {
    /// The figures now; `peak_reset` tells whether the peak was reset at
    /// the workload's start.
    pub fn now(peak_reset: bool) -> MemoryStats {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        MemoryStats {
            peak_rss_bytes: status_kib(&status, "VmHWM:").map(|k| k * 1024),
            rss_bytes: status_kib(&status, "VmRSS:").map(|k| k * 1024),
            peak_since: if peak_reset { "workload" } else { "process" },
        }
    }

    /// The `memory:` detail line.
    pub fn line(&self) -> String {
        match (self.peak_rss_bytes, self.rss_bytes) {
            (Some(peak), Some(rss)) => {
                let since = match self.peak_since {
                    "workload" => "during the workload",
                    _ => "since the process started",
                };
                format!(
                    "memory: peak RSS {} {since}, RSS {} at its end",
                    bytes(peak),
                    bytes(rss)
                )
            }
            _ => "memory: n/a (needs Linux /proc/self/status)".to_string(),
        }
    }
}

/// Resets the process's peak RSS to its current RSS; false when the system
/// does not support it.
pub fn reset_peak() -> bool {
    cfg!(target_os = "linux") && std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The value of a `Name:   1234 kB` line of `/proc/self/status`, in KiB.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        let status = "Name:\tx\nVmHWM:\t   51200 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(51200));
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        let m = MemoryStats {
            peak_rss_bytes: Some(50 << 20),
            rss_bytes: Some(1 << 20),
            peak_since: "workload",
        };
        assert_eq!(
            m.line(),
            "memory: peak RSS 50.0MiB during the workload, RSS 1.0MiB at its end"
        );
        assert!(MemoryStats::default().line().contains("n/a"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let m = MemoryStats::now(reset_peak());
        let (peak, rss) = (m.peak_rss_bytes.unwrap(), m.rss_bytes.unwrap());
        assert!(rss > 0 && peak > 0);
    }
}
