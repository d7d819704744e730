//! What the benchmark ran on: cores, CPU, memory and the disk behind the
//! database folder (read from `/proc` and `/sys` on Linux; "unknown"
//! elsewhere).

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The machine, as the report header shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Cores available to this process.
    pub cores: usize,
    /// CPU model name.
    pub cpu: String,
    /// Total memory in bytes (0 if unknown).
    pub memory_bytes: u64,
}

/// The file system and block device holding a path.
#[derive(Clone, Debug, Serialize)]
pub struct Disk {
    /// The path asked about.
    pub path: PathBuf,
    /// Mount point holding it.
    pub mount: String,
    /// Device (e.g. `/dev/vda`, or `tmpfs`).
    pub device: String,
    /// File system type (e.g. `ext4`, `tmpfs`).
    pub fstype: String,
    /// The kernel's rotational flag for the device, if it has one
    /// (virtual disks often report 1 whatever backs them).
    pub rotational: Option<bool>,
}

impl Machine {
    /// Reads the machine description.
    pub fn detect() -> Machine {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".to_string());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_bytes = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        Machine {
            cores,
            cpu,
            memory_bytes,
        }
    }
}

impl Disk {
    /// Describes the disk behind `path` (the nearest existing ancestor is used).
    pub fn for_path(path: &Path) -> Disk {
        let mut probe = path.to_path_buf();
        while !probe.exists() {
            if !probe.pop() {
                break;
            }
        }
        let canonical = std::fs::canonicalize(&probe).unwrap_or(probe);
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let best = mounts
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let device = fields.next()?;
                let mount = fields.next()?.replace("\\040", " ");
                let fstype = fields.next()?;
                canonical
                    .starts_with(&mount)
                    .then(|| (mount, device.to_string(), fstype.to_string()))
            })
            .max_by_key(|(mount, _, _)| mount.len());
        let (mount, device, fstype) =
            best.unwrap_or_else(|| ("?".into(), "unknown".into(), "unknown".into()));
        let rotational = rotational_flag(&device);
        Disk {
            path: path.to_path_buf(),
            mount,
            device,
            fstype,
            rotational,
        }
    }

    /// One-line description.
    pub fn describe(&self) -> String {
        let kind = match self.rotational {
            Some(true) => ", rotational=1",
            Some(false) => ", rotational=0",
            None => "",
        };
        format!("{} ({} on {}{kind})", self.mount, self.fstype, self.device)
    }

    /// True for memory-backed file systems, where fdatasync costs nothing.
    pub fn is_memory(&self) -> bool {
        matches!(self.fstype.as_str(), "tmpfs" | "ramfs")
    }
}

/// `/sys/class/block/<dev>/queue/rotational` (for a partition, its disk's).
fn rotational_flag(device: &str) -> Option<bool> {
    let name = device.strip_prefix("/dev/")?;
    let name = name.rsplit('/').next()?;
    let mut candidates = vec![format!("/sys/class/block/{name}/queue/rotational")];
    candidates.push(format!("/sys/class/block/{name}/../queue/rotational"));
    candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|v| v.trim() == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_something() {
        let m = Machine::detect();
        assert!(m.cores >= 1);
        let d = Disk::for_path(Path::new("/definitely/not/here"));
        assert!(!d.describe().is_empty());
    }
}
